"""The governance pages of the tenant console."""
