from django.urls import path

from apps.events.api import views
from apps.events.api.realtime import RealtimeApi
from apps.events.api.sessions import SessionEndApi, SessionStartApi

urlpatterns = [
    path("events", views.EventListApi.as_view(), name="events"),
    path("events/query", views.EventQueryApi.as_view(), name="events-query"),
    path("events/export", views.EventExportApi.as_view(), name="events-export"),
    path("sessions/start", SessionStartApi.as_view(), name="session-start"),
    path("sessions/<str:session_id>/end", SessionEndApi.as_view(), name="session-end"),
    path("realtime", RealtimeApi.as_view(), name="realtime"),
    path("persons", views.PersonListApi.as_view(), name="persons"),
    path("persons/<str:distinct_id>", views.PersonDetailApi.as_view(), name="person"),
    path("persons/<str:distinct_id>/export", views.PersonExportApi.as_view(), name="person-export"),
    path("privacy-jobs/<int:job_id>", views.PrivacyJobApi.as_view(), name="privacy-job"),
]
