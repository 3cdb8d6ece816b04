"""The generated dataset shared by the comparisons with independent computations."""

from __future__ import annotations

import json
from datetime import datetime, timezone

import pandas as pd
import pytest
from django.db import connection
from django_tenants.utils import schema_context

from apps.events.ingestion import Clock, parse_segment
from apps.events.storage import events_write
from tests.insights.test_trends_pandas import generate


@pytest.fixture
def dataset(acme):  # noqa: ANN001, ANN201
    now = datetime.now(timezone.utc)
    messages = generate(seed=11)
    with schema_context(acme.tenant.schema_name):
        clock = Clock(received_at=now, sent_at=None, retention_days=3650)
        for start in range(0, len(messages), 500):
            events_write(rows=[parse_segment(m, clock) for m in messages[start:start + 500]], received_at=now)
        with connection.cursor() as cursor:
            cursor.execute('SELECT id, "timestamp", event, distinct_id, properties::text FROM events')
            events = pd.DataFrame(cursor.fetchall(), columns=["id", "timestamp", "event", "distinct_id", "properties"])
            cursor.execute("SELECT distinct_id, person_id FROM person_distinct_ids")
            owners = dict(cursor.fetchall())
            cursor.execute("SELECT id, traits::text FROM persons")
            traits = {pid: json.loads(t) for pid, t in cursor.fetchall()}
    events["properties"] = events["properties"].map(json.loads)
    events["person"] = events["distinct_id"].map(lambda d: owners.get(d, f"d:{d}"))
    events["traits"] = events["person"].map(lambda p: traits.get(p, {}))
    events["timestamp"] = pd.to_datetime(events["timestamp"], utc=True)
    return acme.tenant, events
