from django.urls import path

from apps.events.api import definitions, views
from apps.events.api.realtime import RealtimeApi
from apps.events.api.sessions import SessionEndApi, SessionStartApi

urlpatterns = [
    path("events", views.EventListApi.as_view(), name="events"),
    path("events/query", views.EventQueryApi.as_view(), name="events-query"),
    path("events/export", views.EventExportApi.as_view(), name="events-export"),
    path("sessions/start", SessionStartApi.as_view(), name="session-start"),
    path("sessions/<str:session_id>/end", SessionEndApi.as_view(), name="session-end"),
    path("realtime", RealtimeApi.as_view(), name="realtime"),
    path("definitions/events", definitions.EventDefinitionListApi.as_view(), name="event-definitions"),
    path("definitions/events/<str:event_definition_id>", definitions.EventDefinitionDetailApi.as_view(),
         name="event-definition"),
    path("definitions/properties", definitions.PropertyDefinitionListApi.as_view(), name="property-definitions"),
    path("definitions/properties/<str:property_definition_id>", definitions.PropertyDefinitionDetailApi.as_view(),
         name="property-definition"),
    path("definitions/properties/<str:property_definition_id>/values", definitions.PropertyValuesApi.as_view(),
         name="property-definition-values"),
    path("persons", views.PersonListApi.as_view(), name="persons"),
    path("persons/<str:distinct_id>", views.PersonDetailApi.as_view(), name="person"),
    path("persons/<str:distinct_id>/export", views.PersonExportApi.as_view(), name="person-export"),
    path("privacy-jobs/<int:job_id>", views.PrivacyJobApi.as_view(), name="privacy-job"),
]
