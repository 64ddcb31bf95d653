"""OpenAPI schema and its viewers, served only when EXPOSE_API_DOCS is on (404 otherwise)."""

from typing import Any

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from drf_spectacular.renderers import OpenApiJsonRenderer, OpenApiJsonRenderer2
from drf_spectacular.views import (
    SpectacularJSONAPIView,
    SpectacularRedocView,
    SpectacularSwaggerView,
)

from landed.api.errors import error_response


class _ExposedOnly:
    def dispatch(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if not settings.EXPOSE_API_DOCS:
            return error_response(404, "Not found", f"No endpoint at {request.path}")
        return super().dispatch(request, *args, **kwargs)  # type: ignore[misc]


class OpenApiJsonView(_ExposedOnly, SpectacularJSONAPIView):
    # Plain application/json first, so that every HTTP client and tool reads it as JSON.
    renderer_classes = [OpenApiJsonRenderer2, OpenApiJsonRenderer]


class SwaggerView(_ExposedOnly, SpectacularSwaggerView):
    pass


class RedocView(_ExposedOnly, SpectacularRedocView):
    pass
