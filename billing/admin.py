"""The operators' pages for billing: accounts' plans and subscriptions (with this period's
usage), the Stripe events received and the usage reported to Stripe.

Subscription state is Stripe's, brought by its webhooks: shown, not edited. The plan may be
changed by hand (a plan granted without a subscription); the next subscription event from
Stripe sets it again."""

from __future__ import annotations

from django import forms
from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest

from billing.models import BillingAccount, StripeEvent, UsageReport
from billing.plans import plans_load
from billing.selectors import billing_accounts_with_usage, billing_is_active
from landed.admin_mixins import ReadOnlyAdminMixin

BILLING_READONLY = (
    "account",
    "subscription_status",
    "stripe_customer_id",
    "stripe_subscription_id",
    "stripe_metered_item_id",
    "current_period_start",
    "current_period_end",
    "past_due_since",
    "status_changed_at",
    "usage_this_period",
    "is_active",
    "created_at",
    "updated_at",
)


class BillingAccountForm(forms.ModelForm):
    plan = forms.ChoiceField(choices=())

    class Meta:
        model = BillingAccount
        fields = ("plan",)

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        names = list(plans_load())
        if self.instance.plan and self.instance.plan not in names:
            names.append(self.instance.plan)  # no longer configured: shown, not lost
        self.fields["plan"].choices = [(name, name) for name in names]


@admin.register(BillingAccount)
class BillingAccountAdmin(admin.ModelAdmin):
    form = BillingAccountForm
    list_display = (
        "account",
        "plan",
        "subscription_status",
        "is_active",
        "usage_this_period",
        "current_period_end",
        "past_due_since",
        "stripe_customer_id",
    )
    list_filter = ("plan", "subscription_status")
    search_fields = ("account__name", "stripe_customer_id", "stripe_subscription_id")
    list_select_related = ("account",)
    readonly_fields = BILLING_READONLY
    fields = ("plan", *BILLING_READONLY)

    def get_queryset(self, request: HttpRequest) -> QuerySet[BillingAccount]:
        # One query for the page's usage column, not one per row.
        return billing_accounts_with_usage(super().get_queryset(request))

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    @admin.display(description="Rows this period", ordering="usage_rows")
    def usage_this_period(self, obj: BillingAccount) -> str:
        rows = getattr(obj, "usage_rows", None)
        return "-" if rows is None else f"{rows:,}"

    @admin.display(description="Active", boolean=True)
    def is_active(self, obj: BillingAccount) -> bool:
        return billing_is_active(obj)


class ReadOnlyAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    pass


@admin.register(StripeEvent)
class StripeEventAdmin(ReadOnlyAdmin):
    list_display = ("stripe_id", "type", "account", "outcome", "created", "processed_at")
    list_filter = ("type",)
    search_fields = ("stripe_id", "account__name")
    list_select_related = ("account",)
    date_hierarchy = "processed_at"


@admin.register(UsageReport)
class UsageReportAdmin(ReadOnlyAdmin):
    list_display = (
        "account",
        "period_start",
        "period_end",
        "rows_reported",
        "pending_rows",
        "last_reported_at",
        "final",
    )
    list_filter = ("final",)
    search_fields = ("account__name",)
    list_select_related = ("account",)
