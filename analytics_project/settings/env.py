"""Strict environment readers: a malformed value stops the process at start-up with its name.

django-environ parses the URLs; these wrappers add what it lacks: booleans and integers that
refuse anything but clear values, allow-listed choices, and URL scheme checks.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import environ
from django.core.exceptions import ImproperlyConfigured

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}
_HOSTNAME = re.compile(r"^(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*$")
_UNSET: Any = object()


class Env:
    def __init__(self) -> None:
        self._environ = environ.Env()

    def _raw(self, name: str, default: Any) -> Any:
        value = os.environ.get(name)
        if value is None:
            if default is _UNSET:
                raise ImproperlyConfigured(f"Set the {name} environment variable.")
            return default
        return value

    def read_file(self, path: Path) -> None:
        """Fill unset variables from a KEY=VALUE file, if it exists (never overrides the environment)."""
        if not path.exists():
            return
        for line in path.read_text().splitlines():
            line = line.strip()
            if not line or line.startswith("#") or "=" not in line:
                continue
            key, value = line.split("=", 1)
            os.environ.setdefault(key.strip(), value.strip())

    def str(self, name: str, default: Any = _UNSET) -> str:
        return self._raw(name, default)

    def bool(self, name: str, default: Any = _UNSET) -> bool:
        value = self._raw(name, default)
        if isinstance(value, bool):
            return value
        lowered = value.strip().lower()
        if lowered in _TRUE:
            return True
        if lowered in _FALSE:
            return False
        raise ImproperlyConfigured(f"{name} must be a boolean (true/false/1/0), got {value!r}.")

    def int(self, name: str, default: Any = _UNSET, *, minimum: int = 0) -> int:
        value = self._raw(name, default)
        try:
            number = int(value)
        except (TypeError, ValueError):
            raise ImproperlyConfigured(f"{name} must be an integer, got {value!r}.") from None
        if number < minimum:
            raise ImproperlyConfigured(f"{name} must be at least {minimum}, got {number}.")
        return number

    def choice(self, name: str, choices: tuple[str, ...], default: Any = _UNSET) -> str:
        value = self._raw(name, default)
        if value not in choices:
            raise ImproperlyConfigured(f"{name} must be one of {', '.join(choices)}; got {value!r}.")
        return value

    def list(self, name: str, default: Any = _UNSET) -> list[str]:
        value = self._raw(name, default)
        if isinstance(value, list):
            return value
        return [item.strip() for item in value.split(",") if item.strip()]

    def path(self, name: str, default: Any = _UNSET) -> Path:
        return Path(self._raw(name, default))

    def hostname(self, name: str, default: Any = _UNSET) -> str:
        value = self._raw(name, default).strip().lower()
        if not _HOSTNAME.match(value):
            raise ImproperlyConfigured(f"{name} must be a bare hostname such as analytics.example.com, got {value!r}.")
        return value

    def url(self, name: str, default: Any = _UNSET, *, schemes: tuple[str, ...] = ("http", "https")) -> str:
        value = self._raw(name, default)
        parts = urlsplit(value)
        if parts.scheme not in schemes or not parts.hostname:
            raise ImproperlyConfigured(f"{name} must be a {'/'.join(schemes)} URL, got {value!r}.")
        return value.rstrip("/")

    def database_url(self, name: str) -> dict[str, Any]:
        value = self.url(name, default=self._missing_service(name), schemes=("postgres", "postgresql"))
        return self._environ.db_url_config(value)

    def redis_url(self, name: str) -> str:
        return self.url(name, default=self._missing_service(name), schemes=("redis", "rediss", "unix"))

    def email_url(self, name: str, default: Any = _UNSET) -> dict[str, Any]:
        value = self._raw(name, default)
        schemes = {"smtp", "smtps", "smtp+tls", "smtp+ssl", "consolemail", "filemail", "memorymail", "dummymail"}
        if urlsplit(value).scheme not in schemes:
            raise ImproperlyConfigured(f"{name} must be one of the schemes {sorted(schemes)}, got {value!r}.")
        return self._environ.email_url_config(value)

    @staticmethod
    def _missing_service(name: str) -> Any:
        if name not in os.environ:
            raise ImproperlyConfigured(
                f"Set {name}, or start the local stack with `make run` (it writes var/devstack.env)."
            )
        return _UNSET
