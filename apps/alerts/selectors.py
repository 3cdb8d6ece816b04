from __future__ import annotations

from typing import Any

from django.db.models import QuerySet

from apps.alerts.models import AlertFiring, AlertRule
from apps.core.names import object_get


def rule_list() -> QuerySet[AlertRule]:
    return AlertRule.objects.all()


def rule_get(*, rule_id: Any) -> AlertRule:
    return object_get(rule_list(), rule_id, "alert")


def firing_list(*, rule: AlertRule) -> QuerySet[AlertFiring]:
    return AlertFiring.objects.filter(rule=rule).prefetch_related("deliveries")


def alerts_summary() -> dict[str, Any]:
    """Counts for the tenant's status page: rules, enabled, firing now, in error, firings recorded, the
    latest check and the latest firing."""
    from django.db.models import Count, Max, Q

    figures = AlertRule.objects.aggregate(
        rules=Count("id"), enabled=Count("id", filter=Q(enabled=True)),
        firing=Count("id", filter=Q(state=AlertRule.State.FIRING)),
        errors=Count("id", filter=Q(state=AlertRule.State.ERROR)), last_check=Max("last_checked_at"))
    firings = AlertFiring.objects.exclude(kind=AlertFiring.Kind.TEST).aggregate(count=Count("id"), last=Max("fired_at"))
    return {"rules": figures["rules"], "enabled": figures["enabled"], "firing": figures["firing"],
            "errors": figures["errors"], "firings": firings["count"], "last_check_at": figures["last_check"],
            "last_firing_at": firings["last"]}
