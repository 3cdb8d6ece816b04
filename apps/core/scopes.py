"""API key scopes: what a key may do in its tenant (docs/governance.md, "Key scopes").

A tenant API view may declare `required_scope = "read" | "write" | "admin"` (or a mapping from a
lower-case HTTP method to one of them); otherwise GET/HEAD/OPTIONS need `read` and every other
method `write`. Scopes are independent: a key holds each one it was issued with, nothing implied.
"""

from __future__ import annotations

from typing import Any, Mapping

from apps.core.exceptions import DomainError

SCOPE_READ = "read"
SCOPE_WRITE = "write"
SCOPE_ADMIN = "admin"
SCOPES: tuple[str, ...] = (SCOPE_READ, SCOPE_WRITE, SCOPE_ADMIN)
READING_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


class InsufficientScope(DomainError):
    status_code = 403
    code = "insufficient_scope"

    def __init__(self, scope: str, key_scopes: list[str] | tuple[str, ...]) -> None:
        super().__init__(f"This API key lacks the `{scope}` scope this request needs.",
                         details={"required_scope": scope, "key_scopes": sorted(key_scopes)})
        self.scope = scope


def required_scope(view: Any, method: str) -> str:
    """The scope a request with `method` needs on `view` (a view instance or class)."""
    declared: str | Mapping[str, str] | None = getattr(view, "required_scope", None)
    if isinstance(declared, Mapping):
        declared = declared.get(method.lower())
    if declared:
        return declared
    return SCOPE_READ if method.upper() in READING_METHODS else SCOPE_WRITE

