"""Shared pieces of the operators' admin pages."""

import json
from typing import Any

from django.core.serializers.json import DjangoJSONEncoder
from django.http import HttpRequest
from django.utils.html import format_html


class ReadOnlyAdminMixin:
    """A page (or inline) that shows records and changes none: history, logs, Stripe's events.
    Actions of its own (a redelivery) are still possible, with their own permissions."""

    def has_add_permission(self, request: HttpRequest, *args: Any) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


def pretty_json(value: Any) -> str:
    """A JSON column shown indented in a read-only page (an event's or a notification's data)."""
    text = json.dumps(value, indent=2, sort_keys=True, ensure_ascii=False, cls=DjangoJSONEncoder)
    return format_html("<pre>{}</pre>", text)
