"""Shared pieces of the operators' admin pages: read-only pages, the buttons that run an
operation on one row (sync now, cancel, retry, redeliver...), and small display helpers."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.conf import settings
from django.contrib import admin, messages
from django.contrib.admin.utils import unquote
from django.core.exceptions import PermissionDenied
from django.core.serializers.json import DjangoJSONEncoder
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseNotAllowed
from django.shortcuts import redirect
from django.urls import URLPattern, path, reverse, reverse_lazy
from django.utils import timezone
from django.utils.html import format_html

from landed.api.errors import ApplicationError

# The change page of every admin with operations (and of the read-only ones): the buttons in
# the object tools, and the page's own refresh while what it shows is still moving.
OPERATIONS_CHANGE_FORM = "admin/landed/operations_change_form.html"


def admin_site_url() -> str | None:
    """Where the admin's "View site" leads: the API's documentation when this server serves it
    (EXPOSE_API_DOCS), else nowhere (no link): the API's root is not a page."""
    return reverse_lazy("docs") if settings.EXPOSE_API_DOCS else None


class OperatorPermissionMixin:
    """`has_operation_permission`: may this operator act on the rows of this page? It is the
    model's change permission as Django itself decides it, even on a page that edits nothing
    (a delivery is redelivered, a job cancelled, while their fields stay read-only)."""

    def has_operation_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return admin.ModelAdmin.has_change_permission(self, request, obj)


class ReadOnlyAdminMixin(OperatorPermissionMixin):
    """A page (or inline) that shows records and changes none: history, logs, Stripe's events.
    With no change permission Django renders the change page as a view, with no "Save",
    "Save and continue editing" or "Save and add another" (a Save would rewrite the row with
    the values the page was loaded with, over what a worker wrote meanwhile).

    Operations of its own (a redelivery, a cancel) are still possible: they are checked with
    `has_operation_permission`. `deletable = True` keeps Django's delete permission for pages
    whose rows an operator may remove (a stream's state, to sync that stream from scratch)."""

    deletable = False

    def has_add_permission(self, request: HttpRequest, *args: Any) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        if not self.deletable:
            return False
        return super().has_delete_permission(request, obj)


@dataclass(frozen=True)
class Operation:
    """A button on a change page: a POST to `<object id>/operations/<name>/`, handled by the
    admin's method `operation_<name>(request, obj)`."""

    name: str
    label: str
    # Drawn in the colour of "Delete": it stops or discards something.
    danger: bool = False
    # Shown only when this is true of the row (the view still runs on a stale page, and the
    # service says no if it must).
    applies: Callable[[Any], bool] | None = None


class OperationsAdminMixin(OperatorPermissionMixin):
    """Buttons on the change page that run one operation on the row through the service the
    API uses, each a POST with the CSRF token to a small view of this admin. The outcome is
    shown with `messages`: the service's refusal (a conflict, a validation error) as an error
    message, never a server error. Then back to the change page (or where the operation
    leads, e.g. the new job).

    An operation's method returns None, or the URL to go to, and reports its success itself
    with `message_user`; an `ApplicationError` it raises is reported here."""

    operations: tuple[Operation, ...] = ()
    change_form_template = OPERATIONS_CHANGE_FORM

    def get_urls(self) -> list[URLPattern]:
        opts = self.model._meta
        view = self.admin_site.admin_view(self.operation_view)
        own = [
            path(
                "<path:object_id>/operations/<slug:name>/",
                view,
                name=f"{opts.app_label}_{opts.model_name}_operation",
            )
        ]
        # Before the admin's own: its `<path:object_id>/` catches everything else.
        return own + super().get_urls()

    def operations_for(self, request: HttpRequest, obj: Any) -> list[Operation]:
        """The buttons the change page shows for `obj`."""
        if obj is None or not self.has_operation_permission(request, obj):
            return []
        return [op for op in self.operations if op.applies is None or op.applies(obj)]

    def operation_url(self, obj: Any, name: str) -> str:
        opts = self.model._meta
        return reverse(
            f"admin:{opts.app_label}_{opts.model_name}_operation",
            args=[obj.pk, name],
            current_app=self.admin_site.name,
        )

    def change_url(self, obj: Any) -> str:
        opts = obj._meta
        return reverse(
            f"admin:{opts.app_label}_{opts.model_name}_change",
            args=[obj.pk],
            current_app=self.admin_site.name,
        )

    def operation_view(self, request: HttpRequest, object_id: str, name: str) -> HttpResponse:
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        operation = next((op for op in self.operations if op.name == name), None)
        if operation is None:
            raise Http404(f"No operation {name!r} here.")
        obj = self.get_object(request, unquote(object_id))
        if obj is None:
            opts = self.model._meta
            return self._get_obj_does_not_exist_redirect(request, opts, object_id)
        if not self.has_operation_permission(request, obj):
            raise PermissionDenied
        try:
            target = getattr(self, f"operation_{name}")(request, obj)
        except ApplicationError as exc:
            self.message_user(request, f"{operation.label}: {refusal_text(exc)}", messages.ERROR)
            target = None
        return redirect(target or self.change_url(obj))

    def render_change_form(
        self, request: HttpRequest, context: dict[str, Any], *args: Any, **kwargs: Any
    ) -> HttpResponse:
        obj = kwargs.get("obj")
        context["operations"] = [
            {"operation": op, "url": self.operation_url(obj, op.name)}
            for op in self.operations_for(request, obj)
        ]
        context["refresh_seconds"] = self.refresh_seconds(obj)
        return super().render_change_form(request, context, *args, **kwargs)

    def refresh_seconds(self, obj: Any) -> int | None:
        """Reload the change page every so many seconds while `obj` is still changing (a
        running job); None: a page that stays as it is."""
        return None


class WideListMixin:
    """A list with many columns (jobs, connectors): its page goes without the navigation
    sidebar, and long column names wrap, so that the table and its filters fit a 1,400 px
    window. The breadcrumbs and the index still lead everywhere; every other page keeps the
    sidebar."""

    change_list_template = "admin/landed/wide_change_list.html"

    def changelist_view(
        self, request: HttpRequest, extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        extra_context = {**(extra_context or {}), "is_nav_sidebar_enabled": False}
        return super().changelist_view(request, extra_context)


def refusal_text(exc: ApplicationError) -> str:
    """A service's refusal in one line: its message, and its detail when that is a sentence."""
    if isinstance(exc.detail, str) and exc.detail:
        return f"{exc.message} {exc.detail}"
    if isinstance(exc.detail, list):
        # A validation error's problems ({loc, msg, type}, as in the API's 422).
        problems = [p.get("msg", "") for p in exc.detail if isinstance(p, dict)]
        return " ".join([exc.message, *[p for p in problems if p]])
    return exc.message


def pretty_json(value: Any) -> str:
    """A JSON column shown indented in a read-only page (an event's or a notification's data)."""
    text = json.dumps(value, indent=2, sort_keys=True, ensure_ascii=False, cls=DjangoJSONEncoder)
    return format_html("<pre>{}</pre>", text)


def to_the_second(value: datetime | None) -> str:
    """A time in a list column: to the second, in the server's time zone, never wrapped."""
    if value is None:
        return "-"
    text = timezone.localtime(value).strftime("%Y-%m-%d %H:%M:%S")
    return format_html('<span class="nowrap">{}</span>', text)


def clock_time(value: datetime | None, day_of: datetime | None) -> str:
    """A time in a list column beside another (a job's start beside its creation): only the
    clock time, to the second, when both are on the same day; the whole time on hover."""
    if value is None:
        return "-"
    local = timezone.localtime(value)
    full = local.strftime("%Y-%m-%d %H:%M:%S")
    if day_of is not None and timezone.localtime(day_of).date() == local.date():
        return format_html('<span class="nowrap" title="{}">{}</span>', full, full[11:])
    return format_html('<span class="nowrap">{}</span>', full)


def short_id(value: Any, href: str | None = None) -> str:
    """A UUID in a list: its first 8 characters, the whole id on hover (and for search)."""
    full = str(value)
    if href is None:
        return format_html('<span class="nowrap" title="{}">{}</span>', full, full[:8])
    return format_html('<a class="nowrap" href="{}" title="{}">{}</a>', href, full, full[:8])
