"""Secrets in request paths kept out of the logs. A dashboard's share link (`/d/<token>`) and a
report's unsubscribe link (`/r/unsubscribe/<token>`) carry their credential in the path itself, which
gunicorn's access log and Django's request log ("Not Found: /d/…") would write out; API keys never
reach a path, and query strings are not logged at all (deploy/gunicorn.conf.py).

`redact_secret_paths` replaces each such token with `<redacted>`; `RedactSecretPaths` applies it to
every record a logging handler (Django's LOGGING) or logger (gunicorn's, deploy/gunicorn.conf.py)
passes on, after formatting the message with its arguments."""

from __future__ import annotations

import logging
import re

REDACTED = "<redacted>"
# The secret segment ends at the next slash, query, fragment, space or quote.
_SECRET_SEGMENT = re.compile(r"(/d/|/r/unsubscribe/)[^/?#\s\"']+")


def redact_secret_paths(text: str) -> str:
    return _SECRET_SEGMENT.sub(rf"\1{REDACTED}", text)


class RedactSecretPaths(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        redacted = redact_secret_paths(message)
        if redacted != message:
            record.msg, record.args = redacted, None
        return True
