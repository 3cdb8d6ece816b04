"""A subject access request's file: everything held about one person, as one zip.

    manifest.json        what the file is: tenant, subject, when, counts, the files inside
    person.json          the person: id, every distinct id, traits, created/updated
    events.jsonl         every event of the person's distinct ids, oldest first, one JSON object a line
    segments.json        the segments the person is a member of (as of their last refresh)
    metric_values.jsonl  metric values whose person dimension (PERSON_DIMENSIONS) names one of the ids

The zip is written to a spooled temporary file (memory up to SPOOL_BYTES, then disk) with events
read in chunks, so memory stays bounded; past PRIVACY_EXPORT_MAX_BYTES it stops with ExportTooLarge.
"""

from __future__ import annotations

import hashlib
import tempfile
import zipfile
from dataclasses import dataclass, field
from datetime import datetime, timezone
from functools import reduce
from operator import or_
from typing import Any, Iterable

import msgspec
from django.conf import settings
from django.db.models import Q

from apps.events.export import COLUMNS
from apps.events.models import Event
from apps.events.selectors import PersonView
from apps.metrics.models import Metric, MetricValue
from apps.segments.selectors import segments_of_person

FORMAT = "person-export/1"
CONTENT_TYPE = "application/zip"
CHUNK = 2000
SPOOL_BYTES = 16 * 1024 * 1024
# Metric dimensions that name a person: a value of one of these equal to one of the person's
# distinct ids ties the metric value to them.
PERSON_DIMENSIONS = ("user_id", "userId", "distinct_id", "anonymous_id", "anonymousId", "person")

_encode = msgspec.json.encode


class ExportTooLarge(Exception):
    pass


@dataclass
class BuiltExport:
    content: bytes
    sha256: str
    counts: dict[str, int] = field(default_factory=dict)


class _Writer:
    """Lines into one member of the zip, refusing to grow the whole past the limit."""

    def __init__(self, archive: zipfile.ZipFile, spool: Any, name: str) -> None:
        self.spool = spool
        self.stream = archive.open(name, "w", force_zip64=True)

    def write(self, data: bytes) -> None:
        self.stream.write(data)
        if self.spool.tell() > settings.PRIVACY_EXPORT_MAX_BYTES:
            self.stream.close()  # the archive can then be closed (and thrown away) as the error rises
            raise ExportTooLarge(f"The export is larger than PRIVACY_EXPORT_MAX_BYTES "
                                 f"({settings.PRIVACY_EXPORT_MAX_BYTES} bytes).")

    def close(self) -> None:
        self.stream.close()


def _lines(writer: _Writer, rows: Iterable[dict[str, Any]]) -> int:
    count, buffer = 0, []
    for row in rows:
        buffer.append(_encode(row) + b"\n")
        count += 1
        if len(buffer) >= 500:
            writer.write(b"".join(buffer))
            buffer.clear()
    writer.write(b"".join(buffer))
    return count


def _events(distinct_ids: list[str]) -> Iterable[dict[str, Any]]:
    rows = (Event.objects.filter(distinct_id__in=distinct_ids).order_by("timestamp", "id")
            .values_list(*COLUMNS).iterator(chunk_size=CHUNK))
    return (dict(zip(COLUMNS, row)) for row in rows)


def _metric_values(distinct_ids: list[str]) -> Iterable[dict[str, Any]]:
    names = dict(Metric.objects.values_list("id", "name"))
    condition = reduce(or_, (Q(**{f"dimensions__{name}__in": distinct_ids}) for name in PERSON_DIMENSIONS))
    rows = (MetricValue.objects.filter(condition).order_by("timestamp", "id")
            .values_list("metric_id", "timestamp", "value", "dimensions", "received_at").iterator(chunk_size=CHUNK))
    return ({"metric": names.get(metric_id), "timestamp": timestamp, "value": value, "dimensions": dimensions,
             "received_at": received_at} for metric_id, timestamp, value, dimensions, received_at in rows)


def export_build(*, person: PersonView, subject: str, tenant_slug: str, job_id: int) -> BuiltExport:
    """The zip of everything held about `person` in the current tenant schema (read it inside one
    snapshot: the caller's transaction)."""
    counts: dict[str, int] = {}
    with tempfile.SpooledTemporaryFile(max_size=SPOOL_BYTES) as spool:
        with zipfile.ZipFile(spool, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=6) as archive:
            archive.writestr("person.json", _encode({
                "id": person.id, "distinct_ids": person.distinct_ids, "traits": person.traits,
                "created_at": person.created_at, "updated_at": person.updated_at}))
            counts["distinct_ids"] = len(person.distinct_ids)
            for name, rows in (("events.jsonl", _events(person.distinct_ids)),
                               ("metric_values.jsonl", _metric_values(person.distinct_ids))):
                writer = _Writer(archive, spool, name)
                counts[name.split(".")[0]] = _lines(writer, rows)
                writer.close()
            segments = [{"id": s.pk, "name": s.name, "display_name": s.display_name, "description": s.description,
                         "refreshed_at": s.refreshed_at} for s in segments_of_person(person_id=person.id).order_by("name")]
            archive.writestr("segments.json", _encode(segments))
            counts["segments"] = len(segments)
            archive.writestr("manifest.json", _encode({
                "format": FORMAT, "tenant": tenant_slug, "job_id": job_id, "subject": subject,
                "generated_at": datetime.now(timezone.utc), "counts": counts,
                "files": ["person.json", "events.jsonl", "segments.json", "metric_values.jsonl"],
            }))
        if spool.tell() > settings.PRIVACY_EXPORT_MAX_BYTES:
            raise ExportTooLarge(f"The export is larger than PRIVACY_EXPORT_MAX_BYTES "
                                 f"({settings.PRIVACY_EXPORT_MAX_BYTES} bytes).")
        spool.seek(0)
        content = spool.read()
    return BuiltExport(content=content, sha256=hashlib.sha256(content).hexdigest(), counts=counts)
