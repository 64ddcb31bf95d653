"""The operators' pages for webhook endpoints (with "enable again"), events, deliveries (with
"redeliver") and their attempt logs. The alert pages (groups, policies, notifications) are in
`webhooks/alerts/admin.py`, registered from here.

Signing secrets are never shown: the secret columns are not form fields, and no read-only
display names them, encrypted or decrypted. Endpoints are created by customers through the
API (which generates the secret); here operators fix a URL or switch an endpoint back on."""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils import timezone

from landed.admin_mixins import Operation, OperationsAdminMixin, ReadOnlyAdminMixin, pretty_json
from landed.api.errors import ApplicationError, RequestValidationError
from webhooks import isolation, services

# The admin's autodiscovery imports each app's `admin` module only: importing the alert pages
# here is what registers them (they belong to this app, like their models).
from webhooks.alerts import admin as alert_admin  # noqa: F401
from webhooks.events import SUBSCRIBABLE
from webhooks.models import Delivery, DeliveryAttempt, Event, WebhookEndpoint

# Never a field, a read-only display or a list column of any page here.
SECRET_FIELDS = ("encrypted_secret", "encrypted_previous_secret", "previous_secret_expires_at")


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
        "breaker_display",
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
        "consecutive_timeouts",
        "breaker_open_until",
        "in_flight_until",
        "disabled_at",
        "disabled_reason",
        "created_at",
        "updated_at",
    )
    readonly_fields = (
        "id",
        "account",
        "failing_since",
        # The circuit breaker and the attempt in flight (webhooks/isolation.py): what Landed
        # decides, not what an operator sets.
        "consecutive_timeouts",
        "breaker_open_until",
        "in_flight_until",
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

    @admin.display(description="Breaker")
    def breaker_display(self, obj: WebhookEndpoint) -> str:
        state = isolation.breaker_state(obj)
        if state == isolation.BreakerState.CLOSED:
            return state.value
        return f"{state.value} ({obj.consecutive_timeouts} timeouts in a row)"

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
            consecutive_timeouts=0,
            breaker_open_until=None,
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
class DeliveryAdmin(OperationsAdminMixin, ReadOnlyAdminMixin, admin.ModelAdmin):
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
    operations = (Operation("redeliver", "Redeliver"),)

    @admin.display(description="Event type", ordering="event__type")
    def event_type(self, obj: Delivery) -> str:
        return obj.event.type

    @admin.display(description="Endpoint URL", ordering="endpoint__url")
    def endpoint_url(self, obj: Delivery) -> str:
        return obj.endpoint.url

    @admin.action(description="Redeliver", permissions=["operation"])
    def redeliver(self, request: HttpRequest, queryset: QuerySet[Delivery]) -> None:
        """Send the selected deliveries again now, whatever their status: a succeeded one is
        resent (its attempt numbers continue)."""
        queued = 0
        for delivery_id in queryset.order_by("id").values_list("id", flat=True):
            try:
                services.delivery_redeliver(delivery_id=delivery_id)
            except ApplicationError as exc:
                self.message_user(
                    request, f"{delivery_id}: not redelivered. {exc.message}", messages.WARNING
                )
            else:
                queued += 1
        if queued:
            self.message_user(request, f"{queued} delivery(ies) queued again.")

    def operation_redeliver(self, request: HttpRequest, obj: Delivery) -> None:
        redelivery = services.delivery_redeliver(delivery_id=obj.id)
        self.message_user(
            request,
            f"Redelivery queued: attempt {redelivery.attempts + 1} is made now.",
            messages.SUCCESS,
        )


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
