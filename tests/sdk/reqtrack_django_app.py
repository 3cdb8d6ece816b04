"""A small Django app for the request-tracking tests: its own URLs, served by its own handler."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.urls import path


def order(request: HttpRequest, pk: int) -> JsonResponse:
    return JsonResponse({"order": pk})


def boom(request: HttpRequest) -> HttpResponse:
    raise ValueError("the view failed")


def unavailable(request: HttpRequest) -> HttpResponse:
    return HttpResponse("down for maintenance", status=503)


def health(request: HttpRequest) -> HttpResponse:
    return HttpResponse("ok")


urlpatterns = [
    path("orders/<int:pk>/", order),
    path("boom/", boom),
    path("unavailable/", unavailable),
    path("health/", health),
]


class UseTheseUrls:
    """Routes this handler's requests with the URLs above, not the project's."""

    def __init__(self, get_response):  # noqa: ANN001
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        request.urlconf = __name__
        return self.get_response(request)
