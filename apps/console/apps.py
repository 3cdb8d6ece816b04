from django.apps import AppConfig


class ConsoleConfig(AppConfig):
    """The tenant console's own pages inside the admin (DESIGN §2): home, explorer, persons. The top
    layer: it may import every other app; none imports it."""

    name = "apps.console"
    default_auto_field = "django.db.models.BigAutoField"
