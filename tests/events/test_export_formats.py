"""GET /api/v1/events/export?format=json|xml: one JSON array and an XML document, streamed, every
value carried exactly (hostile names and control characters too), bounded memory, one tenant's rows."""

from __future__ import annotations

import base64
import json
import tracemalloc
from datetime import datetime
import xml.etree.ElementTree as ET
from typing import Any

import pytest
from django.db import connection
from django_tenants.utils import schema_context

from apps.events.export import COLUMNS
from tests.helpers import assert_error, bearer

HOSTILE = ["<a>", "&", "]]>", "\x01bell\x07", "a\r\nb\tc", "1 not a name", "x=\"'y'\"", "é😀", "<!--", "$\\x"]


def _stored(tenant) -> list[dict[str, Any]]:  # noqa: ANN001
    """The tenant's events as the database holds them, in export order, the times as JSON writes them."""
    with schema_context(tenant.schema_name), connection.cursor() as cursor:
        cursor.execute("SELECT " + ", ".join(f'"{c}"' for c in COLUMNS)
                       + ", to_json(\"timestamp\")::text, to_json(received_at)::text FROM events "
                         'ORDER BY "timestamp", id')
        rows = []
        for row in cursor.fetchall():
            record = dict(zip(COLUMNS, row))
            for name in ("properties", "context"):
                if isinstance(record[name], str):  # Django's psycopg setup hands jsonb back as text
                    record[name] = json.loads(record[name])
            rows.append(record)
    return rows


def _get(client, key: str, fmt: str, query: str = ""):  # noqa: ANN001, ANN202
    return client.get(f"/api/v1/events/export?format={fmt}{query}", **bearer(key))


def _body(response) -> bytes:  # noqa: ANN001
    assert response.status_code == 200 and response.streaming
    return b"".join(response.streaming_content)


@pytest.fixture
def hostile(send):  # noqa: ANN001, ANN201
    properties = {name: value for name, value in zip(HOSTILE, reversed(HOSTILE))}
    properties.update({"n": -3.5, "big": 12345678901, "ok": True, "none": None,
                       "nested": {"<b>": ["]]>", 1, False, None, {"\x02": "\x1f"}], "&amp;": {}}, "empty": ""})
    batch = [{"type": "track", "userId": text, "event": text, "properties": properties,
              "context": {"page": {"title": text}}, "messageId": f"h{i}"} for i, text in enumerate(HOSTILE)]
    assert send.post("/v1/batch", {"batch": batch}).json()["accepted"] == len(HOSTILE)


def test_json_export_is_one_array_of_the_stored_rows(client, acme, hostile):
    response = _get(client, acme.secret_key, "json")
    assert response["Content-Type"] == "application/json"
    assert response["Content-Disposition"] == 'attachment; filename="events.json"'
    document = json.loads(_body(response))
    stored = _stored(acme.tenant)
    assert isinstance(document, list) and len(document) == len(HOSTILE) == len(stored)
    for exported, row in zip(document, stored):
        for name in COLUMNS:
            if name in ("timestamp", "received_at"):
                assert _parse_time(exported[name]) == row[name]
            else:
                assert exported[name] == row[name], name
    assert [e["event"] for e in document] == HOSTILE


def test_json_export_of_nothing_and_filters(client, acme, globex, hostile):
    assert json.loads(_body(_get(client, globex.secret_key, "json"))) == []
    filtered = json.loads(_body(_get(client, acme.secret_key, "json", "&event=%3C%21--")))
    assert [e["event"] for e in filtered] == ["<!--"]


def _parse_time(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def _text(element: ET.Element) -> str:
    if element.get("encoding") == "base64":
        return base64.b64decode(element.text or "").decode()
    return element.text or ""


def _name(element: ET.Element) -> str:
    if element.get("name-base64") is not None:
        return base64.b64decode(element.get("name-base64")).decode()
    return element.get("name")


def _value(element: ET.Element) -> Any:
    kind = element.get("type")
    if kind == "null":
        assert element.text is None and len(element) == 0
        return None
    if kind == "boolean":
        return {"true": True, "false": False}[element.text]
    if kind == "number":
        return json.loads(element.text)
    if kind == "object":
        assert all(child.tag == "property" for child in element)
        return {_name(child): _value(child) for child in element}
    if kind == "array":
        assert all(child.tag == "item" for child in element)
        return [_value(child) for child in element]
    assert kind == "string"
    return _text(element)


def _xml_rows(body: bytes) -> list[dict[str, Any]]:
    root = ET.fromstring(body)
    assert root.tag == "events"
    rows = []
    for event in root:
        assert event.tag == "event" and [child.tag for child in event] == COLUMNS
        row = {}
        for child in event:
            if child.get("null") == "true":
                row[child.tag] = None
            elif child.tag in ("properties", "context"):
                row[child.tag] = {_name(p): _value(p) for p in child}
            elif child.tag == "id":
                row[child.tag] = int(child.text)
            elif child.tag in ("timestamp", "received_at"):
                row[child.tag] = _parse_time(child.text)
            else:
                row[child.tag] = _text(child)
        rows.append(row)
    return rows


def test_xml_export_is_well_formed_and_carries_hostile_names_and_values_exactly(client, acme, hostile):
    response = _get(client, acme.secret_key, "xml")
    assert response["Content-Type"] == "application/xml; charset=utf-8"
    assert response["Content-Disposition"] == 'attachment; filename="events.xml"'
    body = _body(response)
    assert body.startswith(b'<?xml version="1.0" encoding="UTF-8"?>')
    stored = _stored(acme.tenant)
    rows = _xml_rows(body)
    assert len(rows) == len(HOSTILE)
    assert rows == stored
    assert [r["event"] for r in rows] == HOSTILE
    # Names are never element names, and what XML cannot hold is encoded, not dropped.
    assert b"<<a>" not in body and b"<a>" not in body and b"]]>" not in body and b"\x01" not in body
    assert b'name-base64="' in body and b'encoding="base64"' in body


def test_xml_export_of_nothing_is_an_empty_document(client, globex, acme, hostile):
    root = ET.fromstring(_body(_get(client, globex.secret_key, "xml")))
    assert root.tag == "events" and len(root) == 0


def test_unknown_format_is_refused(client, acme):
    assert_error(_get(client, acme.secret_key, "xmls"), 400, "invalid")
    assert_error(_get(client, acme.secret_key, "JSON"), 400, "invalid")


def _insert_many(tenant, count: int) -> None:  # noqa: ANN001
    padding = "p" * 300
    with schema_context(tenant.schema_name), connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO events (\"timestamp\", received_at, event_type, event, distinct_id, person_id, message_id, "
            "properties, context) SELECT now() - make_interval(secs => n), now(), 'track', 'Bulk', 'u' || n, 1, "
            "'bulk-' || n, jsonb_build_object('n', n, 'pad', %s::text, '<k>', 'v&' || n), '{}'::jsonb "
            "FROM generate_series(1, %s) AS n", [padding, count])


@pytest.mark.parametrize("fmt", ["json", "xml"])
def test_large_export_is_streamed_in_bounded_memory(client, acme, fmt):
    count = 30_000
    _insert_many(acme.tenant, count)
    response = _get(client, acme.secret_key, fmt)
    assert response.streaming
    total = chunks = rows = 0
    tracemalloc.start()
    try:
        for chunk in response.streaming_content:
            total += len(chunk)
            chunks += 1
            rows += chunk.count(b'"Bulk"') if fmt == "json" else chunk.count(b"<event><id>")
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert rows == count and chunks > 10
    assert total > 15_000_000
    assert peak < total / 3, (peak, total)  # the whole document held would be > total
