import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "analytics_project.settings")

django_application = get_wsgi_application()

# Ingestion POSTs take a direct route to their views (apps/events/api/fastpath.py); everything
# else is Django's handler as usual.
from apps.events.api.fastpath import IngestionFastPath  # noqa: E402

application = IngestionFastPath(django_application)
