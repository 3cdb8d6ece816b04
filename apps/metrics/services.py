"""Writes of metrics: definitions, values, partitions (DESIGN §6)."""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone
from typing import Any

import msgspec
import psycopg
from django.conf import settings
from django.db import IntegrityError, connection, transaction
from psycopg.types.json import set_json_dumps

from apps.core.exceptions import ValidationFailed
from apps.core.names import check_name
from apps.core.partitions import PartitionedTable
from apps.metrics.exceptions import MetricAlreadyExists
from apps.metrics.ingestion import (
    DIMENSION,
    MAX_DIMENSIONS,
    BatchItem,
    Refused,
    Rules,
    ValueIn,
    ValueRow,
    latest_allowed,
    series_of,
    value_row,
)
from apps.metrics.models import Metric
from apps.metrics.queries import rollup
from apps.metrics.selectors import metric_get, metrics_by_name

VALUES = PartitionedTable("metric_values", "timestamp")
BATCH_ID = re.compile(r"^[A-Za-z0-9_\-]{1,64}$")
# How long a batch id is remembered: far longer than any sender retries a batch.
BATCH_MEMORY = timedelta(days=7)
MAX_TAGS = 50
_encode_sorted = msgspec.json.Encoder(order="sorted").encode
# (schema, metric id, series) recorded in `metric_series` and committed, so writes skip them (a
# metric's id is never reused, nor is a schema's name).
_KNOWN_SERIES: set[tuple[str, int, int]] = set()
# The fields a PATCH may change; the name and type define what stored values mean.
MUTABLE = ("display_name", "unit", "description", "dimensions", "tags")


def _check_lists(*, dimensions: list[str], tags: list[str]) -> None:
    if not isinstance(dimensions, list) or not isinstance(tags, list):
        raise ValidationFailed("`dimensions` and `tags` must be lists.", details={"dimensions": dimensions, "tags": tags})
    if len(dimensions) > MAX_DIMENSIONS or len(set(dimensions)) != len(dimensions) or not all(
            isinstance(d, str) and DIMENSION.match(d) for d in dimensions):
        raise ValidationFailed(f"`dimensions` must be at most {MAX_DIMENSIONS} distinct names of letters, digits, "
                               "`_ . -`.", details={"dimensions": dimensions})
    if len(tags) > MAX_TAGS or not all(isinstance(t, str) and 0 < len(t) <= 50 for t in tags):
        raise ValidationFailed(f"`tags` must be at most {MAX_TAGS} strings of 1 to 50 characters.",
                               details={"tags": tags})


def check_definition(*, name: str, metric_type: str, dimensions: list[str], tags: list[str]) -> None:
    """Raise ValidationFailed naming the field if a definition is not valid (the API and the console)."""
    check_name(name)
    if metric_type not in Metric.Type.values:
        raise ValidationFailed(f"`metric_type` must be one of {Metric.Type.values}.", details={"metric_type": metric_type})
    _check_lists(dimensions=dimensions, tags=tags)


def metric_create(*, name: str, metric_type: str, display_name: str = "", unit: str = "", description: str = "",
                  dimensions: list[str] | None = None, tags: list[str] | None = None) -> Metric:
    dimensions, tags = list(dimensions or []), list(tags or [])
    check_definition(name=name, metric_type=metric_type, dimensions=dimensions, tags=tags)
    try:
        with transaction.atomic():
            return Metric.objects.create(name=name, metric_type=metric_type, display_name=display_name, unit=unit,
                                         description=description, dimensions=dimensions, tags=tags)
    except IntegrityError:
        raise MetricAlreadyExists(f"A metric {name!r} already exists.") from None


def metric_update(*, name: str, changes: dict[str, Any]) -> Metric:
    fixed = sorted(set(changes) - set(MUTABLE))
    if fixed:
        raise ValidationFailed(f"{fixed} cannot be changed; create another metric.", details={f: "immutable" for f in fixed})
    metric = metric_get(name=name)
    for field, value in changes.items():
        setattr(metric, field, value)
    _check_lists(dimensions=list(metric.dimensions), tags=list(metric.tags))
    metric.save()
    return metric


def metric_delete(*, name: str) -> int:
    """Delete the metric and every value it has. Returns how many values went."""
    with transaction.atomic():
        metric = metric_get(name=name)
        with connection.cursor() as cursor:
            cursor.execute("DELETE FROM metric_values WHERE metric_id = %s", [metric.id])
            deleted = cursor.rowcount
            cursor.execute("DELETE FROM metric_rollups WHERE metric_id = %s", [metric.id])
            cursor.execute("DELETE FROM metric_dirty WHERE metric_id = %s", [metric.id])
            cursor.execute("DELETE FROM metric_series WHERE metric_id = %s", [metric.id])
        metric.delete()
    return deleted


def _over_series_limit(rows: list[ValueRow]) -> set[int]:
    """Indexes of the rows that would start a series past METRIC_MAX_SERIES for their metric (a
    property value sent as a dimension would otherwise make a series per event). Series this
    process knows are stored are never checked again; a race between two writers may pass the
    limit by the few series they add at once."""
    schema, limit = connection.schema_name, settings.METRIC_MAX_SERIES
    keyed = [(r.metric_id, series_of(_encode_sorted(r.dimensions))) for r in rows]
    unknown = {key for key in keyed if (schema, *key) not in _KNOWN_SERIES}
    if not unknown:
        return set()
    metric_ids = sorted({m for m, _ in unknown})
    with connection.cursor() as cursor:
        cursor.execute("SELECT metric_id, count(*) FROM metric_series WHERE metric_id = ANY(%s) GROUP BY 1",
                       [metric_ids])
        counts = dict(cursor.fetchall())
        cursor.execute("SELECT metric_id, series FROM metric_series WHERE (metric_id, series) IN "
                       "(SELECT * FROM unnest(%s::int8[], %s::int8[]))",
                       [[m for m, _ in unknown], [s for _, s in unknown]])
        stored = set(cursor.fetchall())
    refused, admitted = set(), set()
    for index, key in enumerate(keyed):
        if key not in unknown or key in stored or key in admitted:
            continue
        if counts.get(key[0], 0) >= limit:
            refused.add(index)
        else:
            counts[key[0]] = counts.get(key[0], 0) + 1
            admitted.add(key)
    return refused


def _series_limit_reason() -> str:
    return (f"The metric has {settings.METRIC_MAX_SERIES} series (combinations of dimension values), its limit; "
            "this value would start another.")


def _write(rows: list[ValueRow], received_at: datetime) -> None:
    """Binary COPY of the values with their series, the series recorded, and the minutes they touch
    queued for the roll-up (rollup.py, step 2), in one transaction."""
    if not rows:
        return
    minutes = sorted({(r.metric_id, r.timestamp.astimezone(timezone.utc).replace(second=0, microsecond=0))
                      for r in rows})
    series: dict[tuple[int, bytes], int] = {}
    with transaction.atomic(), connection.cursor() as cursor:
        raw = cursor.cursor
        # On this cursor only: jsonb values are given as JSON bytes msgspec already encoded.
        set_json_dumps(bytes, context=raw)
        with raw.copy('COPY metric_values (metric_id, "timestamp", value, dimensions, series, received_at) '
                      "FROM STDIN (FORMAT BINARY)") as copy:
            copy.set_types(["int8", "timestamptz", "float8", "jsonb", "int8", "timestamptz"])
            for r in rows:
                encoded = _encode_sorted(r.dimensions)
                key = (r.metric_id, encoded)
                if key not in series:
                    series[key] = series_of(encoded)
                copy.write_row((r.metric_id, r.timestamp, r.value, encoded, series[key], received_at))
        schema = connection.schema_name
        new = [(m, d, number) for (m, d), number in series.items() if (schema, m, number) not in _KNOWN_SERIES]
        with psycopg.Cursor(raw.connection) as insert:
            insert.execute(
                "WITH known AS (INSERT INTO metric_series (metric_id, series, dimensions) "
                "SELECT m, s, d::jsonb FROM unnest(%s::int8[], %s::int8[], %s::text[]) AS u(m, s, d) "
                "ON CONFLICT DO NOTHING) "
                "INSERT INTO metric_dirty (metric_id, minute) SELECT * FROM unnest(%s::int8[], %s::timestamptz[])",
                [[m for m, _, _ in new], [number for _, _, number in new], [d.decode() for _, d, _ in new],
                 [m for m, _ in minutes], [t for _, t in minutes]])
        if new:
            transaction.on_commit(lambda: _remember_series(schema, new))


def _remember_series(schema: str, new: list[tuple[int, bytes, int]]) -> None:
    if len(_KNOWN_SERIES) > 100_000:
        _KNOWN_SERIES.clear()
    _KNOWN_SERIES.update((schema, m, number) for m, _, number in new)


def metric_value_record(*, name: str, data: Any) -> ValueRow:
    """Store one value of metric `name`; a value the metric refuses raises ValidationFailed."""
    metric = metric_get(name=name)
    item = _decode(data, ValueIn)
    now = datetime.now(timezone.utc)
    try:
        row = value_row(Rules.of(metric), item, now, latest_allowed(now))
    except Refused as exc:
        raise ValidationFailed(str(exc), details={"value": str(exc)}) from None
    if _over_series_limit([row]):
        raise ValidationFailed(_series_limit_reason(), details={"dimensions": "too many series"},
                               code="too_many_series")
    _write([row], now)
    return row


def metric_rows_record(rows: list[ValueRow], now: datetime) -> None:
    """Store values already checked against their metrics (value_row), all or none: a value that
    would pass a metric's series limit refuses them all."""
    if _over_series_limit(rows):
        raise ValidationFailed(_series_limit_reason(), details={"dimensions": "too many series"},
                               code="too_many_series")
    _write(rows, now)


def metric_values_record_batch(*, data: Any) -> dict[str, Any]:
    """Store the valid values of a batch, all in one statement; the others are listed with their
    index and reason. Values of several metrics may be mixed. A batch with a `batch_id` is stored
    once: sent again (a retry), it gets the first answer with `"duplicate": true`."""
    if not isinstance(data, dict) or not isinstance(data.get("values"), list):
        raise ValidationFailed("The body must be {\"values\": [...]}.", details={"values": "missing"})
    batch_id = data.get("batch_id")
    if batch_id is not None and (not isinstance(batch_id, str) or not BATCH_ID.match(batch_id)):
        raise ValidationFailed("`batch_id` must be 1 to 64 letters, digits, `-` or `_`.",
                               details={"batch_id": batch_id})
    items = data["values"]
    if not items or len(items) > settings.INGEST_MAX_BATCH_EVENTS:
        raise ValidationFailed(f"A batch holds 1 to {settings.INGEST_MAX_BATCH_EVENTS} values.",
                               details={"values": len(items)})
    now = datetime.now(timezone.utc)
    names = {item.get("metric") for item in items if isinstance(item, dict) and isinstance(item.get("metric"), str)}
    rules = {name: Rules.of(metric) for name, metric in metrics_by_name(names=names).items()}
    latest = latest_allowed(now)
    rows, rejected, positions = [], [], []
    for index, raw in enumerate(items):
        try:
            item = _decode(raw, BatchItem)
            metric = rules.get(item.metric) if isinstance(item.metric, str) else None
            if metric is None:
                raise Refused(f"No metric {item.metric!r}.")
            rows.append(value_row(metric, item, now, latest))
            positions.append(index)
        except (Refused, ValidationFailed) as exc:
            rejected.append({"index": index, "error": str(exc)})
    over = _over_series_limit(rows)
    if over:
        rejected = sorted([*rejected, *({"index": positions[i], "error": _series_limit_reason()} for i in over)],
                          key=lambda r: r["index"])
        rows = [row for i, row in enumerate(rows) if i not in over]
    answer = {"accepted": len(rows), "rejected": rejected}
    with transaction.atomic():
        if batch_id is not None and rows:
            first = _batch_claim(batch_id, answer, now)
            if first is not None:
                return {**first, "duplicate": True}
        _write(rows, now)
    return answer


def _batch_claim(batch_id: str, answer: dict[str, Any], now: datetime) -> dict[str, Any] | None:
    """Records the batch (in the transaction that stores it); None if it is new, else the answer
    it got the first time. A copy racing the first waits on its row until the first commits."""
    with connection.cursor() as cursor:
        cursor.execute("INSERT INTO metric_batches (batch_id, accepted, rejected, received_at) "
                       "VALUES (%s, %s, %s::jsonb, %s) ON CONFLICT DO NOTHING RETURNING 1",
                       [batch_id, answer["accepted"], msgspec.json.encode(answer["rejected"]).decode(), now])
        if cursor.fetchone() is not None:
            return None
        cursor.execute("SELECT accepted, rejected FROM metric_batches WHERE batch_id = %s", [batch_id])
        accepted, rejected = cursor.fetchone()
    return {"accepted": accepted, "rejected": rejected if isinstance(rejected, list) else msgspec.json.decode(rejected)}


def _decode(data: Any, kind: type) -> Any:
    if not isinstance(data, dict):
        raise ValidationFailed("A value must be a JSON object.", details={"value": "not an object"})
    try:
        return msgspec.convert(data, kind)
    except msgspec.ValidationError as exc:
        raise ValidationFailed(f"The value is not valid: {exc}", details={"value": str(exc)}) from None


def metrics_tenant_setup() -> None:
    """In a new tenant's schema (the current one): this month's and the coming months' partitions."""
    VALUES.ensure(now=datetime.now(timezone.utc), ahead=settings.EVENT_PARTITIONS_AHEAD)


def metrics_upkeep(*, retention_days: int) -> dict[str, object]:
    """In the current tenant schema: partitions ahead, and values past the retention dropped."""
    now = datetime.now(timezone.utc)
    made = VALUES.ensure(now=now, ahead=settings.EVENT_PARTITIONS_AHEAD)
    dropped = VALUES.drop_expired(retention_days=retention_days, now=now)
    with connection.cursor() as cursor:
        cursor.execute("DELETE FROM metric_rollups WHERE bucket < %s", [now - timedelta(days=retention_days)])
        cursor.execute("DELETE FROM metric_batches WHERE received_at < %s", [now - BATCH_MEMORY])
    return {"made": made, "dropped": dropped}


def metrics_roll() -> dict[str, int]:
    """Roll the values written since the last run into minute, hour and day rollups (current schema)."""
    return rollup.roll()
