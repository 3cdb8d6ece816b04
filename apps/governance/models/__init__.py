"""The governance app's models, one module per part (each imported here so Django finds it)."""
