from django.urls import path

from billing import views

urlpatterns = [
    path("billing/usage", views.UsageView.as_view(), name="billing-usage"),
    path("billing/checkout", views.CheckoutView.as_view(), name="billing-checkout"),
    path("billing/portal", views.PortalView.as_view(), name="billing-portal"),
    path("billing/webhook", views.StripeWebhookView.as_view(), name="billing-webhook"),
]
