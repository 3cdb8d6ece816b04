"""The local mail sink of `make run`: every message is written to EMAIL_FILE_PATH (var/mail/) as one
.eml file, which any mail client opens. Used when EMAIL_URL is not set in development."""

from __future__ import annotations

import itertools
import os
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.mail.backends.base import BaseEmailBackend

_sequence = itertools.count()


class EmlDirectoryBackend(BaseEmailBackend):
    def __init__(self, *, file_path: str | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.directory = Path(file_path or settings.EMAIL_FILE_PATH)

    def send_messages(self, email_messages: Any) -> int:
        self.directory.mkdir(parents=True, exist_ok=True)
        for message in email_messages:
            stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%S%f")
            path = self.directory / f"{stamp}-{os.getpid()}-{next(_sequence)}.eml"
            partial = path.with_suffix(".part")
            partial.write_bytes(message.message().as_bytes(linesep="\r\n"))
            partial.replace(path)  # a reader never sees half a message
        return len(email_messages)
