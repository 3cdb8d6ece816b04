"""Alerts (docs/alerts.md): rules checked against the query engine, the state machine of breaches
and recoveries, and deliveries by email and webhook.

What a check computes (`rule_evaluate`), with `now` the check's time and P the rule's period:
- above / below: the query runs over [now - P, now). trends: the value is the first series'
  `total` (the series' math over the whole range). metric: the first series' buckets combined:
  count and sum add up, min and max are the least and greatest bucket, last the latest non-empty
  bucket, avg = sum / count (two runs), rate = sum / P's seconds; a percentile cannot be combined,
  so it is the worst bucket (the greatest for `above`, the least for `below`). No value (an avg of
  nothing) decides nothing: the state stays as it was.
- anomaly: buckets are the query's interval (trends) or granularity (metric) in its time zone. The
  checked value is the last complete bucket (the one just before the bucket holding now); the
  history is every complete bucket that starts at or after now - P before it. The value is a breach
  when it lies outside `apps.metrics.analysis.fences` of the history: z-score mean +/- threshold
  standard deviations, or IQR [Q1 - k IQR, Q3 + k IQR]. With no spread (a flat history) the band is
  one point, so any different value is an anomaly. Fewer than MIN_HISTORY non-empty history
  buckets decide nothing.

The state machine (`_record`), per rule, under its row lock:
- not in breach -> breach: a `breach` firing; notified unless the cooldown since the last notified
  breach has not elapsed (then recorded with notified=false, nothing sent);
- breach -> breach: nothing; breach -> not in breach: a `recovery` firing, notified when the
  breach it ends was;
- a check that fails (the query errors) sets state `error` with the message; breach tracking is
  unchanged, nothing is sent, and nothing is raised to beat.

Deliveries: one row per (firing, channel), sent by `alert_deliver` tasks after the firing commits.
A task claims its delivery with a conditional UPDATE (pending/retrying, or sending past the lease)
and marks it `sent` once the mail server or the webhook accepted it, so two copies of a task send
once. The one window left is a worker dying between the acceptance and that update: after the
lease the delivery is sent again (receivers de-duplicate on X-Analytics-Delivery).
"""

from __future__ import annotations

import hashlib
import hmac
import html as html_lib
import json
import logging
import re
import smtplib
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from celery.exceptions import SoftTimeLimitExceeded
from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.mail import EmailMultiAlternatives, get_connection
from django.core.validators import validate_email
from django.db import IntegrityError, connection, transaction
from django.db.models import F, Q
from django.utils import timezone
from django_tenants.utils import schema_context

from apps.alerts.models import AlertDelivery, AlertFiring, AlertRule, webhook_secret
from apps.alerts.webhooks import WebhookRefused, url_check, webhook_post
from apps.core.buckets import bucket_starts
from apps.core.exceptions import Conflict, DomainError, ValidationFailed
from apps.core.names import check_name
from apps.core.signals import audit_event
from apps.insights.engine import query_check, query_run
from apps.insights.spec import MetricSpec, TrendsSpec
from apps.metrics.analysis import fences
from apps.metrics.exceptions import MetricNotFound
from apps.metrics.selectors import metric_get
from apps.tenancy.selectors import tenant_current

logger = logging.getLogger(__name__)

RULE_FIELDS = ("name", "display_name", "query", "condition", "threshold", "method", "period", "cooldown",
               "channels", "enabled")
# Changing one of these starts the rule afresh: state unknown, no breach open.
WATCHED_FIELDS = ("query", "condition", "threshold", "method", "period")
MAX_CHANNELS = 10
MAX_COOLDOWN_SECONDS = 366 * 86400
MIN_HISTORY = 8
DEFAULT_THRESHOLD = {"zscore": 3.0, "iqr": 1.5}
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
_DURATION = re.compile(r"^([1-9][0-9]{0,6})([smhdw])$")
# The longest a bucket of each interval lasts (months: 31 days), to promise MIN_HISTORY buckets.
_BUCKET_SECONDS = {"minute": 60, "hour": 3600, "day": 86400, "week": 604800, "month": 31 * 86400}
_STEP = {"minute": timedelta(minutes=1), "hour": timedelta(hours=1), "day": timedelta(days=1),
         "week": timedelta(weeks=1)}
SIGNATURE_HEADER = "X-Analytics-Signature"
TIMESTAMP_HEADER = "X-Analytics-Timestamp"


# --- durations --------------------------------------------------------------------------------------


def duration_seconds(value: str) -> int:
    match = _DURATION.match(value)
    assert match is not None, value
    return int(match.group(1)) * _UNITS[match.group(2)]


def _duration(field: str, value: Any, *, allow_zero: bool = False) -> int:
    """Seconds from "30m"-style text (s, m, h, d, w) or a number of seconds."""
    if isinstance(value, bool):
        value = None
    if isinstance(value, int) and (value > 0 or (allow_zero and value == 0)):
        return value
    if isinstance(value, str) and _DURATION.match(value):
        return duration_seconds(value)
    if allow_zero and value in ("0", 0):
        return 0
    raise ValidationFailed(f"`{field}` must be a duration like \"30m\", \"1h\" or \"1d\" (units s, m, h, d, w)"
                           + (" or a number of seconds." if allow_zero else "."), details={field: value})


def _period_text(seconds: int) -> str:
    for unit in ("w", "d", "h", "m"):
        if seconds % _UNITS[unit] == 0:
            return f"{seconds // _UNITS[unit]}{unit}"
    return f"{seconds}s"


# --- definitions ------------------------------------------------------------------------------------


def rule_create(*, tenant: Any, name: Any, **fields: Any) -> AlertRule:
    rule = AlertRule(name=name)
    return _save(rule, tenant, {k: v for k, v in fields.items() if k in RULE_FIELDS}, creating=True)


def rule_update(*, rule: AlertRule, tenant: Any, changes: dict[str, Any], rotate_secret: bool = False) -> AlertRule:
    changes = {k: v for k, v in changes.items() if k in RULE_FIELDS}
    if rotate_secret:
        rule.secret = webhook_secret()
    return _save(rule, tenant, changes, creating=False)


def _save(rule: AlertRule, tenant: Any, changes: dict[str, Any], *, creating: bool) -> AlertRule:
    before = {field: getattr(rule, field) for field in WATCHED_FIELDS}
    if "cooldown" in changes:
        changes["cooldown"] = _duration("cooldown", changes["cooldown"], allow_zero=True)
        if changes["cooldown"] > MAX_COOLDOWN_SECONDS:
            raise ValidationFailed("`cooldown` must be at most 366d.", details={"cooldown": changes["cooldown"]})
    if "period" in changes:
        changes["period"] = _period_text(_duration("period", changes["period"]))
    for field, value in changes.items():
        setattr(rule, field, value)
    rule_check(rule, tenant)
    restart = not creating and any(getattr(rule, field) != value for field, value in before.items())
    if restart:
        rule.state, rule.breach_since, rule.breach_notified, rule.last_value = AlertRule.State.UNKNOWN, None, False, None
        rule.last_checked_at, rule.last_error = None, ""
    # An update writes only the definition, so a check recording its outcome meanwhile is not undone.
    fields = None if creating or restart else [*RULE_FIELDS, "secret", "updated_at"]
    try:
        with transaction.atomic():
            rule.save(update_fields=fields)
    except IntegrityError:
        raise Conflict(f"An alert {rule.name!r} already exists.", code="alert_exists") from None
    return rule


def rule_check(rule: AlertRule, tenant: Any) -> None:
    """ValidationFailed naming the field (`invalid_webhook` for a refused webhook URL); normalises
    the method, the threshold's default and the channels."""
    check_name(rule.name)
    if not isinstance(rule.display_name, str) or len(rule.display_name) > 200:
        raise ValidationFailed("`display_name` must be text of at most 200 characters.",
                               details={"display_name": rule.display_name})
    if rule.condition not in AlertRule.Condition.values:
        raise ValidationFailed(f"`condition` must be one of {AlertRule.Condition.values}.",
                               details={"condition": rule.condition})
    if not isinstance(rule.period, str) or not _DURATION.match(rule.period):
        raise ValidationFailed("`period` must be a duration like \"1h\".", details={"period": rule.period})
    period = duration_seconds(rule.period)
    if period < 60:
        raise ValidationFailed("`period` must be at least 1m.", details={"period": rule.period})
    if period > settings.QUERY_MAX_RANGE_DAYS * 86400:
        raise ValidationFailed(f"`period` must be at most {settings.QUERY_MAX_RANGE_DAYS}d.",
                               details={"period": rule.period})
    if rule.condition == AlertRule.Condition.ANOMALY:
        rule.method = rule.method or AlertRule.Method.ZSCORE
        if rule.method not in ("zscore", "iqr"):
            raise ValidationFailed("`method` must be zscore or iqr.", details={"method": rule.method})
        if rule.threshold is None:
            rule.threshold = DEFAULT_THRESHOLD[rule.method]
    else:
        if rule.method:
            raise ValidationFailed("`method` is for anomaly rules only.", details={"method": rule.method})
        if rule.threshold is None:
            raise ValidationFailed(f"An `{rule.condition}` rule needs a `threshold`.", details={"threshold": None})
    if isinstance(rule.threshold, bool) or not isinstance(rule.threshold, (int, float)) \
            or rule.threshold != rule.threshold or abs(rule.threshold) == float("inf"):
        raise ValidationFailed("`threshold` must be a finite number.", details={"threshold": rule.threshold})
    if rule.condition == AlertRule.Condition.ANOMALY and rule.threshold <= 0:
        raise ValidationFailed("An anomaly rule's `threshold` (z-score or IQR multiplier) must be above 0.",
                               details={"threshold": rule.threshold})
    rule.threshold = float(rule.threshold)
    if isinstance(rule.cooldown, bool) or not isinstance(rule.cooldown, int) \
            or not 0 <= rule.cooldown <= MAX_COOLDOWN_SECONDS:
        raise ValidationFailed("`cooldown` must be a duration or a number of seconds.",
                               details={"cooldown": rule.cooldown})
    _query_check(rule, tenant, period)
    rule.channels = _channels_check(rule.channels)


def _query_check(rule: AlertRule, tenant: Any, period: int) -> None:
    query = rule.query
    if not isinstance(query, dict):
        raise ValidationFailed("`query` must be a query spec (an object).", details={"query": "not an object"})
    if query.get("kind") not in ("trends", "metric"):
        raise ValidationFailed("An alert watches a `trends` or a `metric` query.",
                               details={"query": {"kind": query.get("kind")}})
    for field in ("date_from", "date_to"):
        if field in query:
            raise ValidationFailed(f"The rule's `period` sets the range: `query.{field}` is not allowed.",
                                   details={"query": {field: query[field]}})
    try:
        spec, _ = query_check(data=query, tenant=tenant)
    except ValidationFailed as exc:
        raise ValidationFailed(f"`query` is not valid: {exc.message}", details={"query": exc.details}) from None
    if isinstance(spec, TrendsSpec) and spec.breakdown is not None:
        raise ValidationFailed("An alert watches one series: `query.breakdown` is not allowed.",
                               details={"query": {"breakdown": "unsupported"}})
    if isinstance(spec, MetricSpec):
        if spec.group_by:
            raise ValidationFailed("An alert watches one series: `query.group_by` is not allowed.",
                                   details={"query": {"group_by": spec.group_by}})
        try:
            metric = metric_get(name=spec.metric)
        except MetricNotFound:
            raise ValidationFailed(f"No metric {spec.metric!r}.", details={"query": {"metric": spec.metric}}) from None
        if spec.aggregation == "rate" and metric.metric_type != "counter":
            raise ValidationFailed("`rate` is for counters only.", details={"query": {"aggregation": "rate"}})
    if rule.condition == AlertRule.Condition.ANOMALY:
        interval = _interval(spec)
        needed = (MIN_HISTORY + 2) * _BUCKET_SECONDS[interval]
        if period < needed:
            raise ValidationFailed(
                f"An anomaly rule compares the last complete {interval} with at least {MIN_HISTORY} before it: "
                f"`period` must be at least {_period_text(needed)} for this query's {interval} buckets.",
                details={"period": rule.period})


def _interval(spec: Any) -> str:
    return spec.interval if isinstance(spec, TrendsSpec) else spec.granularity


def _channels_check(channels: Any) -> list[dict[str, str]]:
    if not isinstance(channels, list) or not 1 <= len(channels) <= MAX_CHANNELS:
        raise ValidationFailed(f"`channels` must list 1 to {MAX_CHANNELS} channels.", details={"channels": channels})
    checked = []
    for index, channel in enumerate(channels):
        if not isinstance(channel, dict) or channel.get("type") not in ("email", "webhook"):
            raise ValidationFailed("Each channel is {\"type\": \"email\", \"address\"} or {\"type\": \"webhook\", "
                                   "\"url\"}.", details={"channels": {index: channel}})
        if channel["type"] == "email":
            if set(channel) != {"type", "address"}:
                raise ValidationFailed("An email channel is {\"type\": \"email\", \"address\"}.",
                                       details={"channels": {index: channel}})
            address = channel["address"]
            try:
                if not isinstance(address, str) or len(address) > 254:
                    raise ValidationError("not text")
                validate_email(address)
            except ValidationError:
                raise ValidationFailed("Not a valid email address.",
                                       details={"channels": {index: {"address": address}}}) from None
            checked.append({"type": "email", "address": address.strip()})
        else:
            if set(channel) != {"type", "url"}:
                raise ValidationFailed("A webhook channel is {\"type\": \"webhook\", \"url\"}.",
                                       details={"channels": {index: channel}})
            try:
                url_check(channel["url"])
            except WebhookRefused as exc:
                raise ValidationFailed(f"The webhook URL is refused: {exc.reason}.", code="invalid_webhook",
                                       details={"channels": {index: {"url": exc.reason}}}) from None
            checked.append({"type": "webhook", "url": channel["url"]})
    return checked


# --- checks -----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Reading:
    value: float | None
    breach: bool
    lower: float | None = None
    upper: float | None = None
    bucket: str | None = None  # anomaly: the checked bucket's start


def _run(spec: dict[str, Any], start: datetime, end: datetime, tenant: Any) -> dict[str, Any]:
    return query_run(data={**spec, "date_from": start.isoformat(), "date_to": end.isoformat(), "refresh": True},
                     tenant=tenant)


def rule_evaluate(rule: AlertRule, *, now: datetime, tenant: Any) -> Reading:
    """The rule's value at `now` and whether it breaches (the module's docstring); raises the query
    engine's DomainError when the query fails."""
    start = now - timedelta(seconds=duration_seconds(rule.period))
    spec = dict(rule.query)
    if rule.condition == AlertRule.Condition.ANOMALY:
        return _anomaly(rule, spec, start, now, tenant)
    value = _window_value(rule, spec, start, now, tenant)
    if value is None:
        return Reading(value=None, breach=False)
    breach = value > rule.threshold if rule.condition == AlertRule.Condition.ABOVE else value < rule.threshold
    return Reading(value=value, breach=breach)


def _window_value(rule: AlertRule, spec: dict[str, Any], start: datetime, end: datetime, tenant: Any) -> float | None:
    if spec["kind"] == "trends":
        series = _run(spec, start, end, tenant)["series"]
        return _number(series[0]["total"]) if series else None
    aggregation = spec.get("aggregation", "sum")

    def values(of: str) -> list[float]:
        series = _run({**spec, "aggregation": of}, start, end, tenant)["series"]
        return [float(v) for v in (series[0]["values"] if series else []) if v is not None]

    if aggregation in ("count", "sum"):
        return sum(values(aggregation))
    if aggregation == "rate":
        return sum(values("sum")) / (end - start).total_seconds()
    if aggregation == "avg":
        count = sum(values("count"))
        return sum(values("sum")) / count if count else None
    found = values(aggregation)
    if not found:
        return None
    if aggregation == "min":
        return min(found)
    if aggregation == "last":
        return found[-1]
    if aggregation == "max":
        return max(found)
    return max(found) if rule.condition == AlertRule.Condition.ABOVE else min(found)  # percentiles: the worst


def _number(value: Any) -> float | None:
    return None if value is None else float(value)


def _anomaly(rule: AlertRule, spec: dict[str, Any], start: datetime, now: datetime, tenant: Any) -> Reading:
    # The bucket holding now (a microsecond past now, so a bucket starting exactly now is the current one).
    parsed, probe = query_check(data={**spec, "date_from": start.isoformat(),
                                      "date_to": (now + timedelta(microseconds=1)).isoformat()}, tenant=tenant)
    interval = _interval(parsed)
    current = bucket_starts(probe, interval)[-1].replace(tzinfo=probe.zone)
    if current <= start:
        return Reading(value=None, breach=False)
    answer = _run(spec, start, current, tenant)
    series = answer["series"][0] if answer["series"] else {"buckets": [], "values": []}
    complete = [(label, value) for label, value in zip(series["buckets"], series["values"])
                if datetime.fromisoformat(label) >= start]
    if not complete:
        return Reading(value=None, breach=False)
    bucket, value = complete[-1]
    history = [float(v) for _, v in complete[:-1] if v is not None]
    if value is None or len(history) < MIN_HISTORY:
        return Reading(value=_number(value), breach=False, bucket=bucket)
    band = fences(history, method=rule.method or "zscore", threshold=rule.threshold)
    assert band is not None  # MIN_HISTORY is more than fences needs
    value = float(value)
    return Reading(value=value, breach=value < band["lower"] or value > band["upper"], lower=band["lower"],
                   upper=band["upper"], bucket=bucket)


def check_due(*, now: datetime | None = None) -> int:
    """In a tenant schema (beat): checks each enabled rule due a check, i.e. not checked for
    min(its period, ALERTS_RULE_CHECK_MAX_SECONDS) (less a few seconds for beat's jitter); re-queues
    deliveries whose task was lost. Never raises for one rule. Returns how many rules were checked."""
    now = now or timezone.now()
    tenant = tenant_current()
    slack = timedelta(seconds=min(5.0, settings.ALERTS_CHECK_EVERY_SECONDS / 2))
    checked = 0
    rules = AlertRule.objects.filter(enabled=True).order_by(F("last_checked_at").asc(nulls_first=True), "pk")
    for rule_id, period in rules.values_list("pk", "period"):
        every = timedelta(seconds=min(duration_seconds(period), settings.ALERTS_RULE_CHECK_MAX_SECONDS))
        # A conditional UPDATE claims the check: a second beat, or a tick overlapping a slow one,
        # finds the rule taken and moves on.
        claimed = AlertRule.objects.filter(pk=rule_id, enabled=True).filter(
            Q(last_checked_at__isnull=True) | Q(last_checked_at__lte=now - every + slack)).update(last_checked_at=now)
        if not claimed:
            continue
        try:
            rule_check_now(rule_id=rule_id, now=now, tenant=tenant)
        except SoftTimeLimitExceeded:
            raise  # the tick's time is up: the rules not reached are due at the next one
        except Exception:  # noqa: BLE001 - one rule's failure must not stop the others, nor beat
            logger.exception("alert rule %s: the check failed", rule_id)
        checked += 1
    deliveries_requeue(now=now)
    return checked


def rule_check_now(*, rule_id: int, now: datetime, tenant: Any) -> AlertFiring | None:
    """Evaluates the rule and records the outcome (a firing when the state changes)."""
    rule = AlertRule.objects.filter(pk=rule_id).first()
    if rule is None:
        return None
    try:
        reading = rule_evaluate(rule, now=now, tenant=tenant)
    except DomainError as exc:
        return _record(rule_id, now, error=f"{exc.code}: {exc.message}")
    except SoftTimeLimitExceeded:
        raise
    except Exception as exc:  # noqa: BLE001 - recorded on the rule, logged, never raised to beat
        logger.exception("alert rule %s: the query failed", rule_id)
        return _record(rule_id, now, error=f"The check failed: {type(exc).__name__}.")
    return _record(rule_id, now, reading=reading)


def _record(rule_id: int, now: datetime, *, reading: Reading | None = None, error: str | None = None
            ) -> AlertFiring | None:
    with transaction.atomic():
        rule = AlertRule.objects.select_for_update().filter(pk=rule_id).first()
        if rule is None:
            return None
        fields: dict[str, Any] = {"last_checked_at": now}
        firing = None
        if reading is None:
            fields.update(state=AlertRule.State.ERROR, last_error=(error or "")[:2000])
        else:
            fields.update(last_value=reading.value, last_error="")
            if reading.value is None:
                fields["state"] = AlertRule.State.FIRING if rule.breach_since else AlertRule.State.OK
            elif reading.breach and rule.breach_since is None:
                notify = rule.last_notified_at is None or now - rule.last_notified_at >= timedelta(
                    seconds=rule.cooldown)
                firing = _fire(rule, kind=AlertFiring.Kind.BREACH, reading=reading, now=now, notify=notify)
                fields.update(state=AlertRule.State.FIRING, breach_since=now, breach_notified=notify)
                if notify:
                    fields["last_notified_at"] = now
            elif not reading.breach and rule.breach_since is not None:
                firing = _fire(rule, kind=AlertFiring.Kind.RECOVERY, reading=reading, now=now,
                               notify=rule.breach_notified)
                fields.update(state=AlertRule.State.OK, breach_since=None, breach_notified=False)
            else:
                fields["state"] = AlertRule.State.FIRING if reading.breach else AlertRule.State.OK
        # update(), not save(): the check's bookkeeping is no change to audit, and no other field moves.
        AlertRule.objects.filter(pk=rule_id).update(**fields)
    return firing


def _fmt(value: float | None) -> str:
    return "no value" if value is None else f"{value:.6g}"


def firing_message(rule: AlertRule, kind: str, reading: Reading) -> str:
    label = rule.display_name or rule.name
    if kind == AlertFiring.Kind.TEST:
        return f"{label}: a test notification."
    if rule.condition == AlertRule.Condition.ANOMALY:
        where = f"the {rule.method} band [{_fmt(reading.lower)}, {_fmt(reading.upper)}]"
        if kind == AlertFiring.Kind.BREACH:
            return f"{label}: {_fmt(reading.value)} (bucket {reading.bucket}) is an anomaly, outside {where}."
        return f"{label}: back to normal, {_fmt(reading.value)} (bucket {reading.bucket}) is inside {where}."
    if kind == AlertFiring.Kind.BREACH:
        return f"{label}: {_fmt(reading.value)} is {rule.condition} {_fmt(rule.threshold)} over the last {rule.period}."
    return (f"{label}: back to normal, {_fmt(reading.value)} is no longer {rule.condition} {_fmt(rule.threshold)} "
            f"over the last {rule.period}.")


def _fire(rule: AlertRule, *, kind: str, reading: Reading, now: datetime, notify: bool) -> AlertFiring:
    """The firing and, when notified, one delivery per channel, each sent by a task after commit."""
    firing = AlertFiring.objects.create(rule=rule, kind=kind, value=reading.value, threshold=rule.threshold,
                                        lower=reading.lower, upper=reading.upper, notified=notify, fired_at=now,
                                        message=firing_message(rule, kind, reading))
    if notify:
        deliveries = AlertDelivery.objects.bulk_create([
            AlertDelivery(firing=firing, channel=index, channel_type=channel["type"],
                          target=channel.get("address") or channel.get("url") or "")
            for index, channel in enumerate(rule.channels)])
        for delivery in deliveries:
            _queue_after_commit(delivery.pk)
    return firing


def rule_test(*, rule: AlertRule) -> AlertFiring:
    """A `test` firing delivered to every channel now (API and console); the rule's state is untouched."""
    with transaction.atomic():
        firing = _fire(rule, kind=AlertFiring.Kind.TEST, reading=Reading(value=rule.last_value, breach=False),
                       now=timezone.now(), notify=True)
        audit_event.send(sender=AlertRule, action="alert_test_requested", object_type="alert",
                         object_id=rule.pk, object_repr=str(rule), changes={"firing": firing.pk})
    return firing


def _queue_after_commit(delivery_id: int) -> None:
    """The delivery's task, sent once the delivery is committed, to run in this schema."""
    from apps.alerts.tasks import alert_deliver

    schema_name = connection.schema_name

    def queue() -> None:
        with schema_context(schema_name):
            alert_deliver.delay(delivery_id)

    transaction.on_commit(queue)


def deliveries_requeue(*, now: datetime) -> int:
    """Deliveries whose task was lost (a worker died; the broker lost it) go back to a worker once
    the lease has passed since they were created or last claimed."""
    stale = now - timedelta(seconds=settings.ALERTS_DELIVERY_LEASE_SECONDS)
    lost = list(AlertDelivery.objects.filter(
        status__in=[AlertDelivery.Status.PENDING, AlertDelivery.Status.RETRYING, AlertDelivery.Status.SENDING]).filter(
        Q(started_at__lt=stale) | Q(started_at__isnull=True, created_at__lt=stale)).values_list("pk", flat=True))
    for delivery_id in lost:
        _queue_after_commit(delivery_id)
    return len(lost)


# --- deliveries -------------------------------------------------------------------------------------


class RetryLater(Exception):
    def __init__(self, countdown: int) -> None:
        super().__init__(countdown)
        self.countdown = countdown


class _Transient(Exception):
    pass


class _Permanent(Exception):
    pass


def _claim(delivery_id: int, now: datetime) -> AlertDelivery | None:
    """The delivery, marked `sending` for this attempt; None when it is sent, failed, or held by
    another attempt whose lease is live (a conditional UPDATE: of two copies of a task, one wins)."""
    lease = now - timedelta(seconds=settings.ALERTS_DELIVERY_LEASE_SECONDS)
    claimed = AlertDelivery.objects.filter(pk=delivery_id).filter(
        Q(status__in=[AlertDelivery.Status.PENDING, AlertDelivery.Status.RETRYING])
        | Q(status=AlertDelivery.Status.SENDING, started_at__lt=lease)).update(
        status=AlertDelivery.Status.SENDING, attempts=F("attempts") + 1, started_at=now)
    if not claimed:
        return None
    return AlertDelivery.objects.select_related("firing__rule").get(pk=delivery_id)


def delivery_execute(*, delivery_id: int) -> AlertDelivery | None:
    """One attempt at a delivery. A transient failure (network, time limit, 5xx, SMTP) leaves it
    `retrying` and raises RetryLater with the backoff, until ALERTS_DELIVERY_MAX_ATTEMPTS; a
    permanent one (4xx, 3xx, a URL the policy now refuses, a refused recipient) fails it at once."""
    delivery = _claim(delivery_id, timezone.now())
    if delivery is None:
        return None
    fields: dict[str, Any]
    try:
        status = _send(delivery)
    except (_Transient, _Permanent) as exc:
        final = isinstance(exc, _Permanent) or delivery.attempts >= settings.ALERTS_DELIVERY_MAX_ATTEMPTS
        fields = {"status": AlertDelivery.Status.FAILED if final else AlertDelivery.Status.RETRYING,
                  "last_error": str(exc)[:2000], "response_status": getattr(exc, "status", None)}
        AlertDelivery.objects.filter(pk=delivery.pk).update(**fields)
        if not final:
            raise RetryLater(settings.ALERTS_RETRY_SECONDS * 2 ** (delivery.attempts - 1)) from exc
        for name, value in fields.items():
            setattr(delivery, name, value)
        return delivery
    fields = {"status": AlertDelivery.Status.SENT, "delivered_at": timezone.now(), "response_status": status,
              "last_error": ""}
    AlertDelivery.objects.filter(pk=delivery.pk).update(**fields)
    for name, value in fields.items():
        setattr(delivery, name, value)
    return delivery


def _send(delivery: AlertDelivery) -> int | None:
    if delivery.channel_type == "email":
        _send_email(delivery)
        return None
    return _send_webhook(delivery)


def _failure(kind: type[Exception], message: str, status: int | None = None) -> Exception:
    exc = kind(message)
    exc.status = status  # type: ignore[attr-defined]
    return exc


def _send_email(delivery: AlertDelivery) -> None:
    message = alert_email(delivery.firing, delivery.target)
    try:
        get_connection(fail_silently=False).send_messages([message])
    except smtplib.SMTPRecipientsRefused as exc:
        raise _failure(_Permanent, f"The mail server refused the recipient: {exc}") from exc
    except (smtplib.SMTPException, OSError) as exc:
        raise _failure(_Transient, f"The mail server is unavailable: {exc}") from exc


def _iso(moment: datetime | None) -> str | None:
    return None if moment is None else moment.isoformat().replace("+00:00", "Z")


def webhook_payload(firing: AlertFiring, delivery: AlertDelivery | None = None) -> dict[str, Any]:
    rule = firing.rule
    bounds = {"lower": firing.lower, "upper": firing.upper} if firing.lower is not None else None
    return {"id": firing.pk, "delivery": delivery.pk if delivery is not None else None,
            "rule": {"id": rule.pk, "name": rule.name, "display_name": rule.display_name},
            "kind": firing.kind, "value": firing.value, "threshold": firing.threshold, "condition": rule.condition,
            "method": rule.method or None, "bounds": bounds, "period": rule.period, "message": firing.message,
            "fired_at": _iso(firing.fired_at), "query": rule.query}


def signature(secret: str, timestamp: str, body: bytes) -> str:
    """`sha256=` and the hex HMAC-SHA256, keyed with the rule's secret, of `<timestamp>.<body>`."""
    digest = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()
    return f"sha256={digest}"


def _send_webhook(delivery: AlertDelivery) -> int:
    body = json.dumps(webhook_payload(delivery.firing, delivery), separators=(",", ":")).encode()
    timestamp = str(int(time.time()))
    headers = {"Content-Type": "application/json", "User-Agent": "analytics-alerts/1",
               TIMESTAMP_HEADER: timestamp, SIGNATURE_HEADER: signature(delivery.firing.rule.secret, timestamp, body),
               "X-Analytics-Delivery": str(delivery.pk)}
    try:
        answer = webhook_post(url=delivery.target, body=body, headers=headers)
    except WebhookRefused as exc:
        raise _failure(_Permanent, f"The webhook URL is refused: {exc.reason}") from exc
    except OSError as exc:
        raise _failure(_Transient, f"The webhook could not be reached: {exc!r}") from exc
    if 200 <= answer.status < 300:
        return answer.status
    detail = f"The webhook answered {answer.status}: {answer.body[:300]}"
    if answer.status >= 500:
        raise _failure(_Transient, detail, answer.status)
    if 300 <= answer.status < 400:
        detail = f"The webhook answered {answer.status}: redirects are not followed"
    raise _failure(_Permanent, detail, answer.status)


def alert_email(firing: AlertFiring, address: str) -> EmailMultiAlternatives:
    """Plain text and a simple HTML alternative; everything the tenant wrote is escaped in the HTML."""
    rule = firing.rule
    label = rule.display_name or rule.name
    title = {"breach": "Alert", "recovery": "Resolved", "test": "Test"}[firing.kind]
    subject = f"[{title}] {label}"[:250].replace("\n", " ").replace("\r", " ")
    facts = [("Rule", f"{label} ({rule.name})"), ("Condition", _condition_text(rule)),
             ("Value", _fmt(firing.value)), ("Fired at", _iso(firing.fired_at) or ""),
             ("Query", json.dumps(rule.query, sort_keys=True))]
    text = "\n".join([firing.message, "", *(f"{name}: {value}" for name, value in facts)]) + "\n"
    rows = "".join(f'<tr><th style="text-align:left;padding:2px 12px 2px 0">{html_lib.escape(name)}</th>'
                   f'<td style="font-family:monospace">{html_lib.escape(value)}</td></tr>' for name, value in facts)
    html = (f'<div style="font-family:sans-serif"><h2 style="margin:0 0 8px">{html_lib.escape(title)}: '
            f'{html_lib.escape(label)}</h2><p>{html_lib.escape(firing.message)}</p><table>{rows}</table></div>')
    message = EmailMultiAlternatives(subject=subject, body=text, from_email=settings.DEFAULT_FROM_EMAIL, to=[address],
                                     headers={"Auto-Submitted": "auto-generated"})
    message.attach_alternative(html, "text/html")
    return message


def _condition_text(rule: AlertRule) -> str:
    if rule.condition == AlertRule.Condition.ANOMALY:
        return f"anomaly ({rule.method}, threshold {_fmt(rule.threshold)}) over the last {rule.period}"
    return f"{rule.condition} {_fmt(rule.threshold)} over the last {rule.period}"
