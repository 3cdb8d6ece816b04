"""A small Django app for the request-tracking tests: its own URLs, served by its own handler."""

from __future__ import annotations

from asgiref.sync import iscoroutinefunction, markcoroutinefunction
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
    """Routes this handler's requests with the URLs above, not the project's (sync and async, so
    the middleware above it runs in the handler's mode)."""

    sync_capable = True
    async_capable = True

    def __init__(self, get_response):  # noqa: ANN001
        self.get_response = get_response
        if iscoroutinefunction(get_response):
            markcoroutinefunction(self)

    def __call__(self, request: HttpRequest):  # noqa: ANN204
        request.urlconf = __name__
        return self.get_response(request)  # a response, or under ASGI an awaitable of one
