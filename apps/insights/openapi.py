"""The query spec in the OpenAPI document: the components of apps.insights.spec.QuerySpec, taken
from the strict decoder itself (msgspec), so the document says exactly what /api/v1/query accepts."""

from __future__ import annotations

from typing import Any

from apps.core.openapi import msgspec_components

QUERY_SPEC_REF = {"$ref": "#/components/schemas/QuerySpec"}


def add_query_spec(result: dict[str, Any], generator: Any, request: Any, public: bool) -> dict[str, Any]:
    """Post-processing hook: the QuerySpec component and the parts it names."""
    from apps.insights.spec import QuerySpec

    (spec,), components = msgspec_components(QuerySpec)
    schemas = result.setdefault("components", {}).setdefault("schemas", {})
    schemas.update(components)
    schemas["QuerySpec"] = {**spec, "description": "A query: its `kind` says which of the shapes it has."}
    return result
