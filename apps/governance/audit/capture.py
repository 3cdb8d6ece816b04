"""What gets recorded: model saves and deletes of the audited models, many-to-many changes of
console users and groups, and `apps.core.signals.audit_event` for actions that are not a plain
save (an export run, a person deleted, a report run requested).

Audited: every model of the analytics apps (dashboards, widgets, reports, schedules,
subscriptions, segments and their rules, metric definitions, alerts, saved insights, console
pages' objects), the console's users and groups, every governance model, and, from the public
schema, API keys and share links (recorded in their tenant's schema).

NOT audited, on purpose (NOT_AUDITED says why for each): data rather than changes (events,
persons written by ingestion, metric values, rollups, segment memberships and size history,
report runs and deliveries), and the framework's own bookkeeping (sessions, admin log, content
types, permissions). Ingestion writes none of the audited models, so it pays nothing.
"""

from __future__ import annotations

from typing import Any

from django.apps import apps
from django.contrib.auth import get_user_model
from django.db import models
from django.db.models.signals import m2m_changed, post_delete, post_save, pre_save

from apps.governance.audit.services import audit_log_exists, audit_record, recording_schema

# Apps whose every model is audited, except NOT_AUDITED.
AUDITED_APPS = ("dashboards", "segments", "metrics", "reports", "insights", "alerts", "console", "governance")
# Models audited from apps that are otherwise not.
AUDITED_MODELS = ("auth.user", "auth.group", "tenancy.apikey", "tenancy.sharelink",
                  # Their descriptions (what people write); their counts are upserted in SQL, unseen here.
                  "events.eventdefinition", "events.propertydefinition")
NOT_AUDITED: dict[str, str] = {
    "governance.auditentry": "the audit log itself",
    "governance.trackingviolationcount": "data: violation counts flushed from ingestion",
    "governance.trackingviolationsample": "data: offending events sampled at ingestion",
    "governance.privacyjob": "a job's progress; its request and outcome are audit_events",
    "governance.privacyexportfile": "data: the export a job made (its run is `person_exported`)",
    "governance.bicredential": "recorded as bi_credential_issued / _rotated / _revoked audit_events",
    "metrics.metricvalue": "data: recorded metric values (ingestion)",
    "segments.segmentsize": "data: the history of a segment's size, written by each refresh",
    "reports.reportrun": "data: a run's state and output; a run requested by hand is an audit_event",
    "reports.delivery": "data: one email sent by a run",
    "alerts.alertfiring": "data: a check's outcome; a test requested by hand is an audit_event",
    "alerts.alertdelivery": "data: one notification sent for a firing",
    # Not in AUDITED_APPS, listed so the reason is written down:
    "events.event": "data: ingested events (the ingestion hot path)",
    "events.person": "data: persons made by identify on the ingestion path; deletion is an audit_event",
    "events.persondistinctid": "data: identity merges from ingestion",
    "events.privacyjob": "a job's progress; the request is recorded as `person_deleted`",
    "events.explicitsession": "data: sessions opened and closed on the ingestion path (their events say so)",
    "events.eventpropertykey": "data: which keys each event carries, counted from ingestion",
    "events.definitionsflush": "bookkeeping: the definitions' folds already applied",
}
# Fields whose change alone is no change worth recording (bookkeeping, or computed by workers).
IGNORED_FIELDS: dict[str, frozenset[str]] = {
    "*": frozenset({"created_at", "updated_at"}),
    "auth.user": frozenset({"last_login", "date_joined"}),
    "segments.segment": frozenset({"size", "refreshed_at", "refresh_error", "next_rule_id"}),
    "reports.report": frozenset({"next_run_at"}),
    # The webhook secret is never written to the log; the rest is the checks' bookkeeping.
    "alerts.alertrule": frozenset({"secret", "state", "last_checked_at", "last_value", "last_error", "breach_since",
                                   "breach_notified", "last_notified_at"}),
    "governance.trackingplan": frozenset({"version"}),
    "tenancy.apikey": frozenset({"last_used_at"}),
    "events.eventdefinition": frozenset({"volume", "first_seen", "last_seen"}),
    "events.propertydefinition": frozenset({"volume", "first_seen", "last_seen", "types"}),
}
# Models in the public schema that belong to one tenant: (label, how to find its schema).
PUBLIC_MODELS = {"tenancy.apikey", "tenancy.sharelink"}
OBJECT_TYPES = {"tenancy.apikey": "api_key", "tenancy.sharelink": "share_link", "auth.user": "user",
                "governance.trackingplan": "tracking_plan", "governance.eventdefinition": "planned_event",
                "governance.propertydefinition": "planned_property",
                "auth.group": "group", "alerts.alertrule": "alert",
                "events.eventdefinition": "event_definition", "events.propertydefinition": "property_definition"}


def audited_models() -> list[type[models.Model]]:
    chosen = []
    for model in apps.get_models():
        label = model._meta.label_lower
        if label in NOT_AUDITED or model._meta.proxy:
            continue
        if model._meta.app_label in AUDITED_APPS or label in AUDITED_MODELS:
            chosen.append(model)
    return chosen


def object_type(model: type[models.Model]) -> str:
    return OBJECT_TYPES.get(model._meta.label_lower, model._meta.model_name)


def _fields(instance: models.Model) -> dict[str, Any]:
    label = instance._meta.label_lower
    ignored = IGNORED_FIELDS["*"] | IGNORED_FIELDS.get(label, frozenset())
    values = {}
    for field in instance._meta.concrete_fields:
        if field.name in ignored or isinstance(field, models.BinaryField):
            continue
        values[field.attname if field.is_relation else field.name] = field.value_from_object(instance)
    return values


def _schema_of(instance: models.Model) -> str | None:
    """The tenant schema an entry about `instance` goes to; None for no entry."""
    if instance._meta.label_lower in PUBLIC_MODELS:
        tenant = instance.tenant  # ApiKey and ShareLink: the tenant row, fetched once if needed
        schema = recording_schema(tenant.schema_name)
        # A tenant whose schema was dropped before its row (its keys go with the row) has no log left.
        return schema if schema is not None and audit_log_exists(schema) else None
    return recording_schema()


def _repr(instance: models.Model) -> str:
    try:
        return str(instance)[:200]
    except Exception:  # noqa: BLE001 - a __str__ reaching for a deleted relation must not fail the change
        return f"{instance._meta.model_name} {instance.pk}"


def _object_id(instance: models.Model) -> str:
    if instance._meta.label_lower == "tenancy.apikey":
        return instance.prefix  # keys are known by their prefix everywhere else too
    return str(instance.pk)


def before_save(sender: type[models.Model], instance: models.Model, raw: bool = False, **kwargs: Any) -> None:
    if raw or instance._state.adding or instance.pk is None:
        return
    if _schema_of(instance) is None:
        return
    # One read per save of an audited model (rare, never on ingestion) gives the true "before".
    old = sender._base_manager.filter(pk=instance.pk).first()
    instance.__dict__["_audit_before"] = _fields(old) if old is not None else None


def after_save(sender: type[models.Model], instance: models.Model, created: bool, raw: bool = False,
               update_fields: Any = None, **kwargs: Any) -> None:
    if raw:
        return
    schema = _schema_of(instance)
    if schema is None:
        return
    label = instance._meta.label_lower
    after = _fields(instance)
    before = instance.__dict__.pop("_audit_before", None)
    if created or before is None:
        changes = {name: [None, value] for name, value in after.items() if value not in (None, "", [], {})}
        action = {"tenancy.apikey": "key_issued", "tenancy.sharelink": "share_link_created"}.get(label, "create")
    else:
        if update_fields is not None:
            after = {name: value for name, value in after.items() if name in set(update_fields)
                     or name.removesuffix("_id") in set(update_fields)}
        changes = {name: [before.get(name), value] for name, value in after.items() if before.get(name) != value}
        if not changes:
            return
        action = "update"
        if label in PUBLIC_MODELS and "revoked_at" in changes and changes["revoked_at"][0] is None:
            action = "key_revoked" if label == "tenancy.apikey" else "share_link_revoked"
    audit_record(action=action, object_type=object_type(sender), object_id=_object_id(instance),
                 object_repr=_repr(instance), changes=changes, schema_name=schema)


def after_delete(sender: type[models.Model], instance: models.Model, **kwargs: Any) -> None:
    schema = _schema_of(instance)
    if schema is None:
        return
    changes = {name: [value, None] for name, value in _fields(instance).items() if value not in (None, "", [], {})}
    audit_record(action="delete", object_type=object_type(sender), object_id=_object_id(instance),
                 object_repr=_repr(instance), changes=changes, schema_name=schema)


def m2m_change(sender: Any, instance: models.Model, action: str, reverse: bool, model: type[models.Model],
               pk_set: set | None, **kwargs: Any) -> None:
    """A user's groups and permissions, a group's permissions: [names before, names after]."""
    if reverse or recording_schema() is None or action not in ("pre_add", "pre_remove", "pre_clear",
                                                               "post_add", "post_remove", "post_clear"):
        return
    field = next(f.name for f in instance._meta.many_to_many if f.remote_field.through is sender)
    names = sorted(str(obj) for obj in getattr(instance, field).all())
    if action.startswith("pre_"):
        instance.__dict__.setdefault("_audit_m2m", {})[field] = names
        return
    before = instance.__dict__.get("_audit_m2m", {}).pop(field, None)
    if before is None or before == names:
        return
    audit_record(action="update", object_type=object_type(type(instance)), object_id=_object_id(instance),
                 object_repr=_repr(instance), changes={field: [before, names]})


def on_audit_event(sender: Any, *, action: str, object_type: str, object_id: Any = "", object_repr: Any = "",
                   changes: dict | None = None, schema_name: str | None = None, **kwargs: Any) -> None:
    audit_record(action=action, object_type=object_type, object_id=object_id, object_repr=object_repr,
                 changes=changes, schema_name=schema_name)


def capture_connect() -> None:
    """Connect the receivers (GovernanceConfig.ready)."""
    from django.contrib.auth.models import Group

    from apps.core.signals import audit_event

    for model in audited_models():
        uid = f"audit:{model._meta.label_lower}"
        pre_save.connect(before_save, sender=model, dispatch_uid=uid)
        post_save.connect(after_save, sender=model, dispatch_uid=uid)
        post_delete.connect(after_delete, sender=model, dispatch_uid=uid)
    user = get_user_model()
    for through in (user.groups.through, user.user_permissions.through, Group.permissions.through):
        m2m_changed.connect(m2m_change, sender=through, dispatch_uid=f"audit:{through._meta.label_lower}")
    audit_event.connect(on_audit_event, dispatch_uid="audit:audit_event")
