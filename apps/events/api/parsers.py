"""The ingestion body rules (size limit, gzip or deflate, JSON) for DRF views that take ingestion
traffic: the metric value endpoints accept what the event endpoints accept."""

from __future__ import annotations

from typing import Any

from rest_framework.parsers import BaseParser

from apps.core.exceptions import DomainError
from apps.core.text import refuse_unstorable_json
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
            data = read_body(stream.read() if stream is not None else b"", encoding)
        except BodyError as exc:
            raise BodyRefused(exc) from None
        # As every JSON body of the API (apps.core.api.JsonParser). Any depth: the decoder bounds it,
        # and only flat fields of a value are stored (a batch of 1,000 values then costs no walk).
        refuse_unstorable_json(data, max_depth=None)
        return data
