"""Two admin sites, never one: the public console (platform staff: tenants, domains, keys) and each
tenant's console at <slug>.<BASE_DOMAIN> (that tenant's staff and objects). Sharing Django's
default site would show public models such as Tenant inside every tenant's console."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any, Callable

from axes.handlers.cache import AxesCacheHandler
from django.contrib import admin
from django.contrib.auth.admin import GroupAdmin, UserAdmin
from django.contrib.auth.models import Group, User
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.db import connection
from django.http import HttpRequest, HttpResponse
from django.urls import path, reverse
from django.utils.functional import cached_property
from redis.exceptions import RedisError

logger = logging.getLogger(__name__)


class PublicAdminSite(admin.AdminSite):
    site_header = "Analytics platform"
    site_title = "Analytics platform"
    index_title = "Platform administration"

    def has_permission(self, request: HttpRequest) -> bool:
        return getattr(request, "tenant", None) is None and super().has_permission(request)


class ConsolePermissions:
    """Mixed into every ModelAdmin of the tenant console (TenantAdminSite.register), so that the
    console roles (Django permissions) hold for admin actions too:

    - an action that declares no `permissions` changes something: it needs the change permission
      (Django offers such an action to anyone who may view the list);
    - a POST naming an action the user may not run is refused with 403 before anything runs
      (Django would answer "No action selected" and redirect).

    Custom views added with get_urls() must check permissions themselves (tests/governance/
    test_roles.py lists them)."""

    def _filter_actions_by_permissions(self, request: HttpRequest, actions: list) -> list:
        allowed = super()._filter_actions_by_permissions(request, actions)
        return [action for action in allowed
                if hasattr(action[0], "allowed_permissions") or self.has_change_permission(request)]

    def changelist_view(self, request: HttpRequest, extra_context: dict | None = None):  # noqa: ANN201
        if request.method == "POST":
            named = [name for name in request.POST.getlist("action") if name]
            if named and not set(named) <= set(self.get_actions(request)):
                raise PermissionDenied
        return super().changelist_view(request, extra_context)


@dataclass(frozen=True)
class SiteView:
    """A console page that is no model's: at /admin/<route>, named `name`, shown to users holding
    `permission` (and listed on the console's index, under "Pages", for them)."""

    route: str
    view: Callable[..., HttpResponse]
    name: str
    title: str
    permission: str
    listed: bool = True


class TenantAdminSite(admin.AdminSite):
    site_title = "Analytics console"
    index_title = "Console"
    index_template = "admin/tenant_index.html"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._site_views: dict[str, SiteView] = {}
        self._index_context: Callable[[HttpRequest], dict] | None = None

    def register_view(self, *, route: str, view: Callable[..., HttpResponse], name: str, title: str,
                      permission: str, listed: bool = True) -> None:
        """Add a console page (idempotent by name): logged-in staff only (admin_view), and then
        only those holding `permission` (403 otherwise)."""
        self._site_views[name] = SiteView(route, view, name, title, permission, listed)

    def register_index(self, *, template: str, context: Callable[[HttpRequest], dict]) -> None:
        """Let a higher app draw the index (the console's home, DESIGN §2: core never imports it):
        its template (extending admin/tenant_index.html) and `context(request)`, added to Django's."""
        self.index_template = template
        self._index_context = context

    def _guarded(self, site_view: SiteView) -> Callable[..., HttpResponse]:
        def view(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
            if not request.user.has_perm(site_view.permission):
                raise PermissionDenied
            return site_view.view(request, *args, **kwargs)

        return self.admin_view(view)

    def get_urls(self) -> list:
        # Before Django's own: its last pattern takes any /admin/<app_label>/.
        own = [path(sv.route, self._guarded(sv), name=sv.name) for sv in self._site_views.values()]
        return own + super().get_urls()

    def index(self, request: HttpRequest, extra_context: dict | None = None) -> HttpResponse:
        pages = [{"title": sv.title, "url": reverse(f"admin:{sv.name}", current_app=self.name)}
                 for sv in self._site_views.values() if sv.listed and request.user.has_perm(sv.permission)]
        own = self._index_context(request) if self._index_context else {}
        return super().index(request, {**own, **(extra_context or {}), "site_pages": pages})

    def register(self, model_or_iterable: Any, admin_class: Any = None, **options: Any) -> None:
        admin_class = admin_class or admin.ModelAdmin
        if not issubclass(admin_class, ConsolePermissions):
            admin_class = type(admin_class.__name__, (ConsolePermissions, admin_class),
                               {"__module__": admin_class.__module__, "__doc__": admin_class.__doc__})
        super().register(model_or_iterable, admin_class, **options)

    def has_permission(self, request: HttpRequest) -> bool:
        return getattr(request, "tenant", None) is not None and super().has_permission(request)

    def each_context(self, request: HttpRequest) -> dict:
        context = super().each_context(request)
        tenant = getattr(request, "tenant", None)
        context["site_header"] = f"{tenant.name} — analytics console" if tenant else "Analytics console"
        return context


public_admin_site = PublicAdminSite(name="public_admin")
tenant_admin_site = TenantAdminSite(name="tenant_admin")

for site in (public_admin_site, tenant_admin_site):
    site.register(User, UserAdmin)
    site.register(Group, GroupAdmin)


class EstimatedCountPaginator(Paginator):
    """Pages of a partitioned table without COUNT(*): unfiltered, the planner's row estimate over its
    partitions; filtered, a capped count."""

    CAP = 10_000

    @cached_property
    def count(self) -> int:
        query = self.object_list.query
        if not query.where:
            with connection.cursor() as cursor:
                cursor.execute(
                    "SELECT coalesce(sum(greatest(c.reltuples, 0)), 0)::bigint FROM pg_inherits i "
                    "JOIN pg_class c ON c.oid = i.inhrelid WHERE i.inhparent = %s::regclass",
                    [self.object_list.model._meta.db_table],
                )
                estimate = cursor.fetchone()[0]
            if estimate > self.CAP:
                return estimate
        return self.object_list[: self.CAP + 1].count()


class ReadOnly(admin.ModelAdmin):
    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:  # noqa: ANN001
        return False

    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:  # noqa: ANN001
        return False


def login_username(request: HttpRequest, credentials: dict | None = None) -> str:
    """The name console login attempts are counted under (django-axes): the username within its
    schema, since each tenant has its own `admin`. One tenant's failures never lock another's."""
    username = (credentials or {}).get("username") or request.POST.get("username", "")
    return f"{connection.schema_name}:{username}"


class LoginLimitsHandler(AxesCacheHandler):
    """django-axes' Redis counts, failing open: while Redis is down, console logins go on uncounted
    (and logged), since a console nobody can enter during an outage is worse than a limit that
    lapses for its length, as the ingestion limits do."""

    def get_failures(self, request: HttpRequest, credentials: dict | None = None) -> int:
        try:
            return super().get_failures(request, credentials)
        except RedisError:
            logger.warning("console login limits unavailable (Redis); not counting", exc_info=True)
            return 0

    def user_login_failed(self, sender: Any, credentials: dict, request: HttpRequest | None = None,
                          **kwargs: Any) -> None:
        try:
            super().user_login_failed(sender, credentials, request, **kwargs)
        except RedisError:
            logger.warning("console login limits unavailable (Redis); failure not counted", exc_info=True)

    def user_logged_in(self, sender: Any, request: HttpRequest, user: Any, **kwargs: Any) -> None:
        try:
            super().user_logged_in(sender, request, user, **kwargs)
        except RedisError:
            logger.warning("console login limits unavailable (Redis); counts not reset", exc_info=True)
