"""django-tenants' PostgreSQL backend, minus redundant `SET search_path` round trips.

django-tenants forgets the connection's search_path on every set_tenant(), so the switches each
request makes (public -> tenant -> public) cost a SET per request even when the connection already
has the right path. Here the path the connection really has is remembered (`_known_path`); a switch
to that same path needs no SET. A rollback, a savepoint rollback or a reconnect forgets it, as they
may have reverted or lost the setting.
"""

from django_tenants.postgresql_backend.base import DatabaseWrapper as TenantDatabaseWrapper


class DatabaseWrapper(TenantDatabaseWrapper):
    _known_path = None

    def set_tenant(self, tenant, include_public=True):  # noqa: ANN001, ANN201
        super().set_tenant(tenant, include_public)
        if self._known_path is not None and self._get_cursor_search_paths() == self._known_path:
            self.search_path_set_schemas = self._known_path

    def _handle_search_path(self, cursor=None):  # noqa: ANN001, ANN201
        super()._handle_search_path(cursor)
        if self.search_path_set_schemas is not None:
            self._known_path = list(self.search_path_set_schemas)

    def close(self):  # noqa: ANN201
        self._known_path = None
        super().close()

    def connect(self):  # noqa: ANN201
        self._known_path = None
        super().connect()

    def rollback(self):  # noqa: ANN201
        self._known_path = None
        super().rollback()

    def savepoint_rollback(self, sid):  # noqa: ANN001, ANN201
        self._known_path = None
        super().savepoint_rollback(sid)
