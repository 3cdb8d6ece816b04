"""Segment membership against an independent pandas evaluation of DESIGN §7, on generated data.

The dataset: 600 persons; anonymous visitors of whom some identify later (their anonymous events
become the identified person's: identity merges), traits of several types (text, numbers, ISO
dates, a non-date text), events of three names with a property, spread over the 60 days before a
frozen "now". Random rule trees (nested and/or groups, every trait operator, behavioural counts
with every operator, `within` windows, fixed ranges, all time, event property filters) must give
exactly the members pandas finds.
"""

from __future__ import annotations

import json
import random
from datetime import datetime, timedelta, timezone
from typing import Any

import pandas as pd
import pytest
import time_machine
from django.db import connection
from django_tenants.utils import schema_context

from apps.events.ingestion import Clock, parse_segment
from apps.events.storage import events_write
from apps.segments import services
from tests.insights.test_trends_pandas import matches

NOW = datetime(2026, 6, 15, 12, 0, tzinfo=timezone.utc)
EVENTS = ["View", "Click", "Buy"]
PLANS = ["free", "pro", "team"]
PATHS = ["/", "/docs", "/pricing"]


def generate(seed: int) -> list[dict]:
    rng = random.Random(seed)
    messages = []
    for n in range(600):
        anon, user = f"anon-{n}", (f"user-{n}" if rng.random() < 0.6 else None)
        identified_at = NOW - timedelta(days=rng.uniform(0, 60))
        for _ in range(rng.randint(0, 8)):
            at = NOW - timedelta(seconds=rng.uniform(-3600, 60 * 86400))  # a few in the future: not counted
            ids = {"userId": user} if user and at > identified_at else {"anonymousId": anon}
            messages.append({"type": "track", "event": rng.choice(EVENTS), "timestamp": at.isoformat(),
                             "properties": {"path": rng.choice(PATHS)}, **ids})
        if user:
            traits: dict[str, Any] = {"plan": rng.choice(PLANS)}
            if rng.random() < 0.8:
                traits["seats"] = rng.choice([rng.randint(1, 20), round(rng.uniform(0, 20), 1), "many"])
            if rng.random() < 0.8:
                signed_up = NOW - timedelta(days=rng.uniform(0, 90))
                traits["signed_up"] = rng.choice([signed_up.isoformat(), signed_up.date().isoformat(), "soon"])
            if rng.random() < 0.5:
                traits["email"] = f"{user}@{rng.choice(['acme.com', 'Example.org'])}"
            messages.append({"type": "identify", "userId": user, "anonymousId": anon, "traits": traits,
                             "timestamp": identified_at.isoformat()})
    for i, message in enumerate(messages):
        message["messageId"] = f"seg-{seed}-{i}"
    return messages


def random_leaf(rng: random.Random) -> dict:
    if rng.random() < 0.5:
        field, operator = rng.choice([("plan", "eq"), ("plan", "neq"), ("plan", "in"), ("plan", "not_in"),
                                      ("seats", "gt"), ("seats", "lte"), ("signed_up", "gte"), ("signed_up", "lt"),
                                      ("email", "contains"), ("email", "not_contains"), ("email", "is_set"),
                                      ("seats", "is_not_set")])
        value: Any = None
        if operator in ("is_set", "is_not_set"):
            pass
        elif operator in ("eq", "neq"):
            value = rng.choice(PLANS)
        elif operator in ("in", "not_in"):
            value = rng.sample(PLANS, 2)
        elif field == "seats":
            value = rng.choice([3, 7.5, 12])
        elif field == "signed_up":
            value = rng.choice(["-30d", "-2w", "-36h", (NOW - timedelta(days=45)).date().isoformat(),
                                (NOW - timedelta(days=10)).isoformat()])
        elif operator in ("contains", "not_contains"):
            value = rng.choice(["acme", "EXAMPLE"])
        leaf = {"field": field, "operator": operator}
        return leaf if value is None else {**leaf, "value": value}
    leaf = {"event": rng.choice(EVENTS), "operator": rng.choice(["gte", "lte", "eq", "gt", "lt"]),
            "value": rng.choice([0, 1, 2, 3])}
    window = rng.random()
    if window < 0.5:
        leaf["within"] = rng.choice(["7d", "30d", "36h", "3w"])
    elif window < 0.75:
        leaf["date_from"] = (NOW - timedelta(days=40)).isoformat()
        leaf["date_to"] = (NOW - timedelta(days=rng.choice([5, 20]))).date().isoformat()
    if rng.random() < 0.3:
        leaf["filters"] = [{"property": "path", "operator": "eq", "value": rng.choice(PATHS)}]
    return leaf


def random_tree(rng: random.Random, depth: int = 0) -> dict:
    rules = []
    for _ in range(rng.randint(1 if depth else 2, 3)):
        rules.append(random_tree(rng, depth + 1) if depth < 2 and rng.random() < 0.3 else random_leaf(rng))
    return {"op": rng.choice(["and", "or"]), "rules": rules}


# --- the independent evaluation -------------------------------------------------------------------


def instant(text: Any) -> datetime | None:
    if not isinstance(text, str):
        return None
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)


SPANS = {"h": timedelta(hours=1), "d": timedelta(days=1), "w": timedelta(weeks=1)}


def span(text: str) -> timedelta:
    return int(text.strip("-")[:-1]) * SPANS[text[-1]]


def holds(node: dict, traits: dict, events: list[tuple[str, datetime, dict]]) -> bool:
    """Whether a person with `traits` and `events` ((name, timestamp, properties) each) is in `node`."""
    if "op" in node:
        results = [holds(child, traits, events) for child in node["rules"]]
        return all(results) if node["op"] == "and" else any(results)
    if "event" in node:
        if "within" in node:
            low, high, closed = NOW - span(node["within"]), NOW, "right"
        elif "date_from" in node:
            low, high, closed = instant(node["date_from"]), instant(node["date_to"]), "left"
        else:
            low, high, closed = None, NOW, "right"
        n = 0
        for event, at, properties in events:
            if event != node["event"] or (low is not None and (at <= low if closed == "right" else at < low)):
                continue
            if at > high or (at == high and closed == "left"):
                continue
            if all(matches(properties, f) for f in node.get("filters", [])):
                n += 1
        value = node["value"]
        return {"gte": n >= value, "lte": n <= value, "eq": n == value, "gt": n > value, "lt": n < value}[node["operator"]]
    value = node.get("value")
    if node["operator"] in ("gt", "gte", "lt", "lte") and isinstance(value, str):
        threshold = NOW - span(value) if value.startswith("-") else instant(value)
        current = instant(traits.get(node["field"]))
        if current is None:
            return False
        return {"gt": current > threshold, "gte": current >= threshold, "lt": current < threshold,
                "lte": current <= threshold}[node["operator"]]
    return matches(traits, {"property": node["field"], "operator": node["operator"], "value": value})


@pytest.fixture
def people(acme):  # noqa: ANN001, ANN201
    messages = generate(seed=3)
    with schema_context(acme.tenant.schema_name):
        clock = Clock(received_at=NOW, sent_at=None, retention_days=3650)
        for start in range(0, len(messages), 500):
            events_write(rows=[parse_segment(m, clock) for m in messages[start:start + 500]], received_at=NOW)
        with connection.cursor() as cursor:
            cursor.execute('SELECT "timestamp", event, distinct_id, properties::text FROM events')
            events = pd.DataFrame(cursor.fetchall(), columns=["timestamp", "event", "distinct_id", "properties"])
            cursor.execute("SELECT distinct_id, person_id FROM person_distinct_ids")
            owners = dict(cursor.fetchall())
            cursor.execute("SELECT id, traits::text FROM persons")
            traits = {pid: json.loads(t) for pid, t in cursor.fetchall()}
    events["properties"] = events["properties"].map(json.loads)
    events["person"] = events["distinct_id"].map(owners)
    events["timestamp"] = pd.to_datetime(events["timestamp"], utc=True)
    merged = events.groupby("person")["distinct_id"].nunique()
    assert (merged > 1).sum() > 100  # many persons hold the events of more than one distinct id
    by_person: dict[int, list] = {}
    for person, event, at, properties in zip(events["person"], events["event"], events["timestamp"],
                                             events["properties"]):
        by_person.setdefault(person, []).append((event, at.to_pydatetime(), properties))
    return acme.tenant, traits, by_person


def expected_members(tree: dict, traits: dict, events_by_person: dict) -> set[int]:
    return {pid for pid, t in traits.items() if holds(tree, t, events_by_person.get(pid, []))}


def members(segment_id: int) -> set[int]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT person_id FROM segment_members WHERE segment_id = %s", [segment_id])
        return {row[0] for row in cursor.fetchall()}


def test_random_rule_trees_agree_with_pandas(people):
    tenant, traits, events_by_person = people
    rng = random.Random(7)
    sizes = []
    with schema_context(tenant.schema_name), time_machine.travel(NOW, tick=False):
        for n in range(60):
            tree = random_tree(rng)
            expected = expected_members(tree, traits, events_by_person)
            segment = services.segment_create(name=f"random-{n}", rules=tree)
            assert members(segment.pk) == expected, tree
            assert segment.size == len(expected)
            assert services.segment_preview(rules=tree)["count"] == len(expected)
            sizes.append(len(expected))
    # The trees are neither all empty nor all full.
    assert sum(0 < size < len(traits) for size in sizes) > 30


def test_relative_windows_follow_the_clock(people):
    tenant, traits, events_by_person = people
    tree = {"op": "and", "rules": [{"event": "Buy", "operator": "gte", "value": 1, "within": "7d"},
                                   {"field": "signed_up", "operator": "gte", "value": "-30d"}]}
    with schema_context(tenant.schema_name):
        with time_machine.travel(NOW, tick=False):
            segment = services.segment_create(name="recent-buyers", rules=tree)
            assert members(segment.pk) == expected_members(tree, traits, events_by_person)
        later = NOW + timedelta(days=20)
        with time_machine.travel(later, tick=False):
            services.segment_refresh(segment_id=segment.pk)
        # Twenty days on, nobody bought in the last 7 days (no events after NOW + 1 hour).
        assert members(segment.pk) == set()
