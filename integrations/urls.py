from django.urls import path

from integrations import views

urlpatterns = [
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
