"""Reports (DESIGN §9): definitions checked against the query engine, subscriptions with opaque
unsubscribe links, the dispatcher of due schedules, and runs: generate once, deliver to each
subscriber once.

Exactly once, by construction:
- the dispatcher locks due reports with SKIP LOCKED, creates the run of an occurrence under the
  unique (report, scheduled_for) and moves `next_run_at` in the same transaction, so a second beat
  tick (or a second beat) finds nothing to do;
- a worker claims a run under a row lock: a finished run is never run again, and a `running` run is
  left alone until its lease (REPORT_RUN_LEASE_SECONDS) has passed, which is how a run whose worker
  died is taken over;
- each recipient has one delivery row per run, marked `sent` right after the SMTP server accepted the
  message; a retry skips sent deliveries. The one window left is a worker dying between the server's
  acceptance and that update: the retry then sends that one message again, with the same Message-ID.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import html as html_lib
import logging
import re
import smtplib
from dataclasses import dataclass
from datetime import datetime, timedelta
from email.message import EmailMessage as MimeMessage
from email.utils import formataddr, make_msgid
from typing import Any
from zoneinfo import ZoneInfo

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.mail import EmailMessage, get_connection
from django.core.validators import validate_email
from django.db import IntegrityError, connection, transaction
from django.utils import timezone
from django.utils.crypto import salted_hmac
from django_tenants.utils import schema_context

from apps.core.exceptions import Conflict, DomainError, NotFound, ValidationFailed
from apps.core.names import check_name
from apps.core.signals import audit_event
from apps.dashboards.models import Dashboard, Widget
from apps.dashboards.services import KINDS, widget_view
from apps.insights.engine import query_check, query_run
from apps.reports import rendering
from apps.reports.models import Delivery, Report, ReportRun, Subscription, unsubscribe_nonce
from apps.reports.schedules import Schedule, local_to_utc
from apps.tenancy.models import Tenant
from apps.tenancy.selectors import tenant_current, unsubscribe_route_get
from apps.tenancy.services import unsubscribe_route_save

logger = logging.getLogger(__name__)
REPORT_FIELDS = ("name", "display_name", "description", "report_type", "dashboard_id", "query_config", "time_range",
                 "formats", "frequency", "hour", "minute", "weekday", "day_of_month", "cron", "timezone",
                 "enabled", "owner")
FORMATS = ("html", "csv", "xlsx", "png", "svg", "pdf")
MAX_ITEMS = 50
# The chart each query kind gets in a report of query specs, unless the spec names one.
DEFAULT_CHART = {"trends": "line", "metric": "line", "segment_size": "line", "funnel": "funnel",
                 "retention": "retention", "events": "table"}
UNSUBSCRIBE_SALT = "reports.unsubscribe.v2"
UNSUBSCRIBE_PREFIX = "un_"
FOOTER = "<!--report-footer-->"
_DATA_PNG = re.compile(r'src="data:image/png;base64,([A-Za-z0-9+/=]+)"')


# --- definitions ------------------------------------------------------------------------------------


def report_create(*, tenant: Any, name: str, **fields: Any) -> Report:
    report = Report(name=name)
    return _save(report, tenant, {k: v for k, v in fields.items() if k in REPORT_FIELDS})


def report_update(*, report: Report, tenant: Any, changes: dict[str, Any]) -> Report:
    return _save(report, tenant, changes)


def _save(report: Report, tenant: Any, changes: dict[str, Any]) -> Report:
    if "time_range" not in changes and isinstance(changes.get("query_config"), dict) \
            and "time_range" in changes["query_config"]:
        changes["time_range"] = changes["query_config"]["time_range"]  # the seed API's place for it
    for field, value in changes.items():
        setattr(report, field, value)
    report_check(report, tenant)
    report.next_run_at = None
    schedule = report_schedule(report)
    if schedule is not None and report.enabled:
        report.next_run_at = schedule.next_run(timezone.now())
    try:
        with transaction.atomic():
            report.save()
    except IntegrityError:
        raise Conflict(f"A report {report.name!r} already exists.", code="report_exists") from None
    return report


def report_check(report: Report, tenant: Any) -> None:
    """ValidationFailed naming the field; normalises `query_config` (metric shorthands expanded)."""
    check_name(report.name)
    if report.report_type not in Report.Type.values:
        raise ValidationFailed(f"`report_type` must be one of {Report.Type.values}.",
                               details={"report_type": report.report_type})
    if report.time_range not in Report.TimeRange.values:
        raise ValidationFailed(f"`time_range` must be one of {Report.TimeRange.values}.",
                               details={"time_range": report.time_range})
    formats = report.formats
    if not isinstance(formats, list) or not formats or not all(isinstance(f, str) for f in formats) \
            or len(set(formats)) != len(formats) or not set(formats) <= set(FORMATS):
        raise ValidationFailed(f"`formats` must be a non-empty list of distinct values among {list(FORMATS)}.",
                               details={"formats": formats})
    config = report.query_config if isinstance(report.query_config, dict) else None
    if config is None:
        raise ValidationFailed("`query_config` must be an object.", details={"query_config": report.query_config})
    if report.report_type == Report.Type.DASHBOARD:
        if report.dashboard_id is None or not Dashboard.objects.filter(pk=report.dashboard_id).exists():
            raise ValidationFailed("A dashboard report needs `dashboard`, the id of a dashboard.",
                                   details={"dashboard": report.dashboard_id})
    elif report.report_type == Report.Type.WIDGETS:
        report.dashboard_id = None
        ids = config.get("widgets")
        if not isinstance(ids, list) or not 1 <= len(ids) <= MAX_ITEMS \
                or not all(isinstance(i, int) and not isinstance(i, bool) for i in ids):
            raise ValidationFailed(f"`query_config.widgets` must list 1 to {MAX_ITEMS} widget ids.",
                                   details={"query_config": {"widgets": ids}})
        missing = set(ids) - set(Widget.objects.filter(pk__in=ids).values_list("pk", flat=True))
        if missing:
            raise ValidationFailed("Unknown widgets.", details={"query_config": {"widgets": sorted(missing)}})
    else:
        report.dashboard_id = None
        report.query_config = {"queries": _queries_check(config, tenant)}
    if report.frequency not in Report.Frequency.values:
        raise ValidationFailed(f"`frequency` must be one of {Report.Frequency.values}.",
                               details={"frequency": report.frequency})
    schedule = report_schedule(report)
    if schedule is not None:
        schedule.check()
    elif report.timezone:
        Schedule(frequency="daily", timezone=report.timezone).check()


def _queries_check(config: dict[str, Any], tenant: Any) -> list[dict[str, Any]]:
    """`queries: [{name, title?, chart?, query}]`, plus `metrics: [name | {metric, aggregation,
    granularity}]` as a shorthand for metric queries (the seed API)."""
    queries = config.get("queries", [])
    metrics = config.get("metrics", [])
    if not isinstance(queries, list) or not isinstance(metrics, list):
        raise ValidationFailed("`query_config.queries` and `query_config.metrics` must be lists.",
                               details={"query_config": "lists"})
    items = list(queries)
    for index, metric in enumerate(metrics):
        if isinstance(metric, str):
            metric = {"metric": metric}
        if not isinstance(metric, dict) or not isinstance(metric.get("metric"), str):
            raise ValidationFailed("Each of `query_config.metrics` is a metric name or {metric, aggregation, "
                                   "granularity}.", details={"query_config": {"metrics": {index: metric}}})
        name = "-".join(str(metric[k]) for k in ("metric", "aggregation") if k in metric)
        items.append({"name": name, "query": {"kind": "metric", "granularity": "day", **metric}})
    if not 1 <= len(items) <= MAX_ITEMS:
        raise ValidationFailed(f"A report of queries needs 1 to {MAX_ITEMS} queries (`query_config.queries` or "
                               "`query_config.metrics`).", details={"query_config": {"queries": len(items)}})
    checked, names = [], set()
    for index, item in enumerate(items):
        where = {"query_config": {"queries": index}}
        if not isinstance(item, dict) or set(item) - {"name", "title", "chart", "query"} \
                or not isinstance(item.get("name"), str) or not 1 <= len(item["name"]) <= 100:
            raise ValidationFailed("Each query is {name, title?, chart?, query}, with a name of 1 to 100 characters.",
                                   details=where)
        if item["name"] in names:
            raise ValidationFailed(f"Two queries are named {item['name']!r}.", details=where)
        names.add(item["name"])
        try:
            spec, _ = query_check(data=item.get("query"), tenant=tenant)
        except ValidationFailed as exc:
            raise ValidationFailed(f"Query {index} is not valid: {exc.message}",
                                   details={"query_config": {"queries": {index: exc.details}}}) from None
        kind = spec.__struct_config__.tag
        chart = item.get("chart") or DEFAULT_CHART[kind]
        if not isinstance(chart, str) or chart not in KINDS or kind not in KINDS[chart]:
            raise ValidationFailed(f"Query {index}: a {chart!r} chart cannot draw a {kind} query.", details=where)
        checked.append({"name": item["name"], "title": str(item.get("title") or ""), "chart": chart,
                        "query": item["query"]})
    return checked


def report_schedule(report: Report) -> Schedule | None:
    if not report.frequency:
        return None
    return Schedule(frequency=report.frequency, hour=report.hour, minute=report.minute, weekday=report.weekday,
                    day_of_month=report.day_of_month, cron=report.cron, timezone=report.timezone)


def report_items(report: Report) -> list[dict[str, Any]]:
    """What a run computes: entries shaped like dashboard widgets (name, title, widget_type, options,
    query_config)."""
    if report.report_type == Report.Type.QUERIES:
        return [{"name": q["name"], "title": q["title"] or q["name"], "widget_type": q["chart"], "options": {},
                 "query_config": q["query"]} for q in report.query_config["queries"]]
    if report.report_type == Report.Type.DASHBOARD:
        if report.dashboard_id is None:
            raise ValidationFailed("The report's dashboard was deleted.", details={"dashboard": None})
        widgets = list(Widget.objects.filter(dashboard_id=report.dashboard_id))
    else:
        ids = report.query_config["widgets"]
        by_id = Widget.objects.in_bulk(ids)
        widgets = [by_id[i] for i in ids if i in by_id]
    return [{"name": w.name, "title": w.title or w.name, "widget_type": w.widget_type, "options": w.options,
             "query_config": w.query_config} for w in widgets]


def report_period(report: Report, at: datetime) -> tuple[datetime, datetime]:
    """The span a run at `at` covers: the last 1, 7 or 30 days up to `at`, or the calendar week
    (Monday to Monday) or month before `at`'s, in the report's time zone."""
    if report.time_range in ("1d", "7d", "30d"):
        return at - timedelta(days=int(report.time_range[:-1])), at
    zone = ZoneInfo(report.timezone)
    today = at.astimezone(zone).date()
    if report.time_range == Report.TimeRange.LAST_WEEK:
        end = today - timedelta(days=today.weekday())
        start = end - timedelta(days=7)
    else:
        end = today.replace(day=1)
        start = (end - timedelta(days=1)).replace(day=1)
    return (local_to_utc(datetime.combine(start, datetime.min.time()), zone),
            local_to_utc(datetime.combine(end, datetime.min.time()), zone))


# --- subscriptions ----------------------------------------------------------------------------------


def subscribe(*, report: Report, email: Any, user_id: str = "") -> Subscription:
    """Subscribes `email` (again, if it had unsubscribed)."""
    try:
        validate_email(email)
    except ValidationError:
        raise ValidationFailed("`email` is not a valid address.", details={"email": email}) from None
    email = _normal(email)
    subscription, created = Subscription.objects.get_or_create(report=report, email=email,
                                                               defaults={"user_id": user_id})
    if not created:
        if subscription.unsubscribed_at is not None:
            subscription.unsubscribe_nonce = unsubscribe_nonce()  # a new consent: links sent before it die
        subscription.unsubscribed_at = None
        subscription.user_id = user_id or subscription.user_id
        subscription.save(update_fields=["unsubscribed_at", "user_id", "unsubscribe_nonce"])
    return subscription


def unsubscribe(*, report: Report, email: Any) -> Subscription:
    subscription = Subscription.objects.filter(report=report, email=_normal(str(email))).first()
    if subscription is None:
        raise NotFound(f"{email!r} is not subscribed to this report.")
    return subscription_unsubscribe(subscription=subscription)


def subscription_unsubscribe(*, subscription: Subscription) -> Subscription:
    if subscription.unsubscribed_at is None:
        subscription.unsubscribed_at = timezone.now()
        subscription.save(update_fields=["unsubscribed_at"])
    return subscription


def _normal(email: str) -> str:
    local, _, domain = email.strip().rpartition("@")
    return f"{local}@{domain.lower()}"


def unsubscribe_token(subscription: Subscription) -> str:
    """The token of the subscription's unsubscribe link: `un_` and an HMAC (SECRET_KEY) of the
    subscription's random nonce, 43 characters of base64url. It holds nothing readable: not the
    schema, the report or the address. It is the same in every message to the subscription, and dies
    with it: a subscription deleted and made again, or an address subscribing anew after
    unsubscribing, draws a new nonce (as does a change of SECRET_KEY, for every link).

    The link's page is public and its URL names no tenant, so `unsubscribe_url` records the token's
    hash in the public schema with the tenant and the subscription's id
    (apps.tenancy.models.UnsubscribeRoute), as share links are; only the hash is kept there, and the
    nonce in the tenant's schema, so neither table alone gives a working link."""
    mac = salted_hmac(UNSUBSCRIBE_SALT, subscription.unsubscribe_nonce, algorithm="sha256").digest()
    return UNSUBSCRIBE_PREFIX + base64.urlsafe_b64encode(mac).rstrip(b"=").decode()


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def unsubscribe_url(*, subscription: Subscription) -> str:
    """The subscription's unsubscribe link, its route recorded (once) in the public schema."""
    token = unsubscribe_token(subscription)
    unsubscribe_route_save(token_hash=_token_hash(token), subscription_id=subscription.pk)
    return f"{settings.PUBLIC_URL.rstrip('/')}/r/unsubscribe/{token}"


@dataclass(frozen=True)
class UnsubscribeTarget:
    tenant: Tenant
    subscription: Subscription  # its report loaded


def unsubscribe_resolve(token: Any) -> UnsubscribeTarget | None:
    """The tenant and the subscription an unsubscribe token belongs to (read in that tenant's schema,
    then back to the current one), or None for a damaged, forged or old-format (signed) token, or
    one whose subscription was deleted or has drawn a new nonce since."""
    if not isinstance(token, str) or not token.startswith(UNSUBSCRIBE_PREFIX) or len(token) > 100:
        return None
    route = unsubscribe_route_get(token_hash=_token_hash(token))
    if route is None:
        return None
    with schema_context(route.tenant.schema_name):
        subscription = Subscription.objects.select_related("report").filter(pk=route.subscription_id).first()
    if subscription is None or not hmac.compare_digest(unsubscribe_token(subscription), token):
        return None
    return UnsubscribeTarget(tenant=route.tenant, subscription=subscription)


# --- dispatching ------------------------------------------------------------------------------------


def dispatch_due(*, now: datetime | None = None) -> list[int]:
    """In a tenant schema (beat, every minute): one run per due report, for its latest due occurrence
    (occurrences missed while nothing ran are not delivered late one by one); then re-queues runs
    whose worker was lost. Returns the new runs' ids."""
    now = now or timezone.now()
    created_ids = []
    with transaction.atomic():
        due = Report.objects.select_for_update(skip_locked=True).filter(
            enabled=True, next_run_at__lte=now).exclude(frequency="")
        for report in due:
            schedule = report_schedule(report)
            occurrence = report.next_run_at
            following = schedule.next_run(occurrence)
            for _ in range(10_000):
                if following > now:
                    break
                occurrence, following = following, schedule.next_run(following)
            run, created = ReportRun.objects.get_or_create(report=report, scheduled_for=occurrence)
            report.next_run_at = following
            report.save(update_fields=["next_run_at"])
            if created:
                created_ids.append(run.pk)
        stale = now - timedelta(seconds=settings.REPORT_RUN_LEASE_SECONDS)
        lost = list(ReportRun.objects.filter(status=ReportRun.Status.PENDING, created_at__lt=stale).union(
            ReportRun.objects.filter(status__in=[ReportRun.Status.RUNNING, ReportRun.Status.RETRYING],
                                     started_at__lt=stale)).values_list("pk", flat=True))
        for run_id in [*created_ids, *lost]:
            _queue_after_commit(run_id)
    return created_ids


def _queue_after_commit(run_id: int) -> None:
    """The run's task, sent once the run is committed, to run in this schema (whatever schema is
    current when the commit happens)."""
    from apps.reports.tasks import report_run_task

    schema_name = connection.schema_name

    def queue() -> None:
        with schema_context(schema_name):
            report_run_task.delay(run_id)

    transaction.on_commit(queue)


def run_now(*, report: Report, send: bool) -> ReportRun:
    """A run outside the schedule (API and console); generated, and sent if `send`, by a worker."""
    with transaction.atomic():
        run = ReportRun.objects.create(report=report, send=send)
        audit_event.send(sender=Report, action="report_run_requested", object_type="report", object_id=report.pk,
                         object_repr=str(report), changes={"run": run.pk, "send": send})
        _queue_after_commit(run.pk)
    return run


# --- running ----------------------------------------------------------------------------------------


class RetryLater(Exception):
    def __init__(self, countdown: int) -> None:
        super().__init__(countdown)
        self.countdown = countdown


class DeliveryFailed(Exception):
    pass


class RunHeld(RetryLater):
    """Another attempt holds the run's lease (or held it when its worker died): look again when the
    lease ends, and take the run over if it is still not finished."""


def _claim(run_id: int, now: datetime) -> ReportRun | None:
    """The run, marked running for this attempt; None when it is finished. RunHeld while another
    attempt's lease is live."""
    with transaction.atomic():
        run = ReportRun.objects.select_for_update().select_related("report").filter(pk=run_id).first()
        if run is None or run.status in (ReportRun.Status.SUCCEEDED, ReportRun.Status.FAILED):
            return None
        lease = timedelta(seconds=settings.REPORT_RUN_LEASE_SECONDS)
        if run.status == ReportRun.Status.RUNNING and run.started_at and run.started_at > now - lease:
            raise RunHeld(int((run.started_at + lease - now).total_seconds()) + 1)
        run.status = ReportRun.Status.RUNNING
        run.attempts += 1
        run.started_at = now
        run.save(update_fields=["status", "attempts", "started_at"])
    return run


def run_execute(*, run_id: int) -> ReportRun | None:
    """One attempt at a run: generate it (once), deliver it to each subscriber not yet served. A
    transient failure leaves it `retrying` and raises RetryLater with the backoff; past
    REPORT_MAX_ATTEMPTS, or on a permanent error, it is `failed` with the error."""
    run = _claim(run_id, timezone.now())
    if run is None:
        return None
    try:
        if not run.subject:
            _generate(run)
        if run.send:
            _deliver(run)
    except Exception as exc:  # noqa: BLE001 - every failure is recorded on the run, then retried or final
        permanent = isinstance(exc, DomainError) and exc.status_code < 500
        if not isinstance(exc, (DomainError, DeliveryFailed)):
            logger.exception("report run %s failed", run.pk)
        run.error = str(getattr(exc, "message", exc))[:2000]
        run.finished_at = timezone.now()
        if permanent or run.attempts >= settings.REPORT_MAX_ATTEMPTS:
            run.status = ReportRun.Status.FAILED
            run.save(update_fields=["status", "error", "finished_at"])
            return run
        run.status = ReportRun.Status.RETRYING
        run.save(update_fields=["status", "error", "finished_at"])
        raise RetryLater(settings.REPORT_RETRY_SECONDS * 2 ** (run.attempts - 1)) from exc
    run.status = ReportRun.Status.SUCCEEDED
    run.error = ""
    run.finished_at = timezone.now()
    run.save(update_fields=["status", "error", "finished_at"])
    return run


def _generate(run: ReportRun) -> None:
    """Asks the query engine for every item over the run's period and renders what `formats` asks."""
    report, tenant = run.report, tenant_current()
    at = run.scheduled_for or run.created_at
    start, end = report_period(report, at)
    items = []
    for entry in report_items(report):
        spec = {**entry.pop("query_config"), "date_from": start.isoformat(), "date_to": end.isoformat()}
        try:
            answer = query_run(data=spec, tenant=tenant)
            entry["result"] = answer
        except DomainError as exc:
            if exc.status_code >= 500:
                raise  # a query past its time limit: the whole run is retried later
            entry["error"] = {"code": exc.code, "message": exc.message, "details": exc.details}
        items.append((entry["name"], _view(entry)))
    title = report.display_name or report.name
    zone = ZoneInfo(report.timezone)
    subtitle = _period_label(start.astimezone(zone), end.astimezone(zone))
    run.subject = f"{title}: {subtitle}"[:300]
    run.period_start, run.period_end = start, end
    if "html" in report.formats:
        charts, undrawn = rendering.charts_of(items)
        images = {name: "data:image/png;base64," + base64.b64encode(png).decode() for name, png in charts.items()}
        run.html = rendering.html_of(title=title, subtitle=subtitle, items=items, images=images, footer_html=FOOTER,
                                     undrawn=undrawn)
    run.text = rendering.text_of(title=title, subtitle=subtitle, items=items, footer_text=FOOTER)
    run.csv = rendering.csv_of(items) if "csv" in report.formats else None
    run.xlsx = rendering.xlsx_of(items) if "xlsx" in report.formats else None
    run.png = rendering.charts_zip(items, "png") if "png" in report.formats else None
    run.svg = rendering.charts_zip(items, "svg") if "svg" in report.formats else None
    run.pdf = rendering.pdf_of(title=title, subtitle=subtitle, items=items) if "pdf" in report.formats else None
    run.save(update_fields=["subject", "period_start", "period_end", "html", "text", "csv", "xlsx", "png", "svg",
                            "pdf"])


def _view(entry: dict[str, Any]) -> dict[str, Any]:
    """The item's widget view, or an error view saying it could not be drawn (the error logged): one
    item the renderer cannot shape must not fail the report."""
    try:
        return widget_view(entry)
    except Exception:  # noqa: BLE001 - whatever the cause, the other items are still sent
        logger.exception("report item %r could not be shaped", entry.get("name"))
        return {"title": entry.get("title") or entry.get("name"), "type": entry.get("widget_type"),
                "error": rendering.CANNOT_DRAW}


def _period_label(start: datetime, end: datetime) -> str:
    last = end - timedelta(microseconds=1)
    if start.date() == last.date():
        return f"{start:%d %b %Y %H:%M} to {end:%H:%M} ({start.tzname()})"
    return f"{start:%d %b %Y} to {last:%d %b %Y} ({start.tzinfo})"


def run_html(run: ReportRun) -> str:
    """The run's HTML as downloaded: charts embedded, no recipient's footer."""
    return run.html.replace(FOOTER, "")


def _deliver(run: ReportRun) -> None:
    emails = list(Subscription.objects.filter(report=run.report, unsubscribed_at__isnull=True)
                  .values_list("email", flat=True))
    sent = set(Delivery.objects.filter(run=run, status=Delivery.Status.SENT).values_list("email", flat=True))
    pending = [email for email in emails if email not in sent]
    if not pending:
        return
    mail = get_connection(fail_silently=False)
    try:
        mail.open()
    except (smtplib.SMTPException, OSError) as exc:
        raise DeliveryFailed(f"The SMTP server is unavailable: {exc}") from exc
    failures = []
    try:
        for email in pending:
            delivery, _ = Delivery.objects.get_or_create(run=run, email=email)
            message = report_email(run, email)
            try:
                mail.send_messages([message])
            except (smtplib.SMTPException, OSError) as exc:
                delivery.status, delivery.error = Delivery.Status.FAILED, str(exc)[:2000]
                delivery.save(update_fields=["status", "error"])
                failures.append(f"{email}: {exc}")
                continue
            delivery.status, delivery.error = Delivery.Status.SENT, ""
            delivery.sent_at, delivery.message_id = timezone.now(), message.message_id
            delivery.save(update_fields=["status", "error", "sent_at", "message_id"])
    finally:
        mail.close()
    if failures:
        raise DeliveryFailed(f"{len(failures)} of {len(pending)} deliveries failed: " + "; ".join(failures)[:1500])


class _Mime(MimeMessage):
    """Serialised with the line ending the caller asks for, as Django's backends do."""

    def as_bytes(self, unixfrom: bool = False, policy: Any = None, linesep: str = "\n") -> bytes:
        return super().as_bytes(unixfrom, (policy or self.policy).clone(linesep=linesep))


class ReportEmail(EmailMessage):
    """A Django message whose MIME tree is built with the standard library: text and HTML
    alternatives, the charts as inline PNGs related to the HTML, then the attachments."""

    def __init__(self, mime: _Mime, *, to: str) -> None:
        super().__init__(subject=mime["Subject"], from_email=settings.DEFAULT_FROM_EMAIL, to=[to])
        self.mime = mime
        self.message_id = mime["Message-ID"]

    def message(self, *, policy: Any = None) -> _Mime:  # noqa: ARG002 - the tree is already built
        return self.mime


def report_email(run: ReportRun, email: str) -> ReportEmail:
    report = run.report
    url = unsubscribe_url(subscription=Subscription.objects.get(report=report, email=email))
    domain = settings.DEFAULT_FROM_EMAIL.rpartition("@")[2] or "localhost"
    digest = hashlib.sha256(f"{connection.schema_name}:{run.pk}:{email}".encode()).hexdigest()[:16]
    mime = _Mime()
    mime["Subject"] = run.subject
    mime["From"] = formataddr((report.display_name or report.name, settings.DEFAULT_FROM_EMAIL))
    mime["To"] = email
    mime["Date"] = timezone.now()
    mime["Message-ID"] = f"<report.{run.pk}.{digest}@{domain}>"
    mime["List-Unsubscribe"] = f"<{url}>"
    mime["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
    mime["Auto-Submitted"] = "auto-generated"
    mime.set_content(run.text.replace(FOOTER, f"Unsubscribe: {url}"))
    if run.html:
        footer = (f'<p style="margin:24px 0 0;font-size:12px;color:#6b7280">You receive this report as '
                  f'{html_lib.escape(email)}. <a href="{html_lib.escape(url)}" style="color:#6b7280">Unsubscribe</a></p>')
        images: list[tuple[str, bytes]] = []

        def to_cid(match: re.Match[str]) -> str:
            cid = make_msgid(f"chart{len(images)}", domain=domain)
            images.append((cid, base64.b64decode(match.group(1))))
            return f'src="cid:{cid[1:-1]}"'

        html = _DATA_PNG.sub(to_cid, run.html.replace(FOOTER, footer))
        mime.add_alternative(html, subtype="html")
        html_part = mime.get_payload()[1]
        for cid, png in images:
            html_part.add_related(png, "image", "png", cid=cid, disposition="inline")
    stem = re.sub(r"[^A-Za-z0-9_.-]+", "-", report.name)
    day = (run.period_end or run.created_at).strftime("%Y-%m-%d")
    if run.csv:
        mime.add_attachment(bytes(run.csv), maintype="text", subtype="csv", filename=f"{stem}-{day}.csv")
    if run.xlsx:
        mime.add_attachment(bytes(run.xlsx), maintype="application",
                            subtype="vnd.openxmlformats-officedocument.spreadsheetml.sheet",
                            filename=f"{stem}-{day}.xlsx")
    if run.pdf:
        mime.add_attachment(bytes(run.pdf), maintype="application", subtype="pdf", filename=f"{stem}-{day}.pdf")
    for kind, subtype in (("png", "png"), ("svg", "svg+xml")):
        archive = getattr(run, kind)
        if archive:
            for filename, data in rendering.charts_unzip(bytes(archive)):
                mime.add_attachment(data, maintype="image", subtype=subtype, filename=f"{stem}-{day}-{filename}")
    return ReportEmail(mime, to=email)
