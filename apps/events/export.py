"""Streamed exports: events as CSV, JSON lines or Parquet, and everything held on one person.

Memory stays bounded: rows come from a server-side cursor in chunks, and Parquet is written one
row group at a time. The generators enter the tenant's schema themselves, because a streamed body
is produced after the request's middleware has already returned to the public schema.
"""

from __future__ import annotations

import csv
import io
from typing import Any, Iterator

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
    "parquet": ("application/vnd.apache.parquet", "parquet", export_parquet),
}
