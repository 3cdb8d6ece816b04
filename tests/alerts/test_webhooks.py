"""The webhook URL policy: schemes, address classes after DNS resolution (the outside world's DNS is
replaced by a monkeypatched getaddrinfo for made-up names; `localhost` resolves for real), the
operator's allowed hosts, and a POST that connects to the address that was checked."""

from __future__ import annotations

import socket

import pytest

from apps.alerts import webhooks
from apps.alerts.webhooks import WebhookRefused, address_class, url_check, webhook_post


def fake_dns(monkeypatch, answers: dict[str, list[str]]) -> list[str]:  # noqa: ANN001
    """getaddrinfo answering `answers` for made-up names (and failing for others); returns the names
    looked up, in order."""
    asked = []

    def getaddrinfo(host, port, *args, **kwargs):  # noqa: ANN001, ANN002, ANN003, ANN202
        asked.append(host)
        if host not in answers:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return [(socket.AF_INET6 if ":" in a else socket.AF_INET, socket.SOCK_STREAM, 6, "", (a, port))
                for a in answers[host]]

    monkeypatch.setattr(webhooks.socket, "getaddrinfo", getaddrinfo)
    return asked


@pytest.mark.parametrize("address, kind", [
    ("127.0.0.1", "loopback"), ("127.8.9.10", "loopback"), ("::1", "loopback"),
    ("10.1.2.3", "private"), ("172.16.0.9", "private"), ("192.168.1.1", "private"), ("fd00::1", "private"),
    ("169.254.169.254", "link-local"), ("fe80::1", "link-local"),
    ("224.0.0.251", "multicast"), ("ff02::1", "multicast"),
    ("0.0.0.0", "unspecified"), ("::", "unspecified"),
    ("240.0.0.1", "reserved"),
    ("100.64.0.1", "non-public"),  # carrier-grade NAT: neither private nor global
    ("::ffff:127.0.0.1", "loopback"), ("::ffff:10.0.0.1", "private"),  # IPv4-mapped
    ("93.184.216.34", None), ("2606:2800:220:1:248:1893:25c8:1946", None),
])
def test_address_classes(address, kind):
    assert address_class(address) == kind


@pytest.mark.parametrize("url, reason", [
    ("ftp://hooks.example.com/x", "scheme must be https"),
    ("http://hooks.example.com/x", "scheme must be https (http only to the hosts an operator allows)"),
    ("https:///path", "url has no host"),
    ("https://user:pw@hooks.example.com/x", "url must not hold a user name or password"),
    ("https://127.0.0.1/x", "resolves to a loopback address 127.0.0.1"),
    ("https://[::1]:8443/x", "resolves to a loopback address ::1"),
    ("https://169.254.169.254/latest/meta-data", "resolves to a link-local address 169.254.169.254"),
    ("https://10.0.0.7/x", "resolves to a private address 10.0.0.7"),
    ("https://localhost/x", "resolves to a loopback address"),  # real resolution
    ("https://gone.example.test/x", "host not found"),
    ("https://rebind.example.test/x", "resolves to a private address 10.0.0.1"),  # ANY address counts
    ("https://mapped.example.test/x", "resolves to a loopback address ::ffff:127.0.0.1"),
    ("https://hooks.example.com:99999/x", "url is not a valid URL"),
    ("", "url must be a non-empty string"),
])
def test_refused_urls_name_why(monkeypatch, settings, url, reason):
    settings.ALERTS_WEBHOOK_ALLOWED_HOSTS = []
    if "example.test" in url:
        fake_dns(monkeypatch, {"rebind.example.test": ["93.184.216.34", "10.0.0.1"],
                               "mapped.example.test": ["::ffff:127.0.0.1"]})
    with pytest.raises(WebhookRefused) as refused:
        url_check(url)
    assert refused.value.reason.startswith(reason)


def test_a_public_https_url_is_accepted_with_its_checked_address(monkeypatch, settings):
    settings.ALERTS_WEBHOOK_ALLOWED_HOSTS = []
    fake_dns(monkeypatch, {"hooks.example.test": ["93.184.216.34"]})
    target = url_check("https://Hooks.Example.test/in?token=abc")
    assert (target.scheme, target.host, target.port, target.path, target.address) == (
        "https", "hooks.example.test", 443, "/in?token=abc", "93.184.216.34")


def test_the_operators_hosts_may_use_http_and_private_addresses(monkeypatch, settings):
    settings.ALERTS_WEBHOOK_ALLOWED_HOSTS = ["localhost", "hooks.internal.test"]
    fake_dns(monkeypatch, {"hooks.internal.test": ["10.2.3.4"], "other.internal.test": ["10.2.3.5"]})
    assert url_check("http://hooks.internal.test:8080/x").address == "10.2.3.4"
    assert url_check("https://hooks.internal.test/x").address == "10.2.3.4"
    with pytest.raises(WebhookRefused, match="private address 10.2.3.5"):
        url_check("https://other.internal.test/x")  # allowing one host allows no other


def test_the_post_connects_to_the_checked_address_with_the_host_name(monkeypatch, settings, receiver):
    """The name is looked up once, for the check; the connection goes to that address (a DNS answer
    changing between check and connect cannot redirect it), and the Host header keeps the name."""
    settings.ALERTS_WEBHOOK_ALLOWED_HOSTS = ["hooks.example.test"]
    asked = fake_dns(monkeypatch, {"hooks.example.test": ["127.0.0.1"]})
    answer = webhook_post(url=f"http://hooks.example.test:{receiver.port}/in?x=1", body=b'{"a":1}',
                          headers={"Content-Type": "application/json"})
    assert answer.status == 200
    assert asked == ["hooks.example.test"]
    (request,) = receiver.requests
    assert request["headers"]["Host"] == f"hooks.example.test:{receiver.port}"
    assert (request["path"], request["body"]) == ("/in?x=1", b'{"a":1}')


def test_the_post_is_refused_when_the_name_now_resolves_elsewhere(monkeypatch, settings, receiver):
    """Checked again at delivery: a name that resolved to a public address when the rule was saved
    and to a loopback one now is refused, and nothing is sent."""
    settings.ALERTS_WEBHOOK_ALLOWED_HOSTS = []
    fake_dns(monkeypatch, {"hooks.example.test": ["93.184.216.34"]})
    url = f"https://hooks.example.test:{receiver.port}/in"
    assert url_check(url).address == "93.184.216.34"
    fake_dns(monkeypatch, {"hooks.example.test": ["127.0.0.1"]})
    with pytest.raises(WebhookRefused, match="loopback address 127.0.0.1"):
        webhook_post(url=url, body=b"{}", headers={})
    assert receiver.requests == []


def test_the_post_gives_up_after_the_time_limit(settings, receiver):
    settings.ALERTS_WEBHOOK_TIMEOUT_SECONDS = 1
    receiver.hold.clear()  # the receiver reads the request and never answers
    with pytest.raises(OSError):
        webhook_post(url=receiver.url, body=b"{}", headers={})


def test_redirects_are_not_followed(settings, receiver):
    receiver.answers = [302]
    answer = webhook_post(url=receiver.url, body=b"{}", headers={})
    assert answer.status == 302 and len(receiver.requests) == 1


def _certificate_authority(tmp_path, name: str) -> tuple[str, str, str]:  # noqa: ANN001
    """A throwaway CA and a server certificate for `name` signed by it: (ca.pem, cert.pem, key.pem)."""
    from datetime import datetime, timedelta, timezone

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    now = datetime.now(timezone.utc)
    ca_key, key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "alerts test CA")])
    ca = (x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name).public_key(ca_key.public_key())
          .serial_number(x509.random_serial_number()).not_valid_before(now - timedelta(hours=1))
          .not_valid_after(now + timedelta(hours=1))
          .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
          .sign(ca_key, hashes.SHA256()))
    cert = (x509.CertificateBuilder().subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)]))
            .issuer_name(ca_name).public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - timedelta(hours=1)).not_valid_after(now + timedelta(hours=1))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName(name)]), critical=False)
            .sign(ca_key, hashes.SHA256()))
    paths = [str(tmp_path / f) for f in ("ca.pem", "cert.pem", "key.pem")]
    for path, data in zip(paths, [ca.public_bytes(serialization.Encoding.PEM),
                                  cert.public_bytes(serialization.Encoding.PEM),
                                  key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                                    serialization.NoEncryption())]):
        with open(path, "wb") as file:
            file.write(data)
    return paths[0], paths[1], paths[2]


@pytest.fixture
def tls_receiver(tmp_path, monkeypatch):  # noqa: ANN001, ANN201
    """A real HTTPS server for hooks.example.test on loopback; the test's own CA is trusted in place
    of the system's store (the outside world). Remembers the SNI names it was asked for."""
    import ssl
    import threading
    from http.server import ThreadingHTTPServer

    from tests.alerts.conftest import Receiver

    ca, cert, key = _certificate_authority(tmp_path, "hooks.example.test")
    handle = Receiver()
    handle.sni = []
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    context.sni_callback = lambda sock, name, ctx: handle.sni.append(name)
    server = ThreadingHTTPServer(("127.0.0.1", 0), handle.handler())
    server.socket = context.wrap_socket(server.socket, server_side=True)
    handle.port = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    default_context = ssl.create_default_context
    monkeypatch.setattr(webhooks.ssl, "create_default_context", lambda *a, **k: default_context(cafile=ca))
    yield handle
    server.shutdown()
    server.server_close()
    thread.join(5)


def test_https_verifies_the_certificate_and_sends_sni_for_the_host_name(monkeypatch, settings, tls_receiver):
    settings.ALERTS_WEBHOOK_ALLOWED_HOSTS = ["hooks.example.test"]  # it resolves to loopback here
    fake_dns(monkeypatch, {"hooks.example.test": ["127.0.0.1"], "other.example.test": ["127.0.0.1"]})
    body = b'{"kind":"breach"}'
    answer = webhook_post(url=f"https://hooks.example.test:{tls_receiver.port}/in", body=body, headers={})
    assert answer.status == 200 and tls_receiver.sni == ["hooks.example.test"]
    (request,) = tls_receiver.requests
    assert request["headers"]["Host"] == f"hooks.example.test:{tls_receiver.port}" and request["body"] == body
    # The same server under a name its certificate does not hold: refused by TLS, nothing delivered.
    settings.ALERTS_WEBHOOK_ALLOWED_HOSTS = ["other.example.test"]
    with pytest.raises(OSError):
        webhook_post(url=f"https://other.example.test:{tls_receiver.port}/in", body=body, headers={})
    assert len(tls_receiver.requests) == 1
