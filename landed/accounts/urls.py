from django.urls import include, path

from landed.accounts import views

urlpatterns = [
    path("signup", views.SignupView.as_view(), name="auth-signup"),
    path("login", views.LoginView.as_view(), name="auth-login"),
    path("logout", views.LogoutView.as_view(), name="auth-logout"),
    path("refresh", views.RefreshView.as_view(), name="auth-refresh"),
    path("me", views.MeView.as_view(), name="auth-me"),
    path("api-keys", views.ApiKeysView.as_view(), name="auth-api-keys"),
    path("exchange-code", views.ExchangeCodeView.as_view(), name="auth-exchange-code"),
    path("oauth/", include("landed.accounts.oauth.urls")),
]
