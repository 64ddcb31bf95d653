from django.urls import path

from landed.accounts.oauth import views

urlpatterns = [
    path("google", views.GoogleStartView.as_view(), name="auth-oauth-google"),
    path("google/callback", views.GoogleCallbackView.as_view(), name="auth-oauth-google-callback"),
    path("github", views.GitHubStartView.as_view(), name="auth-oauth-github"),
    path("github/callback", views.GitHubCallbackView.as_view(), name="auth-oauth-github-callback"),
    path("exchange", views.OAuthExchangeView.as_view(), name="auth-oauth-exchange"),
]
