"""BI credentials: issue, rotate, revoke (writes and their side effects on the cluster's roles)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from apps.core.exceptions import Conflict, DomainError, ValidationFailed
from apps.core.signals import audit_event
from apps.governance.bi import roles
from apps.governance.bi.schema import VIEW_NAMES, bi_schema_name, bi_schema_drop, bi_views_ensure
from apps.governance.models import BiCredential

DEFAULT_STATEMENT_TIMEOUT_MS = 30_000
MAX_STATEMENT_TIMEOUT_MS = 3_600_000
DEFAULT_CONNECTION_LIMIT = 5
MAX_CONNECTION_LIMIT = 50


class BiUnavailable(DomainError):
    """The application's database user may not manage roles (it needs CREATEROLE)."""

    status_code = 503
    code = "bi_unavailable"


@dataclass(frozen=True)
class Issued:
    credential: BiCredential
    password: str  # shown once


def connection_info(*, tenant: Any) -> dict[str, Any]:
    """Where a BI tool connects: BI_DATABASE_HOST / _PORT / _NAME / _SSLMODE, defaulting to the
    application's own database."""
    own = connection.settings_dict
    return {
        "host": getattr(settings, "BI_DATABASE_HOST", "") or own.get("HOST") or "localhost",
        "port": int(getattr(settings, "BI_DATABASE_PORT", 0) or own.get("PORT") or 5432),
        "dbname": getattr(settings, "BI_DATABASE_NAME", "") or own["NAME"],
        "sslmode": getattr(settings, "BI_DATABASE_SSLMODE", "") or "prefer",
        "schema": bi_schema_name(tenant.slug),
        "views": list(VIEW_NAMES),
    }


def connection_string(*, info: dict[str, Any], username: str, password: str) -> str:
    host = f"[{info['host']}]" if ":" in info["host"] else info["host"]
    return (f"postgresql://{quote(username, safe='')}:{quote(password, safe='')}@{host}:{info['port']}/"
            f"{quote(info['dbname'], safe='')}?sslmode={quote(info['sslmode'], safe='')}")


def _require_role_rights(cursor) -> None:  # noqa: ANN001
    if not roles.may_manage_roles(cursor):
        raise BiUnavailable("BI credentials are not available: the application's database user needs the "
                            "CREATEROLE attribute (ALTER ROLE <user> CREATEROLE).")


def _check_limits(*, statement_timeout_ms: int, connection_limit: int) -> None:
    errors = {}
    if not 100 <= statement_timeout_ms <= MAX_STATEMENT_TIMEOUT_MS:
        errors["statement_timeout_ms"] = f"between 100 and {MAX_STATEMENT_TIMEOUT_MS}"
    if not 1 <= connection_limit <= MAX_CONNECTION_LIMIT:
        errors["connection_limit"] = f"between 1 and {MAX_CONNECTION_LIMIT}"
    if errors:
        raise ValidationFailed("The request is not valid.", details=errors)


def _audit(action: str, credential: BiCredential, changes: dict[str, Any] | None = None) -> None:
    audit_event.send(sender=BiCredential, action=action, object_type="bi_credential",
                     object_id=str(credential.pk), object_repr=str(credential), changes=changes or {})


def bi_credential_issue(*, tenant: Any, name: str, statement_timeout_ms: int = DEFAULT_STATEMENT_TIMEOUT_MS,
                        connection_limit: int = DEFAULT_CONNECTION_LIMIT, created_by: str = "") -> Issued:
    """A new login role reading this tenant's BI views (made or brought up to date first)."""
    _check_limits(statement_timeout_ms=statement_timeout_ms, connection_limit=connection_limit)
    bi_schema = bi_schema_name(tenant.slug)
    password = roles.password_new()
    with transaction.atomic(), connection.cursor() as cursor:
        _require_role_rights(cursor)
        roles.database_harden(cursor)
        _views_refresh(cursor, tenant=tenant)
        role = roles.role_name_new(tenant.slug)
        roles.role_create(cursor, role=role, password=password, connection_limit=connection_limit,
                          statement_timeout_ms=statement_timeout_ms, tenant_schema=tenant.schema_name,
                          bi_schema=bi_schema, views=VIEW_NAMES)
        credential = BiCredential.objects.create(
            name=name, role_name=role, statement_timeout_ms=statement_timeout_ms,
            connection_limit=connection_limit, created_by=created_by[:200],
        )
        _audit("bi_credential_issued", credential, {"role": role, "statement_timeout_ms": statement_timeout_ms,
                                                    "connection_limit": connection_limit})
    return Issued(credential, password)


def bi_credential_rotate(*, tenant: Any, credential: BiCredential) -> Issued:
    """A new password; the old one stops working at once (open sessions stay open)."""
    if not credential.active:
        raise Conflict("This credential is revoked.", code="revoked")
    password = roles.password_new()
    with transaction.atomic(), connection.cursor() as cursor:
        _require_role_rights(cursor)
        locked = BiCredential.objects.select_for_update().get(pk=credential.pk)
        if not locked.active:  # revoked meanwhile
            raise Conflict("This credential is revoked.", code="revoked")
        _views_refresh(cursor, tenant=tenant)
        roles.role_set_password(cursor, role=locked.role_name, password=password)
        locked.rotated_at = timezone.now()
        locked.save(update_fields=["rotated_at"])
        _audit("bi_credential_rotated", locked)
    return Issued(locked, password)


def bi_credential_revoke(*, tenant: Any, credential: BiCredential) -> BiCredential:
    """No new connections, the open ones ended, the role dropped. Idempotent."""
    if not credential.active:
        return credential
    with connection.cursor() as cursor:
        _require_role_rights(cursor)
        with transaction.atomic():  # committed first, so no connection slips in while sessions end
            if roles.role_exists(cursor, credential.role_name):
                roles.role_disable(cursor, role=credential.role_name)
        roles.role_sessions_end(cursor, role=credential.role_name)
        with transaction.atomic():
            # A conditional update: of two revocations at once, one does the rest.
            updated = BiCredential.objects.filter(pk=credential.pk, revoked_at__isnull=True).update(
                revoked_at=timezone.now())
            if updated and roles.role_exists(cursor, credential.role_name):
                roles.role_drop(cursor, role=credential.role_name, bi_schema=bi_schema_name(tenant.slug))
            credential.refresh_from_db()
            if updated:
                _audit("bi_credential_revoked", credential)
    return credential


def bi_credentials_drop_all(*, tenant: Any) -> int:
    """Every BI role of the tenant and its BI schema, gone (the tenant is being deleted). Roles are
    found by their comment, so ones whose rows are gone are found too. How many roles."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT r.rolname FROM pg_roles r JOIN pg_shdescription d ON d.objoid = r.oid "
                       "AND d.classoid = 'pg_authid'::regclass WHERE d.description = %s",
                       [roles.role_comment(tenant.schema_name)])
        names = [row[0] for row in cursor.fetchall()]
        if names and not roles.may_manage_roles(cursor):
            raise BiUnavailable("The application's database user needs CREATEROLE to drop BI roles.")
        bi_schema = bi_schema_name(tenant.slug)
        for name in names:
            roles.role_disable(cursor, role=name)
            roles.role_sessions_end(cursor, role=name)
            roles.role_drop(cursor, role=name, bi_schema=bi_schema)
        bi_schema_drop(cursor, bi_schema=bi_schema)
    return len(names)


def _views_refresh(cursor, *, tenant: Any) -> None:  # noqa: ANN001
    """The views made (again) when missing or out of date (a new definition, a restored tenant
    schema, whose drop took the views with it), and granted again to every active role."""
    bi_schema = bi_schema_name(tenant.slug)
    if bi_views_ensure(cursor, tenant_schema=tenant.schema_name, bi_schema=bi_schema,
                       gap_minutes=tenant.session_gap_minutes):
        cursor.execute("SELECT rolname FROM pg_roles WHERE rolname = ANY(%s)", [_active_roles()])
        roles.views_grant(cursor, roles=[row[0] for row in cursor.fetchall()], bi_schema=bi_schema, views=VIEW_NAMES)


def bi_views_follow_tenant(*, tenant: Any) -> bool:
    """After a tenant's settings changed: its BI views made again if they exist and were cut with
    another session gap (a no-op otherwise; a tenant that never used BI gets no BI schema). Whether
    they were made again."""
    from django_tenants.utils import schema_context

    bi_schema = bi_schema_name(tenant.slug)
    with schema_context(tenant.schema_name), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SELECT 1 FROM pg_namespace WHERE nspname = %s", [bi_schema])
        if cursor.fetchone() is None:
            return False
        cursor.execute("SELECT obj_description(oid, 'pg_namespace') FROM pg_namespace WHERE nspname = %s",
                       [bi_schema])
        before = cursor.fetchone()[0]
        _views_refresh(cursor, tenant=tenant)
        cursor.execute("SELECT obj_description(oid, 'pg_namespace') FROM pg_namespace WHERE nspname = %s",
                       [bi_schema])
        return cursor.fetchone()[0] != before


def tenant_saved(sender: Any, instance: Any, created: bool = False, **kwargs: Any) -> None:
    """post_save of Tenant (platform API, console): keep the BI views on the tenant's session gap."""
    if created or not instance.schema_name:
        return
    update_fields = kwargs.get("update_fields")
    if update_fields is not None and "session_gap_minutes" not in update_fields:
        return
    bi_views_follow_tenant(tenant=instance)


def _active_roles() -> list[str]:
    return list(BiCredential.objects.filter(revoked_at__isnull=True).values_list("role_name", flat=True))


def bi_output(*, credential: BiCredential, tenant: Any, password: str | None = None) -> dict[str, Any]:
    info = connection_info(tenant=tenant)
    body = {"id": credential.pk, "name": credential.name, "username": credential.role_name,
            **{k: info[k] for k in ("host", "port", "dbname", "sslmode", "schema", "views")},
            "statement_timeout_ms": credential.statement_timeout_ms,
            "connection_limit": credential.connection_limit, "created_at": credential.created_at,
            "created_by": credential.created_by, "rotated_at": credential.rotated_at,
            "revoked_at": credential.revoked_at, "active": credential.active}
    if password is not None:
        body["password"] = password
        body["connection_string"] = connection_string(info=info, username=credential.role_name, password=password)
    return body
