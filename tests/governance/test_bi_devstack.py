"""The local stack asks every role but the application's for a password (BI logins are tested
with real authentication): a cluster made before keeps working, its pg_hba.conf rewritten."""

from __future__ import annotations

from analytics_project import devstack


def test_an_existing_trusting_pg_hba_is_rewritten_once(tmp_path):
    hba = tmp_path / "pg_hba.conf"
    hba.write_text("host all all 127.0.0.1/32 trust\n")
    assert devstack.write_pg_hba(tmp_path) is True
    lines = [line.split() for line in hba.read_text().splitlines() if line and not line.startswith("#")]
    assert lines[0] == ["host", "all", "postgres", "127.0.0.1/32", "trust"]
    assert ["host", "all", "all", "127.0.0.1/32", "scram-sha-256"] in lines
    assert not [line for line in lines if line[-1] == "trust" and line[2] != "postgres"]
    assert devstack.write_pg_hba(tmp_path) is False  # unchanged: no reload needed


def test_the_running_server_refuses_other_roles_without_their_password(db):  # noqa: ANN001
    import psycopg
    import pytest
    from django.db import connection

    params = connection.get_connection_params()
    with pytest.raises(psycopg.OperationalError, match="password authentication failed"):
        psycopg.connect(host=params["host"], port=params["port"], dbname=params["dbname"],
                        user="bi_nobody_at_all", password="x", connect_timeout=10)
