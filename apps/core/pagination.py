"""Cursor pagination with the project's list shape: `{"results": [...], "next": url | null}`."""

from __future__ import annotations

from typing import Any

from rest_framework.pagination import CursorPagination as DrfCursorPagination
from rest_framework.response import Response


class CursorPagination(DrfCursorPagination):
    page_size = 50
    page_size_query_param = "limit"
    max_page_size = 1000
    ordering = "-id"

    def get_paginated_response(self, data: Any) -> Response:
        return Response({"results": data, "next": self.get_next_link()})

    def get_paginated_response_schema(self, schema: dict[str, Any]) -> dict[str, Any]:
        return {
            "type": "object",
            "required": ["results", "next"],
            "properties": {"results": schema, "next": {"type": "string", "format": "uri", "nullable": True}},
        }


def paginate(view: Any, queryset: Any, serializer_class: Any, *, ordering: str,
             page_size: int | None = None) -> Response:
    paginator = CursorPagination()
    paginator.ordering = ordering
    if page_size is not None:
        paginator.page_size = page_size
        paginator.page_size_query_param = None
    page = paginator.paginate_queryset(queryset, view.request, view=view)
    return paginator.get_paginated_response(serializer_class(page, many=True).data)

