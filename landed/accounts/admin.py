"""The operators' pages for accounts, users, API keys and sign-in lockouts."""

from django.contrib import admin, messages
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin
from django.db.models import Count, Q, QuerySet
from django.http import HttpRequest
from django.utils import timezone

from landed.accounts.models import Account, ApiKey, LoginThrottle, User


class UserInline(admin.TabularInline):
    model = User
    fields = ("email", "is_active", "is_staff", "last_login", "date_joined")
    readonly_fields = fields
    extra = 0
    can_delete = False
    show_change_link = True

    def has_add_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False


@admin.register(Account)
class AccountAdmin(admin.ModelAdmin):
    list_display = ("name", "id", "user_count", "active_key_count", "created_at")
    search_fields = ("name", "id", "users__email")
    list_filter = ("created_at",)
    readonly_fields = ("id", "created_at", "updated_at")
    inlines = [UserInline]

    def get_queryset(self, request: HttpRequest) -> QuerySet[Account]:
        return (
            super()
            .get_queryset(request)
            .annotate(
                _user_count=Count("users", distinct=True),
                _active_keys=Count(
                    "api_keys", filter=Q(api_keys__revoked_at__isnull=True), distinct=True
                ),
            )
        )

    @admin.display(description="users", ordering="_user_count")
    def user_count(self, obj: Account) -> int:
        return obj._user_count

    @admin.display(description="active API keys", ordering="_active_keys")
    def active_key_count(self, obj: Account) -> int:
        return obj._active_keys


@admin.register(User)
class UserAdmin(DjangoUserAdmin):
    ordering = ("-date_joined",)
    list_display = ("email", "account", "is_active", "is_staff", "last_login", "date_joined")
    list_filter = ("is_active", "is_staff", "is_superuser", "date_joined")
    search_fields = ("email", "account__name", "id")
    list_select_related = ("account",)
    autocomplete_fields = ("account",)
    readonly_fields = ("id", "last_login", "date_joined")
    fieldsets = (
        (None, {"fields": ("id", "email", "password", "account")}),
        ("Permissions", {"fields": ("is_active", "is_staff", "is_superuser", "groups")}),
        ("Dates", {"fields": ("last_login", "date_joined")}),
    )
    add_fieldsets = (
        (None, {"classes": ("wide",), "fields": ("email", "account", "password1", "password2")}),
    )
    filter_horizontal = ("groups",)


@admin.register(ApiKey)
class ApiKeyAdmin(admin.ModelAdmin):
    """Keys are created through the API, which shows the raw key once; here only the hash."""

    list_display = (
        "prefix",
        "name",
        "account",
        "created_by",
        "created_at",
        "last_used_at",
        "revoked_at",
    )
    list_filter = (("revoked_at", admin.EmptyFieldListFilter), "created_at", "last_used_at")
    search_fields = ("prefix", "name", "account__name", "created_by__email")
    list_select_related = ("account", "created_by")
    readonly_fields = (
        "id",
        "account",
        "created_by",
        "name",
        "prefix",
        "key_hash",
        "created_at",
        "last_used_at",
        "revoked_at",
    )
    actions = ["revoke"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    @admin.action(description="Revoke selected API keys")
    def revoke(self, request: HttpRequest, queryset: QuerySet[ApiKey]) -> None:
        count = queryset.filter(revoked_at__isnull=True).update(revoked_at=timezone.now())
        self.message_user(request, f"Revoked {count} API key(s).", messages.SUCCESS)


@admin.register(LoginThrottle)
class LoginThrottleAdmin(admin.ModelAdmin):
    list_display = ("email", "failed_attempts", "last_failed_at", "locked_until")
    search_fields = ("email",)
    list_filter = (("locked_until", admin.EmptyFieldListFilter),)
    readonly_fields = ("email", "failed_attempts", "last_failed_at", "locked_until")
    actions = ["unlock"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    @admin.action(description="Unlock sign-in for selected emails")
    def unlock(self, request: HttpRequest, queryset: QuerySet[LoginThrottle]) -> None:
        count, _ = queryset.delete()
        self.message_user(request, f"Unlocked {count} email(s).", messages.SUCCESS)
