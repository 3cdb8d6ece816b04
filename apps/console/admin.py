"""Registers the console's pages on the tenant admin site (admin autodiscovery imports this)."""
