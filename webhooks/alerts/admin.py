"""The operators' pages for alert groups, notification policies and notifications.

Registered on the admin site by `webhooks/admin.py`, which imports this module: the admin's
autodiscovery imports each app's `admin` module, and these pages belong to the `webhooks` app."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db.models import Count, QuerySet
from django.http import HttpRequest
from django.utils import timezone

from connectors.models import Connector
from landed.admin_mixins import ReadOnlyAdminMixin, pretty_json
from landed.api.errors import RequestValidationError
from webhooks.alerts.models import (
    AlertGroup,
    Condition,
    Notification,
    NotificationPolicy,
    PolicyScope,
)
from webhooks.alerts.serializers import MAX_COOLDOWN_MINUTES, MAX_FRESHNESS_MINUTES
from webhooks.alerts.services import policy_validate
from webhooks.models import WebhookEndpoint


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
class NotificationAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
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

    # Its fields are read-only; deleting a notification stays possible, as before.
    deletable = True

    @admin.action(description="Mark read", permissions=["operation"])
    def mark_read(self, request: HttpRequest, queryset: QuerySet[Notification]) -> None:
        count = queryset.filter(read_at__isnull=True).update(read_at=timezone.now())
        self.message_user(request, f"{count} notification(s) marked read.")
