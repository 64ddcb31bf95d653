"""OpenAPI schema and its viewers, served only when EXPOSE_API_DOCS is on (404 otherwise)."""

from typing import Any

from django.conf import settings
from django.http import Http404
from drf_spectacular.views import (
    SpectacularJSONAPIView,
    SpectacularRedocView,
    SpectacularSwaggerView,
)
from rest_framework.request import Request


class _ExposedOnly:
    def initial(self, request: Request, *args: Any, **kwargs: Any) -> None:
        if not settings.EXPOSE_API_DOCS:
            raise Http404("API docs are disabled; set EXPOSE_API_DOCS=true.")
        super().initial(request, *args, **kwargs)  # type: ignore[misc]


class OpenApiJsonView(_ExposedOnly, SpectacularJSONAPIView):
    pass


class SwaggerView(_ExposedOnly, SpectacularSwaggerView):
    pass


class RedocView(_ExposedOnly, SpectacularRedocView):
    pass
