"""Streamed exports: events as CSV, JSON lines, one JSON array, XML or Parquet, and everything held on
one person.

Memory stays bounded: rows come from a server-side cursor in chunks, and Parquet is written one
row group at a time. The generators enter the tenant's schema themselves, because a streamed body
is produced after the request's middleware has already returned to the public schema.
"""

from __future__ import annotations

import base64
import csv
import io
import re
from datetime import datetime
from typing import Any, Iterator
from xml.sax.saxutils import escape as xml_escape
from xml.sax.saxutils import quoteattr

import msgspec
from django.db.models import QuerySet
from django_tenants.utils import schema_context

from apps.core.text import spreadsheet_cell
from apps.events.models import Event

COLUMNS = ["id", "timestamp", "received_at", "event_type", "event", "distinct_id", "user_id", "anonymous_id",
           "session_id", "message_id", "properties", "context"]
CHUNK = 2000
PARQUET_ROW_GROUP = 10_000
_encode = msgspec.json.encode


def _rows(schema_name: str, events: QuerySet[Event]) -> Iterator[tuple]:
    with schema_context(schema_name):
        yield from events.values_list(*COLUMNS).iterator(chunk_size=CHUNK)


def export_csv(schema_name: str, events: QuerySet[Event]) -> Iterator[bytes]:
    """Text cells neutralised against formula injection (a spreadsheet opens CSV); JSON lines and
    Parquet, read by programs, keep the raw values."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(COLUMNS)
    for count, row in enumerate(_rows(schema_name, events), 1):
        writer.writerow([*(spreadsheet_cell(value) for value in row[:10]),
                         _encode(row[10]).decode(), _encode(row[11]).decode()])
        if count % 500 == 0:
            yield buffer.getvalue().encode()
            buffer.seek(0)
            buffer.truncate()
    yield buffer.getvalue().encode()


def export_jsonl(schema_name: str, events: QuerySet[Event]) -> Iterator[bytes]:
    lines: list[bytes] = []
    for row in _rows(schema_name, events):
        lines.append(_encode(dict(zip(COLUMNS, row))) + b"\n")
        if len(lines) >= 500:
            yield b"".join(lines)
            lines.clear()
    yield b"".join(lines)


def export_json(schema_name: str, events: QuerySet[Event]) -> Iterator[bytes]:
    """One JSON array of the same objects as the JSON lines, written as the rows come (never held whole)."""
    parts: list[bytes] = [b"["]
    first = True
    for row in _rows(schema_name, events):
        parts.append((b"" if first else b",\n") + _encode(dict(zip(COLUMNS, row))))
        first = False
        if len(parts) >= 500:
            yield b"".join(parts)
            parts.clear()
    parts.append(b"]\n")
    yield b"".join(parts)


# --- XML -------------------------------------------------------------------------------------------------
#
# <events>
#   <event>
#     <id>12</id><timestamp>2026-01-02T03:04:05.678Z</timestamp> ... one element per column, in COLUMNS
#       order; a null column is an empty element with null="true".
#     <properties>                                   (and <context>, the same way)
#       <property name="plan" type="string">pro</property>
#       <property name="n" type="number">3</property>
#       <property name="ok" type="boolean">true</property>
#       <property name="gone" type="null"/>
#       <property name="address" type="object"><property name="city" type="string">Oslo</property></property>
#       <property name="tags" type="array"><item type="string">a</item><item type="number">1</item></property>
#     </properties>
#   </event>
# </events>
#
# Tenant names are attribute values, never element names, so any name is carried. Text that XML 1.0
# cannot hold (control characters other than tab, line feed and carriage return; U+FFFE, U+FFFF; lone
# surrogates) is written as the base64 of its UTF-8 with encoding="base64" on the element (a name: in
# `name-base64` instead of `name`). Carriage returns, tabs and line feeds are written as character
# references where a parser would otherwise normalise them.

_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")
_ATTR_ENTITIES = {"\n": "&#10;", "\r": "&#13;", "\t": "&#9;"}


def _b64(text: str) -> str:
    return base64.b64encode(text.encode("utf-8", "surrogatepass")).decode()


def _xml_text(text: str) -> tuple[str, str]:
    """(extra attributes, element content) carrying `text` exactly."""
    if _NOT_XML.search(text):
        return ' encoding="base64"', _b64(text)
    return "", xml_escape(text, {"\r": "&#13;"})


def _xml_name(name: str) -> str:
    if _NOT_XML.search(name):
        return f' name-base64="{_b64(name)}"'
    return " name=" + quoteattr(name, _ATTR_ENTITIES)


def _xml_value(tag: str, name: str | None, value: Any) -> str:
    head = tag + ("" if name is None else _xml_name(name))
    if value is None:
        return f'<{head} type="null"/>'
    if isinstance(value, bool):
        return f'<{head} type="boolean">{"true" if value else "false"}</{tag}>'
    if isinstance(value, (int, float)):
        return f'<{head} type="number">{_encode(value).decode()}</{tag}>'
    if isinstance(value, dict):
        inner = "".join(_xml_value("property", str(k), v) for k, v in value.items())
        return f'<{head} type="object">{inner}</{tag}>'
    if isinstance(value, list):
        inner = "".join(_xml_value("item", None, v) for v in value)
        return f'<{head} type="array">{inner}</{tag}>'
    attributes, content = _xml_text(str(value))
    return f'<{head} type="string"{attributes}>{content}</{tag}>'


def _xml_column(name: str, value: Any) -> str:
    if value is None:
        return f'<{name} null="true"/>'
    if name in ("properties", "context"):
        members = value if isinstance(value, dict) else {}
        inner = "".join(_xml_value("property", str(k), v) for k, v in members.items())
        return f"<{name}>{inner}</{name}>"
    if isinstance(value, datetime):
        return f"<{name}>{_encode(value).decode()[1:-1]}</{name}>"
    attributes, content = _xml_text(str(value))
    return f"<{name}{attributes}>{content}</{name}>"


def export_xml(schema_name: str, events: QuerySet[Event]) -> Iterator[bytes]:
    """The layout above, UTF-8, written as the rows come."""
    parts: list[str] = ['<?xml version="1.0" encoding="UTF-8"?>\n<events>\n']
    for row in _rows(schema_name, events):
        parts.append("<event>" + "".join(_xml_column(name, value) for name, value in zip(COLUMNS, row))
                     + "</event>\n")
        if len(parts) >= 500:
            yield "".join(parts).encode()
            parts.clear()
    parts.append("</events>\n")
    yield "".join(parts).encode()


def export_parquet(schema_name: str, events: QuerySet[Event]) -> Iterator[bytes]:
    import pyarrow as pa
    import pyarrow.parquet as pq

    schema = pa.schema([
        ("id", pa.int64()), ("timestamp", pa.timestamp("us", tz="UTC")), ("received_at", pa.timestamp("us", tz="UTC")),
        ("event_type", pa.string()), ("event", pa.string()), ("distinct_id", pa.string()), ("user_id", pa.string()),
        ("anonymous_id", pa.string()), ("session_id", pa.string()), ("message_id", pa.string()),
        ("properties", pa.string()), ("context", pa.string()),
    ])
    sink = io.BytesIO()
    writer = pq.ParquetWriter(sink, schema, compression="zstd")
    batch: list[tuple] = []

    def flush() -> bytes:
        columns = list(zip(*batch)) if batch else [[] for _ in COLUMNS]
        arrays = [list(col) for col in columns]
        arrays[10] = [_encode(v).decode() for v in arrays[10]]
        arrays[11] = [_encode(v).decode() for v in arrays[11]]
        writer.write_table(pa.Table.from_arrays([pa.array(a, type=f.type) for a, f in zip(arrays, schema)],
                                                schema=schema))
        batch.clear()
        data = sink.getvalue()
        sink.seek(0)
        sink.truncate()
        return data

    for row in _rows(schema_name, events):
        batch.append(row)
        if len(batch) >= PARQUET_ROW_GROUP:
            yield flush()
    if batch:
        yield flush()
    writer.close()
    yield sink.getvalue()


def export_person(schema_name: str, person: Any, events: QuerySet[Event]) -> Iterator[bytes]:
    """`{"person": {...}, "events": [...]}` as one JSON document, streamed."""
    head = {"person": {"id": person.id, "distinct_ids": person.distinct_ids, "traits": person.traits,
                       "created_at": person.created_at, "updated_at": person.updated_at}}
    yield _encode(head)[:-1] + b', "events": ['
    first = True
    for row in _rows(schema_name, events):
        yield (b"" if first else b",") + _encode(dict(zip(COLUMNS, row)))
        first = False
    yield b"]}"


FORMATS = {
    "csv": ("text/csv", "csv", export_csv),
    "jsonl": ("application/x-ndjson", "jsonl", export_jsonl),
    "json": ("application/json", "json", export_json),
    "xml": ("application/xml; charset=utf-8", "xml", export_xml),
    "parquet": ("application/vnd.apache.parquet", "parquet", export_parquet),
}
