"""The custom connectors' API (`/custom-connectors...`) and their icons."""

from django.urls import URLPattern, path  # noqa: F401

urlpatterns: list[URLPattern] = []
