"""gunicorn's logger with share and unsubscribe tokens redacted from request paths (apps.core.logs),
in the access log and in the error log ("Error handling request /d/…"). Named by `logger_class` in
deploy/gunicorn.conf.py."""

from __future__ import annotations

from typing import Any

from gunicorn.glogging import Logger

from apps.core.logs import RedactSecretPaths


class RedactingLogger(Logger):
    def setup(self, cfg: Any) -> None:
        super().setup(cfg)
        for log in (self.error_log, self.access_log):
            if not any(isinstance(f, RedactSecretPaths) for f in log.filters):
                log.addFilter(RedactSecretPaths())
