"""The operators' pages for webhook endpoints (with "enable again"), events, deliveries (with
"redeliver") and their attempt logs, alert groups, notification policies and notifications.

Signing secrets are never shown: the secret columns are not form fields, and no read-only
display names them, encrypted or decrypted. Endpoints are created by customers through the
API (which generates the secret); here operators fix a URL or switch an endpoint back on."""

from __future__ import annotations

import json
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.core.serializers.json import DjangoJSONEncoder
from django.core.validators import validate_email
from django.db import transaction
from django.db.models import Count, QuerySet
from django.http import HttpRequest
from django.utils import timezone
from django.utils.html import format_html

from connectors.models import Connector
from landed.admin_mixins import ReadOnlyAdminMixin
from landed.api.errors import RequestValidationError
from webhooks import services
from webhooks.alerts.serializers import MAX_COOLDOWN_MINUTES, MAX_FRESHNESS_MINUTES
from webhooks.alerts.services import policy_validate
from webhooks.dispatch import deliveries_enqueue
from webhooks.events import SUBSCRIBABLE
from webhooks.models import (
    AlertGroup,
    Condition,
    Delivery,
    DeliveryAttempt,
    DeliveryStatus,
    Event,
    Notification,
    NotificationPolicy,
    PolicyScope,
    WebhookEndpoint,
)

# Never a field, a read-only display or a list column of any page here.
SECRET_FIELDS = ("encrypted_secret", "encrypted_previous_secret", "previous_secret_expires_at")


def pretty_json(value: Any) -> str:
    text = json.dumps(value, indent=2, sort_keys=True, ensure_ascii=False, cls=DjangoJSONEncoder)
    return format_html("<pre>{}</pre>", text)


def _same_account(form: forms.ModelForm, account_id: Any, field: str, label: str) -> None:
    value = form.cleaned_data.get(field)
    if value is not None and account_id is not None and value.account_id != account_id:
        form.add_error(field, f"The {label} belongs to another account.")


def _form_account_id(form: forms.ModelForm) -> Any:
    """The account of the row being edited: the form's choice on an add page, the row's own
    on a change page (where it is read-only)."""
    if "account" in form.fields:
        account = form.cleaned_data.get("account")
        return account.id if account is not None else None
    return form.instance.account_id


def _name_taken(model: Any, form: forms.ModelForm, account_id: Any) -> bool:
    """The (account, name) constraint, checked here too when the account is read-only (the
    form's own constraint check skips a constraint with a field not in the form)."""
    name = form.cleaned_data.get("name")
    if not name or account_id is None:
        return False
    others = model.objects.filter(account_id=account_id, name=name)
    if form.instance.pk is not None:
        others = others.exclude(pk=form.instance.pk)
    return others.exists()


# --- Endpoints -------------------------------------------------------------------------------
class WebhookEndpointForm(forms.ModelForm):
    url = forms.URLField(max_length=2000, assume_scheme="https")

    class Meta:
        model = WebhookEndpoint
        fields = ("url", "description", "event_types", "enabled")

    def clean_url(self) -> str:
        url = self.cleaned_data["url"]
        if url != self.instance.url:
            # The API's rules: https where required, no credentials, an allowed host.
            try:
                services.webhook_url_check(url)
            except RequestValidationError as exc:
                raise ValidationError([e["msg"] for e in exc.detail]) from exc
        return url

    def clean_event_types(self) -> list[str]:
        value = self.cleaned_data.get("event_types")
        if value in (None, ""):
            return []  # all event types
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise ValidationError('A list of event type names, e.g. ["sync.failed"].')
        unknown = [v for v in value if v not in SUBSCRIBABLE]
        if unknown:
            raise ValidationError(
                f"Unknown event types: {', '.join(unknown)}. Known: {', '.join(SUBSCRIBABLE)}."
            )
        return list(dict.fromkeys(value))


@admin.register(WebhookEndpoint)
class WebhookEndpointAdmin(admin.ModelAdmin):
    form = WebhookEndpointForm
    list_display = (
        "url",
        "account",
        "enabled",
        "event_types_display",
        "failing_since",
        "disabled_at",
        "created_at",
    )
    list_filter = (
        "enabled",
        ("failing_since", admin.EmptyFieldListFilter),
        ("disabled_at", admin.EmptyFieldListFilter),
    )
    search_fields = ("url", "account__name")
    list_select_related = ("account",)
    date_hierarchy = "created_at"
    # Named one by one: the secret columns are in neither list.
    fields = (
        "id",
        "account",
        "url",
        "description",
        "event_types",
        "enabled",
        "failing_since",
        "disabled_at",
        "disabled_reason",
        "created_at",
        "updated_at",
    )
    readonly_fields = (
        "id",
        "account",
        "failing_since",
        "disabled_at",
        "disabled_reason",
        "created_at",
        "updated_at",
    )
    actions = ["enable_again"]

    def has_add_permission(self, request) -> bool:
        # Customers create endpoints through the API, which generates the signing secret.
        return False

    @admin.display(description="Event types")
    def event_types_display(self, obj: WebhookEndpoint) -> str:
        return ", ".join(obj.event_types) or "all"

    def save_model(self, request: HttpRequest, obj: WebhookEndpoint, form, change: bool) -> None:
        # Through the API's update: only what the form changed is written (the secret columns,
        # and a rotation made meanwhile, are left as they are), and switching a disabled
        # endpoint on clears why and since when it was disabled.
        data = {name: form.cleaned_data[name] for name in form.changed_data}
        services.webhook_update(endpoint=obj, data=data)

    @admin.action(description="Enable again")
    def enable_again(self, request: HttpRequest, queryset: QuerySet[WebhookEndpoint]) -> None:
        count = queryset.update(
            enabled=True,
            disabled_at=None,
            disabled_reason="",
            failing_since=None,
            updated_at=timezone.now(),
        )
        self.message_user(request, f"{count} endpoint(s) enabled again.")


# --- Events ----------------------------------------------------------------------------------
@admin.register(Event)
class EventAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    """The outbox, read-only: events are raised by the changes they report, and go (with
    their deliveries) by retention, not by hand."""

    list_display = ("type", "account", "created_at", "dispatched_at")
    list_filter = ("type", ("dispatched_at", admin.EmptyFieldListFilter))
    search_fields = ("=id", "type", "account__name")
    list_select_related = ("account",)
    date_hierarchy = "created_at"
    fields = (
        "id",
        "type",
        "account",
        "endpoint",
        "created_at",
        "enqueued_at",
        "dispatched_at",
        "data_json",
    )
    readonly_fields = fields

    @admin.display(description="Data")
    def data_json(self, obj: Event) -> str:
        return pretty_json(obj.data)


# --- Deliveries ------------------------------------------------------------------------------
ATTEMPT_FIELDS = (
    "attempt",
    "created_at",
    "succeeded",
    "status_code",
    "duration_ms",
    "error",
    "response_excerpt",
    "next_retry_at",
)


class DeliveryAttemptInline(ReadOnlyAdminMixin, admin.TabularInline):
    model = DeliveryAttempt
    fk_name = "delivery"
    fields = ATTEMPT_FIELDS
    readonly_fields = ATTEMPT_FIELDS
    ordering = ("created_at", "attempt")
    extra = 0
    can_delete = False


@admin.register(Delivery)
class DeliveryAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    """Read-only: deliveries are made by the dispatch; an operator sends one again."""

    list_display = (
        "id",
        "event_type",
        "endpoint_url",
        "status",
        "attempts",
        "next_attempt_at",
        "created_at",
        "finished_at",
    )
    list_filter = ("status",)
    search_fields = ("=id", "=event__id", "event__type", "endpoint__url", "endpoint__account__name")
    list_select_related = ("event", "endpoint")
    date_hierarchy = "created_at"
    fields = (
        "id",
        "event",
        "event_type",
        "endpoint",
        "status",
        "attempts",
        "next_attempt_at",
        "locked_until",
        "enqueued_at",
        "created_at",
        "finished_at",
    )
    readonly_fields = fields
    inlines = [DeliveryAttemptInline]
    actions = ["redeliver"]

    @admin.display(description="Event type", ordering="event__type")
    def event_type(self, obj: Delivery) -> str:
        return obj.event.type

    @admin.display(description="Endpoint URL", ordering="endpoint__url")
    def endpoint_url(self, obj: Delivery) -> str:
        return obj.endpoint.url

    def has_redeliver_permission(self, request: HttpRequest) -> bool:
        # The model's change permission (the page itself edits nothing).
        return request.user.has_perm("webhooks.change_delivery")

    @admin.action(description="Redeliver", permissions=["redeliver"])
    def redeliver(self, request: HttpRequest, queryset: QuerySet[Delivery]) -> None:
        """Send the selected deliveries again now, whatever their status: a succeeded one is
        resent (its attempt numbers continue)."""
        now = timezone.now()
        ids = list(queryset.values_list("id", flat=True))
        queued: list[str] = []
        with transaction.atomic():
            deliveries = (
                Delivery.objects.select_for_update(of=("self",))
                .select_related("endpoint")
                .filter(id__in=ids)
                .order_by("id")
            )
            for delivery in deliveries:
                if not delivery.endpoint.enabled:
                    self.message_user(
                        request,
                        f"{delivery.id}: not redelivered, its endpoint "
                        f"{delivery.endpoint.url} is disabled (enable it again first).",
                        messages.WARNING,
                    )
                    continue
                if delivery.locked_until is not None and delivery.locked_until > now:
                    # A worker is making an attempt right now: it would race the new one.
                    self.message_user(
                        request,
                        f"{delivery.id}: not redelivered, an attempt is in progress.",
                        messages.WARNING,
                    )
                    continue
                delivery.status = DeliveryStatus.PENDING
                delivery.next_attempt_at = now
                delivery.finished_at = None
                delivery.locked_until = None
                delivery.enqueued_at = now
                delivery.save(
                    update_fields=[
                        "status",
                        "next_attempt_at",
                        "finished_at",
                        "locked_until",
                        "enqueued_at",
                    ]
                )
                queued.append(str(delivery.id))
            if queued:
                # A lost message is enqueued again by the sweep.
                transaction.on_commit(lambda: deliveries_enqueue(queued))
        if queued:
            self.message_user(request, f"{len(queued)} delivery(ies) queued again.")


@admin.register(DeliveryAttempt)
class DeliveryAttemptAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    """The attempt log, read-only."""

    list_display = (
        "event_type",
        "attempt",
        "succeeded",
        "status_code",
        "duration_ms",
        "error",
        "created_at",
    )
    list_filter = ("succeeded", "event_type")
    search_fields = ("=delivery__id", "=event_id", "event_type", "endpoint__url")
    date_hierarchy = "created_at"
    fields = ("id", "delivery", "endpoint", "event_id", "event_type", *ATTEMPT_FIELDS)
    readonly_fields = fields


# --- Alerts ----------------------------------------------------------------------------------
class AlertGroupForm(forms.ModelForm):
    class Meta:
        model = AlertGroup
        fields = ("account", "name", "description", "connectors")

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        account_id = _form_account_id(self)
        if _name_taken(AlertGroup, self, account_id):
            self.add_error("name", "The account has another group of this name.")
        connectors = cleaned.get("connectors")
        if account_id is not None and connectors is not None:
            foreign = [c.name for c in connectors if c.account_id != account_id]
            if foreign:
                self.add_error("connectors", f"Of another account: {', '.join(sorted(foreign))}.")
        return cleaned


@admin.register(AlertGroup)
class AlertGroupAdmin(admin.ModelAdmin):
    form = AlertGroupForm
    list_display = ("name", "account", "connector_count", "created_at")
    search_fields = ("name", "account__name")
    list_select_related = ("account",)
    filter_horizontal = ("connectors",)
    autocomplete_fields = ("account",)

    def get_queryset(self, request: HttpRequest) -> QuerySet[AlertGroup]:
        return super().get_queryset(request).annotate(_connectors=Count("connectors"))

    @admin.display(description="Connectors", ordering="_connectors")
    def connector_count(self, obj: AlertGroup) -> int:
        return obj._connectors

    def get_readonly_fields(self, request, obj=None):
        base = ("id", "created_at", "updated_at")
        # A group stays in its account (its connectors and policies are that account's).
        return ("account", *base) if obj is not None else base

    def get_form(self, request, obj=None, change=False, **kwargs):
        form = super().get_form(request, obj, change=change, **kwargs)
        if obj is not None:
            form.base_fields["connectors"].queryset = Connector.objects.filter(
                account_id=obj.account_id
            )
        return form


class NotificationPolicyForm(forms.ModelForm):
    # The API's bounds: the model takes any positive integer, and a cooldown or freshness of
    # millennia is past what a date can hold (the evaluation's date arithmetic overflows).
    consecutive_failures = forms.IntegerField(min_value=2, max_value=100, initial=3)
    freshness_minutes = forms.IntegerField(
        min_value=5, max_value=MAX_FRESHNESS_MINUTES, required=False
    )
    cooldown_minutes = forms.IntegerField(min_value=0, max_value=MAX_COOLDOWN_MINUTES, initial=60)

    class Meta:
        model = NotificationPolicy
        fields = (
            "account",
            "name",
            "enabled",
            "conditions",
            "consecutive_failures",
            "freshness_minutes",
            "scope",
            "group",
            "connector",
            "notify_in_app",
            "email_recipients",
            "webhook_endpoint",
            "cooldown_minutes",
        )

    def clean_conditions(self) -> list[str]:
        value = self.cleaned_data.get("conditions")
        known = [c.value for c in Condition]
        if not isinstance(value, list) or not value or not all(isinstance(v, str) for v in value):
            raise ValidationError(f"A list of one or more of: {', '.join(known)}.")
        unknown = [v for v in value if v not in known]
        if unknown:
            raise ValidationError(
                f"Unknown conditions: {', '.join(unknown)}. Known: {', '.join(known)}."
            )
        return list(dict.fromkeys(value))

    def clean_email_recipients(self) -> list[str]:
        value = self.cleaned_data.get("email_recipients")
        if value in (None, ""):
            return []
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise ValidationError('A list of addresses, e.g. ["oncall@example.com"].')
        for address in value:
            try:
                validate_email(address)
            except ValidationError as exc:
                raise ValidationError(f"Not an email address: {address}") from exc
        return list(dict.fromkeys(value))

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        account_id = _form_account_id(self)
        if _name_taken(NotificationPolicy, self, account_id):
            self.add_error("name", "The account has another policy of this name.")
        scope = cleaned.get("scope")
        # Only the scope's own target is kept, and a freshness only with data_stale.
        if scope != PolicyScope.GROUP:
            cleaned["group"] = None
        if scope != PolicyScope.CONNECTOR:
            cleaned["connector"] = None
        if Condition.DATA_STALE not in (cleaned.get("conditions") or []):
            cleaned["freshness_minutes"] = None
        account = cleaned.get("account") if "account" in self.fields else self.instance.account
        if self.errors or account is None:
            return cleaned  # the rules across fields need every field's clean value
        _same_account(self, account.id, "group", "group")
        _same_account(self, account.id, "connector", "connector")
        _same_account(self, account.id, "webhook_endpoint", "webhook endpoint")
        try:
            # The API's own rules (webhooks/alerts/services.py), on the form's values.
            policy_validate(account=account, merged=self._as_api_fields(cleaned))
        except RequestValidationError as exc:
            for problem in exc.detail:
                self.add_error(_POLICY_FORM_FIELDS.get(tuple(problem["loc"][1:])), problem["msg"])
        return cleaned

    @staticmethod
    def _as_api_fields(cleaned: dict[str, Any]) -> dict[str, Any]:
        def id_of(name: str) -> Any:
            return cleaned[name].id if cleaned.get(name) is not None else None

        return {
            "name": cleaned.get("name"),
            "enabled": cleaned.get("enabled"),
            "conditions": cleaned.get("conditions") or [],
            "consecutive_failures": cleaned.get("consecutive_failures"),
            "freshness_minutes": cleaned.get("freshness_minutes"),
            "scope": cleaned.get("scope"),
            "group_id": id_of("group"),
            "connector_id": id_of("connector"),
            "in_app": cleaned.get("notify_in_app"),
            "email_recipients": cleaned.get("email_recipients") or [],
            "webhook_id": id_of("webhook_endpoint"),
            "cooldown_minutes": cleaned.get("cooldown_minutes"),
        }


# Where the API's problems (their `loc` after "body") show on the policy form.
_POLICY_FORM_FIELDS = {
    ("freshness_minutes",): "freshness_minutes",
    ("group_id",): "group",
    ("connector_id",): "connector",
    ("channels", "webhook_id"): "webhook_endpoint",
}


@admin.register(NotificationPolicy)
class NotificationPolicyAdmin(admin.ModelAdmin):
    form = NotificationPolicyForm
    list_display = ("name", "account", "enabled", "scope", "conditions_display", "created_at")
    list_filter = ("enabled", "scope")
    search_fields = ("name", "account__name")
    list_select_related = ("account",)
    autocomplete_fields = ("account",)

    @admin.display(description="Conditions")
    def conditions_display(self, obj: NotificationPolicy) -> str:
        return ", ".join(obj.conditions)

    def get_readonly_fields(self, request, obj=None):
        base = ("id", "created_at", "updated_at")
        return ("account", *base) if obj is not None else base

    def get_form(self, request, obj=None, change=False, **kwargs):
        form = super().get_form(request, obj, change=change, **kwargs)
        if obj is not None:
            # The choices are the policy's account's own.
            for name, model in (
                ("group", AlertGroup),
                ("connector", Connector),
                ("webhook_endpoint", WebhookEndpoint),
            ):
                if name in form.base_fields:
                    form.base_fields[name].queryset = model.objects.filter(
                        account_id=obj.account_id
                    )
        return form


@admin.register(Notification)
class NotificationAdmin(admin.ModelAdmin):
    """Read-only but for "Mark read": notifications are written by the alert policies."""

    list_display = ("title", "kind", "account", "read_at", "created_at")
    list_filter = ("kind", ("read_at", admin.EmptyFieldListFilter), "in_app")
    search_fields = ("title", "account__name")
    list_select_related = ("account",)
    date_hierarchy = "created_at"
    # The connector's id, not the connector: it may be gone.
    fields = (
        "id",
        "account",
        "policy",
        "connector_id",
        "kind",
        "title",
        "message",
        "data_json",
        "in_app",
        "email_recipients",
        "emailed_at",
        "read_at",
        "created_at",
    )
    readonly_fields = fields
    actions = ["mark_read"]

    @admin.display(description="Data")
    def data_json(self, obj: Notification) -> str:
        return pretty_json(obj.data)

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_mark_read_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("webhooks.change_notification")

    @admin.action(description="Mark read", permissions=["mark_read"])
    def mark_read(self, request: HttpRequest, queryset: QuerySet[Notification]) -> None:
        count = queryset.filter(read_at__isnull=True).update(read_at=timezone.now())
        self.message_user(request, f"{count} notification(s) marked read.")
