"""API keys in the tenant console (the keys part of governance; scopes and expiry themselves live
in apps.core.scopes and apps.tenancy)."""
