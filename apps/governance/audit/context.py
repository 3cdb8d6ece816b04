"""Who is acting, and from where: a context variable the entry points set.

- API and console requests: AuditContextMiddleware (apps.governance.middleware) sets a resolver
  over the request, read only when something is recorded (the console's user may log in during
  the request, and most requests record nothing).
- Management commands: `command:<name>`, set around BaseCommand.execute (command_actor_install).
- Celery tasks: `system`, set around each task (task_prerun / task_postrun).
Anything else (a shell's import, a test calling a service) is `unknown`.
"""

from __future__ import annotations

import ipaddress
from contextlib import contextmanager
from contextvars import ContextVar, Token
from dataclasses import dataclass
from typing import Any, Callable, Iterator

from django.conf import settings


@dataclass(frozen=True)
class Actor:
    name: str
    type: str  # AuditEntry.ActorType
    source_address: str | None = None


UNKNOWN = Actor("unknown", "unknown")
SYSTEM = Actor("system", "system")

_current: ContextVar[Actor | Callable[[], Actor] | None] = ContextVar("audit_actor", default=None)


def actor_current() -> Actor:
    value = _current.get()
    if value is None:
        return UNKNOWN
    return value() if callable(value) else value


def actor_set(value: Actor | Callable[[], Actor]) -> Token:
    return _current.set(value)


def actor_reset(token: Token) -> None:
    _current.reset(token)


@contextmanager
def acting_as(actor: Actor) -> Iterator[Actor]:
    token = actor_set(actor)
    try:
        yield actor
    finally:
        actor_reset(token)


def client_address(request: Any) -> str | None:
    """The client's address as the rest of the project reads it (django-axes' settings in
    settings/base.py): behind the TLS proxy (BEHIND_TLS_PROXY), the last address the proxy added
    to X-Forwarded-For; otherwise the peer's address. Anything that is not an IP address is None."""
    meta = request.META
    value = meta.get("REMOTE_ADDR", "")
    if settings.SECURE_PROXY_SSL_HEADER and meta.get("HTTP_X_FORWARDED_FOR"):
        value = meta["HTTP_X_FORWARDED_FOR"].split(",")[-1]
    try:
        return str(ipaddress.ip_address(value.strip()))
    except ValueError:
        return None


def actor_for_request(request: Any) -> Actor:
    """The request's caller: its API key's prefix, its console user's username (platform staff in
    the public console as `platform:<username>`), `platform` for the platform API's token."""
    source = client_address(request)
    api_key = getattr(request, "api_key", None)
    if api_key is not None:
        return Actor(api_key.prefix, "api_key", source)
    user = getattr(request, "user", None)
    if user is not None and not hasattr(user, "get_username"):
        # DRF's principal for the platform token (apps.core.api.PlatformPrincipal) replaced the user.
        return Actor("platform", "platform", source)
    if user is not None and user.is_authenticated:
        if getattr(request, "tenant", None) is None:
            return Actor(f"platform:{user.get_username()}", "platform", source)
        return Actor(user.get_username(), "user", source)
    if request.path_info.startswith("/platform/"):
        # The platform API authenticates in the view (DRF); a change only happens once it has.
        return Actor("platform", "platform", source)
    return Actor("anonymous", "unknown", source)


def command_actor_install() -> None:
    """Run every management command as `command:<name>` (an outer command's name wins, so
    `create_tenant` calling `migrate` stays `create_tenant`). Wraps BaseCommand.execute once:
    Django offers no signal around commands, and this covers `manage.py` and call_command alike."""
    from django.core.management.base import BaseCommand

    if getattr(BaseCommand.execute, "_audited", False):
        return
    original = BaseCommand.execute

    def execute(self: BaseCommand, *args: Any, **options: Any) -> Any:
        if _current.get() is not None:
            return original(self, *args, **options)
        name = type(self).__module__.rsplit(".", 1)[-1]
        with acting_as(Actor(f"command:{name}", "command")):
            return original(self, *args, **options)

    execute._audited = True  # type: ignore[attr-defined]
    BaseCommand.execute = execute  # type: ignore[method-assign]


_task_tokens: dict[str, Token] = {}


def task_started(task_id: str | None = None, **kwargs: Any) -> None:
    if task_id:
        _task_tokens[task_id] = actor_set(SYSTEM)


def task_finished(task_id: str | None = None, **kwargs: Any) -> None:
    token = _task_tokens.pop(task_id, None) if task_id else None
    if token is not None:
        try:
            actor_reset(token)
        except ValueError:  # set in another context (a worker's thread pool): nothing to restore
            pass
