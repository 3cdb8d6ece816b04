"""The project's OpenAPI conventions: the authentication schemes, the error body and which error
statuses each operation declares.

Every 4xx/5xx answers `{"error": {"code", "message", "details"}}` (apps.core.errors). The statuses
that follow from an operation's shape are added to every operation by `add_error_responses` (a
drf-spectacular post-processing hook); the ones that follow from what a view does (409, 413, 415,
429, 503) are declared on the view with `error_responses(...)`.
"""

from __future__ import annotations

from typing import Any

from drf_spectacular.extensions import OpenApiAuthenticationExtension
from drf_spectacular.utils import OpenApiResponse

from apps.core.scopes import SCOPE_WRITE, required_scope


class ApiKeyScheme(OpenApiAuthenticationExtension):
    target_class = "apps.core.api.ApiKeyAuthentication"
    name = "secretKey"

    def get_security_definition(self, auto_schema):  # noqa: ANN001, ANN201
        return {"type": "http", "scheme": "bearer",
                "description": "A tenant's secret key (sk_…). Write keys (wk_…) may only send events."}


class IngestionKeyScheme(OpenApiAuthenticationExtension):
    target_class = "apps.core.api.IngestionKeyAuthentication"
    name = "writeKey"

    def get_security_definition(self, auto_schema):  # noqa: ANN001, ANN201
        return WRITE_KEY_SCHEME


class PlatformTokenScheme(OpenApiAuthenticationExtension):
    target_class = "apps.core.api.PlatformTokenAuthentication"
    name = "platformToken"

    def get_security_definition(self, auto_schema):  # noqa: ANN001, ANN201
        return {"type": "http", "scheme": "bearer", "description": "PLATFORM_API_TOKEN, for the platform API."}


WRITE_KEY_SCHEME = {"type": "http", "scheme": "bearer",
                    "description": "A write or secret key; Segment's Basic auth (key as username) and "
                                   "`writeKey`/`api_key` in the body work too."}

ERROR_COMPONENT = "Error"
ERROR_REF = {"$ref": f"#/components/schemas/{ERROR_COMPONENT}"}
ERROR_SCHEMA = {
    "type": "object",
    "description": "Every 4xx and 5xx answer.",
    "required": ["error"],
    "properties": {"error": {
        "type": "object",
        "required": ["code", "message", "details"],
        "properties": {
            "code": {"type": "string", "description": "Stable and machine-readable: `invalid`, `not_found`, …"},
            "message": {"type": "string", "description": "For people."},
            "details": {"description": "What was wrong (for `invalid`, the fields), or null."},
        },
    }},
}

ERROR_DESCRIPTIONS = {
    400: "The request is not valid: malformed JSON, a value that fails its checks, or text the database "
         "cannot store, such as a NUL character (`details` says where)",
    401: "No credentials, or an unknown or revoked key or token",
    403: "A write key (it may only send events), or a key without the scope the operation needs "
         "(`insufficient_scope`; `details.required_scope` names it)",
    404: "No such object, or a pagination cursor that is not valid",
    409: "Conflicts with an existing object (a name or slug already taken)",
    413: "The body is too large",
    415: "An unsupported Content-Encoding",
    429: "Rate limit or monthly quota reached (see Retry-After)",
    503: "The query ran past its time limit; narrow it or retry later",
}


def error_response(status: int, description: str | None = None) -> dict[str, Any]:
    """A response object of the error body (for the post-processing hooks)."""
    return {"description": description or ERROR_DESCRIPTIONS[status],
            "content": {"application/json": {"schema": ERROR_REF}}}


def error_responses(*statuses: int, descriptions: dict[int, str] | None = None) -> dict[int, OpenApiResponse]:
    """Error statuses that follow from what a view does, for `extend_schema(responses={...})`."""
    descriptions = {**ERROR_DESCRIPTIONS, **(descriptions or {})}
    return {status: OpenApiResponse(response=ERROR_REF, description=descriptions[status])
            for status in statuses}


_METHODS = ("get", "put", "post", "patch", "delete", "head", "options", "trace")


def add_error_responses(result: dict[str, Any], generator: Any, request: Any, public: bool) -> dict[str, Any]:
    """Post-processing hook: the error body component, and on every operation the error statuses
    that follow from its shape:
    - 401 when it needs credentials; 403 when it needs a key (a write key outside ingestion, or a
      key without the operation's scope, `x-required-scope`, is refused);
    - 400 when it reads a body or parameters;
    - 404 when a path parameter names an object, or a `cursor` pages through a list.
    Statuses an operation already declares are kept as they are."""
    result.setdefault("components", {}).setdefault("schemas", {})[ERROR_COMPONENT] = ERROR_SCHEMA
    scopes = operation_scopes(generator)
    for path, operations in result.get("paths", {}).items():
        for method, operation in operations.items():
            if method not in _METHODS:
                continue
            schemes = {name for requirement in operation.get("security", []) for name in requirement}
            scope = scopes.get((path, method)) or (SCOPE_WRITE if "writeKey" in schemes and method == "post" else None)
            if scope is not None:
                operation["x-required-scope"] = scope
                operation.setdefault("responses", {}).setdefault("403", error_response(
                    403, f"The key lacks the `{scope}` scope (`insufficient_scope`)"
                         + ("" if "writeKey" in schemes else ", or is a write key (it may only send events)")))
            locations = {(p.get("in"), p.get("name")) for p in operation.get("parameters", []) if "in" in p}
            statuses = []
            if "requestBody" in operation or any(where in ("query", "path") for where, _ in locations):
                statuses.append(400)
            if schemes:
                statuses.append(401)
            if "secretKey" in schemes and "writeKey" not in schemes:
                statuses.append(403)
            if any(where == "path" for where, _ in locations) or ("query", "cursor") in locations:
                statuses.append(404)
            responses = operation.setdefault("responses", {})
            for status in statuses:
                responses.setdefault(str(status), error_response(status))
            operation["responses"] = dict(sorted(responses.items()))
    return result


def operation_scopes(generator: Any) -> dict[tuple[str, str], str]:
    """{(path, method): the scope a key needs} for every operation of a view that checks scopes."""
    from apps.core.api import HasRequiredScope

    found = {}
    for path, _, method, callback in getattr(generator, "endpoints", None) or ():
        view_class = getattr(callback, "cls", None)
        if view_class is not None and HasRequiredScope in getattr(view_class, "permission_classes", ()):
            found[(path, method.lower())] = required_scope(view_class, method)
    return found


def msgspec_components(*types: Any) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """OpenAPI 3.0 schemas of msgspec types (a strict decoder's own description of what it accepts),
    with their named parts as components: msgspec writes JSON Schema 2020-12, whose `{"type": "null"}`
    alternatives become `nullable` (and `propertyNames`, which 3.0 lacks, a description)."""
    import msgspec

    schemas, components = msgspec.json.schema_components(types, ref_template="#/components/schemas/{name}")
    return [_openapi_30(s) for s in schemas], {name: _openapi_30(s) for name, s in components.items()}


def _openapi_30(node: Any) -> Any:
    if isinstance(node, list):
        return [_openapi_30(item) for item in node]
    if not isinstance(node, dict):
        return node
    node = {key: _openapi_30(value) for key, value in node.items()}
    if node.get("required") == []:  # 3.0 wants a non-empty list or none
        del node["required"]
    names = node.pop("propertyNames", None)  # not in 3.0: said in words
    if names and "pattern" in names:
        node["description"] = (node.get("description", "") + f" Keys match `{names['pattern']}`.").strip()
    choices = node.get("anyOf")
    if choices and {"type": "null"} in choices:
        rest = [choice for choice in choices if choice != {"type": "null"}]
        del node["anyOf"]
        if len(rest) == 1 and "$ref" not in rest[0]:
            node = {**rest[0], **node}
        else:
            node["anyOf" if len(rest) > 1 else "allOf"] = rest
        node["nullable"] = True
    return node
