from django.apps import AppConfig


class SegmentsConfig(AppConfig):
    name = "apps.segments"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from apps.insights.segments import segment_resolver_register
        from apps.segments.selectors import segment_resolve

        segment_resolver_register(segment_resolve)
