from django.urls import path

from integrations import views
from integrations.oauth import views as oauth_views

urlpatterns = [
    path(
        "connectors/oauth/result",
        oauth_views.ConnectorOAuthResultView.as_view(),
        name="connector-oauth-result",
    ),
    path(
        "connectors/oauth/<str:provider>/authorize",
        oauth_views.ConnectorOAuthAuthorizeView.as_view(),
        name="connector-oauth-authorize",
    ),
    path(
        "connectors/oauth/<str:provider>/callback",
        oauth_views.ConnectorOAuthCallbackView.as_view(),
        name="connector-oauth-callback",
    ),
    path(
        "integrations/github/install",
        views.GitHubInstallView.as_view(),
        name="integrations-github-install",
    ),
    path(
        "integrations/github/callback",
        views.GitHubCallbackView.as_view(),
        name="integrations-github-callback",
    ),
    path("integrations", views.IntegrationListView.as_view(), name="integrations"),
    path(
        "integrations/<str:provider>",
        views.IntegrationDetailView.as_view(),
        name="integration",
    ),
]
