"""Text the database cannot store. PostgreSQL refuses the NUL character (U+0000) in text and jsonb,
in a stored value or a query parameter alike (`psycopg.DataError`), and a string holding a lone
UTF-16 surrogate (JSON's `"\\ud800"`) cannot even be encoded to send; JSON nested hundreds of
levels deep exhausts the recursion of the JSON encoder that writes jsonb. The API refuses all of
these at the door with a 400 naming where they are, instead of failing later with a 500."""

from __future__ import annotations

import re
from typing import Any

import msgspec

from apps.core.exceptions import ValidationFailed

NUL = "\x00"
# Deeper than any document the API keeps (rule trees, layouts, query specs), far below recursion limits.
MAX_JSON_DEPTH = 64
_encode = msgspec.json.encode


def _text_problem(text: str) -> str | None:
    if NUL in text:
        return "a NUL character"
    if not text.isascii():
        try:
            text.encode("utf-8")
        except UnicodeEncodeError:
            return "a lone UTF-16 surrogate (not valid Unicode)"
    return None


def json_problem(value: Any, max_depth: int | None = MAX_JSON_DEPTH) -> tuple[str, str] | None:
    """(path, problem) of the first string or object key the database cannot store, or of nesting
    deeper than `max_depth` (None: any depth), in decoded JSON (`$.series[2].event`); None when
    there is none."""
    stack: list[tuple[Any, str, int]] = [(value, "$", 1)]
    while stack:
        node, where, depth = stack.pop()
        if isinstance(node, str):
            problem = _text_problem(node)
            if problem:
                return where, f"holds {problem}"
        elif isinstance(node, (dict, list)):
            if max_depth is not None and depth > max_depth:
                return where, f"nested deeper than {max_depth} levels"
            if isinstance(node, dict):
                for key, item in node.items():
                    problem = _text_problem(key) if isinstance(key, str) else None
                    if problem:
                        return where, f"a key holds {problem}"
                    stack.append((item, f"{where}.{key}", depth + 1))
            else:
                stack.extend((item, f"{where}[{index}]", depth + 1) for index, item in enumerate(node))
    return None


def refuse_unstorable_json(value: Any, max_depth: int | None = MAX_JSON_DEPTH) -> None:
    """ValidationFailed naming the first problem of json_problem. The common case, none, costs one
    C-speed encode and scan: the encoder refuses lone surrogates, JSON writes a NUL as `\\u0000`,
    and a body with few brackets cannot be deep (a larger one is walked)."""
    try:
        encoded = _encode(value)
    except (UnicodeEncodeError, RecursionError):
        encoded = None
    if encoded is not None and b"\\u0000" not in encoded \
            and (max_depth is None or encoded.count(b"{") + encoded.count(b"[") <= max_depth):
        return
    found = json_problem(value, max_depth)
    if found is not None:
        where, problem = found
        raise ValidationFailed(f"{where}: {problem}, which cannot be stored.", details={where: problem})


def refuse_unstorable_parameters(values: dict[str, Any], location: str) -> None:
    """ValidationFailed for a NUL or a lone surrogate in the names or values of path or query parameters."""
    for name, value in values.items():
        for text in [str(name), *(item for item in (value if isinstance(value, list) else [value])
                                   if isinstance(item, str))]:
            problem = _text_problem(text)
            if problem:
                raise ValidationFailed(f"The {location} parameter {name!r} holds {problem}, which cannot be "
                                       "stored or searched for.", details={name: f"holds {problem}"})


# OWASP's CSV injection list: a cell starting with one of these is read as a formula by Excel,
# LibreOffice or Google Sheets (a tab or carriage return is skipped and the next character decides).
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")
# A signed number in text ("-3.5", "+49"): read as a number, never run, so left as it is.
_SIGNED_NUMBER = re.compile(r"[+-](?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?")


def spreadsheet_cell(value: Any) -> Any:
    """A value for a CSV or XLSX cell: text a spreadsheet would run as a formula gets a leading
    apostrophe, so it is shown as the text it is; anything that is not a string (a number written
    as a number, -3.5 included), and text that is just a signed number, is returned as it is."""
    if isinstance(value, str) and value.startswith(FORMULA_PREFIXES) and not _SIGNED_NUMBER.fullmatch(value):
        return "'" + value
    return value
