from apps.core.exceptions import Conflict, NotFound


class TenantAlreadyExists(Conflict):
    code = "tenant_exists"


class TenantNotFound(NotFound):
    code = "tenant_not_found"


class ApiKeyNotFound(NotFound):
    code = "api_key_not_found"
