"""Root URLs. The API lives at the root, as in the reference (`/auth/...`, `/health`)."""

from django.contrib import admin
from django.urls import include, path

from landed.accounts.admin import admin_login
from landed.api.docs import OpenApiJsonView, RedocView, SwaggerView
from landed.health import HealthView

admin.site.site_header = "Landed operations"
admin.site.site_title = "Landed admin"

urlpatterns = [
    path("health", HealthView.as_view(), name="health"),
    path("auth/", include("landed.accounts.urls")),
    path("", include("connectors.urls")),
    path("", include("syncs.urls")),
    path("", include("webhooks.urls")),
    path("", include("webhooks.alerts.urls")),
    path("", include("billing.urls")),
    path("", include("integrations.urls")),
    path("", include("support.urls")),
    path("admin/login/", admin_login, name="admin-login"),
    path("admin/", admin.site.urls),
    path("openapi.json", OpenApiJsonView.as_view(), name="openapi-schema"),
    path("docs", SwaggerView.as_view(url_name="openapi-schema"), name="docs"),
    path("redoc", RedocView.as_view(url_name="openapi-schema"), name="redoc"),
]

handler400 = "landed.api.handlers.bad_request"
handler403 = "landed.api.handlers.permission_denied"
handler404 = "landed.api.handlers.not_found"
handler500 = "landed.api.handlers.server_error"
