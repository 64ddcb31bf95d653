from django.urls import path

from support import views

urlpatterns = [
    path("support/chat", views.support_chat, name="support-chat"),
]
