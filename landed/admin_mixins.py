"""Shared pieces of the operators' admin pages."""

from typing import Any

from django.http import HttpRequest


class ReadOnlyAdminMixin:
    """A page (or inline) that shows records and changes none: history, logs, Stripe's events.
    Actions of its own (a redelivery) are still possible, with their own permissions."""

    def has_add_permission(self, request: HttpRequest, *args: Any) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False
