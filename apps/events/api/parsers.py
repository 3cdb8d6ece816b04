"""The ingestion body rules (size limit, gzip or deflate, JSON) for DRF views that take ingestion
traffic: the metric value endpoints accept what the event endpoints accept."""

from __future__ import annotations

from typing import Any

from rest_framework.parsers import BaseParser

from apps.core.exceptions import DomainError
from apps.events.ingestion import BodyError, read_body


class BodyRefused(DomainError):
    def __init__(self, error: BodyError) -> None:
        super().__init__(error.message, code=error.code)
        self.status_code = error.status


class IngestionJsonParser(BaseParser):
    media_type = "application/json"

    def parse(self, stream: Any, media_type: str | None = None, parser_context: dict[str, Any] | None = None) -> Any:
        request = (parser_context or {}).get("request")
        encoding = request.META.get("HTTP_CONTENT_ENCODING", "") if request is not None else ""
        try:
            return read_body(stream.read() if stream is not None else b"", encoding)
        except BodyError as exc:
            raise BodyRefused(exc) from None
