"""Checks run on every ingested batch, registered by higher layers (DESIGN §2: events never imports
them). The governance app registers the tracking plan here in its AppConfig.ready().

A check is called once per batch, in the tenant's schema, with the parsed events (`EventRow`s,
each knowing its index in the request) and the tenant. It answers None (nothing to say: the
common, cheap case) or a `CheckOutcome`:
- `rejected`: {position in `rows`: reason}: those events are not stored and are answered as
  rejected by index, like every other invalid event;
- `warnings`: {position in `rows`: [message, ...]}: stored, and the messages answered by index;
- `after`: called once the request's fate is known (events written, or nothing to write), never
  when the request is refused as a whole (a 429): for recording what the check saw.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

from apps.events.ingestion import EventRow


@dataclass
class CheckOutcome:
    rejected: dict[int, str] = field(default_factory=dict)
    warnings: dict[int, list[str]] = field(default_factory=dict)
    after: Callable[[], None] | None = None


EventCheck = Callable[..., "CheckOutcome | None"]

_checks: list[EventCheck] = []


def event_checks_register(check: EventCheck) -> None:
    """Add `check(rows, *, tenant) -> CheckOutcome | None` to every ingestion path (idempotent)."""
    if check not in _checks:
        _checks.append(check)


def event_checks_unregister(check: EventCheck) -> None:
    if check in _checks:
        _checks.remove(check)


@dataclass
class BatchVerdict:
    rows: list[EventRow]
    rejected: list[dict[str, Any]]
    warnings: list[dict[str, Any]]
    after: list[Callable[[], None]]


def event_checks_run(rows: list[EventRow], rejected: list[dict[str, Any]], *, tenant: Any) -> BatchVerdict:
    """Run the registered checks on a parsed batch: the rows to store, every rejection by index
    (the parser's and the checks'), the warnings by index, and what to call afterwards."""
    if not _checks or not rows:
        return BatchVerdict(rows, rejected, [], [])
    warnings: list[dict[str, Any]] = []
    after: list[Callable[[], None]] = []
    for check in _checks:
        outcome = check(rows, tenant=tenant)
        if outcome is None:
            continue
        if outcome.after is not None:
            after.append(outcome.after)
        warnings.extend({"index": rows[position].index, "warnings": messages}
                        for position, messages in outcome.warnings.items() if messages)
        if outcome.rejected:
            rejected = sorted([*rejected, *({"index": rows[position].index, "error": reason}
                                            for position, reason in outcome.rejected.items())],
                              key=lambda item: item["index"])
            rows = [row for position, row in enumerate(rows) if position not in outcome.rejected]
    warnings.sort(key=lambda item: item["index"])
    return BatchVerdict(rows, rejected, warnings, after)
