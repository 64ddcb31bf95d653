"""The operators' pages for accounts, users, API keys and sign-in lockouts."""

from typing import Any

from django.contrib import admin, messages
from django.contrib.admin.forms import AdminAuthenticationForm
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin
from django.core.exceptions import ValidationError
from django.db.models import Count, Q, QuerySet
from django.http import HttpRequest, HttpResponse
from django.utils import timezone

from landed.accounts import services, sign_ins
from landed.accounts.models import Account, ApiKey, LoginThrottle, SocialIdentity, User
from landed.admin_mixins import ReadOnlyAdminMixin, admin_site_url
from landed.api import ratelimit
from landed.api.errors import NotAuthenticatedError, RateLimitedError


class LockoutAdminAuthenticationForm(AdminAuthenticationForm):
    """The admin's sign-in goes through the same lockout as the API's: operator accounts are
    the most valuable ones to guess."""

    def clean(self) -> dict[str, Any]:
        email = self.cleaned_data.get("username")
        password = self.cleaned_data.get("password")
        if email is not None and password:
            try:
                self.user_cache = services.user_login(
                    request=self.request, email=email, password=password
                )
            except RateLimitedError as exc:
                raise ValidationError(exc.detail, code="locked") from exc
            except NotAuthenticatedError as exc:
                raise self.get_invalid_login_error() from exc
            self.confirm_login_allowed(self.user_cache)
        return self.cleaned_data


admin.site.login_form = LockoutAdminAuthenticationForm
# "View site": the API's documentation where this server serves it; no link where it does not.
admin.site.site_url = admin_site_url()


def admin_login(request: HttpRequest) -> HttpResponse:
    """The admin's login page, with sign-in attempts held to the API's Login rate tier."""
    if request.method == "POST":
        try:
            ratelimit.enforce_rate_limit(request, group="admin.login", tier=ratelimit.LOGIN)
        except RateLimitedError as exc:
            response = HttpResponse(
                "Too many sign-in attempts. Try again later.", status=429, content_type="text/plain"
            )
            response["Retry-After"] = str(exc.retry_after)
            return response
    return admin.site.login(request)


def sign_in_methods(user: User) -> str:
    """ "Password", the linked providers, or both: how a user can sign in."""
    methods = ["Password"] if user.has_usable_password() else []
    methods += sorted({i.get_provider_display() for i in user.social_identities.all()})
    return ", ".join(methods) or "none"


class UserInline(admin.TabularInline):
    model = User
    fields = ("email", "sign_in", "is_active", "is_staff", "last_login", "date_joined")
    readonly_fields = fields
    extra = 0
    can_delete = False
    show_change_link = True

    def has_add_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False

    def get_queryset(self, request: HttpRequest) -> QuerySet[User]:
        return super().get_queryset(request).prefetch_related("social_identities")

    @admin.display(description="sign-in")
    def sign_in(self, obj: User) -> str:
        return sign_in_methods(obj)


class SocialIdentityInline(admin.TabularInline):
    """The provider accounts linked to a user. An operator may unlink one (delete); linking
    happens only by signing in with the provider."""

    model = SocialIdentity
    fields = ("provider", "subject", "email", "created_at", "last_login_at")
    readonly_fields = fields
    extra = 0
    verbose_name_plural = "linked sign-ins (Google, GitHub)"

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
    list_display = (
        "email",
        "account",
        "sign_in",
        "is_active",
        "is_staff",
        "last_login",
        "date_joined",
    )
    list_filter = (
        "is_active",
        "is_staff",
        "is_superuser",
        "social_identities__provider",
        "date_joined",
    )
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
    inlines = [SocialIdentityInline]
    actions = ["sign_out_everywhere"]

    def save_model(self, request: HttpRequest, obj: User, form: Any, change: bool) -> None:
        super().save_model(request, obj, form, change)
        # A disabled user is refused at once anyway; ending the sign-ins also keeps their old
        # sessions and JWTs from coming back if the user is enabled again.
        if change and "is_active" in form.changed_data and not obj.is_active:
            sign_ins.user_sign_out_everywhere(user=obj)

    @admin.action(description="Sign out everywhere (end all sessions and JWTs)")
    def sign_out_everywhere(self, request: HttpRequest, queryset: QuerySet[User]) -> None:
        ended = sum(sign_ins.user_sign_out_everywhere(user=user) for user in queryset)
        self.message_user(
            request,
            f"Signed out {queryset.count()} user(s): {ended} session(s) ended.",
            messages.SUCCESS,
        )

    def get_queryset(self, request: HttpRequest) -> QuerySet[User]:
        return super().get_queryset(request).prefetch_related("social_identities")

    @admin.display(description="sign-in")
    def sign_in(self, obj: User) -> str:
        return sign_in_methods(obj)


@admin.register(ApiKey)
class ApiKeyAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    """Keys are created through the API, which shows the raw key once; here only the hash.
    Read-only: an operator revokes (or deletes) a key, and changes nothing in it."""

    deletable = True

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

    @admin.action(description="Revoke selected API keys", permissions=["operation"])
    def revoke(self, request: HttpRequest, queryset: QuerySet[ApiKey]) -> None:
        count = queryset.filter(revoked_at__isnull=True).update(revoked_at=timezone.now())
        self.message_user(request, f"Revoked {count} API key(s).", messages.SUCCESS)


@admin.register(LoginThrottle)
class LoginThrottleAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    # Unlocking an email is deleting its lockout (here or with the action below).
    deletable = True
    # A blank address is the email's row across all addresses (its lock is the backoff).
    list_display = (
        "email",
        "client_address",
        "failed_attempts",
        "last_failed_at",
        "locked_until",
        "last_succeeded_at",
    )
    search_fields = ("email", "client_address")
    list_filter = (("locked_until", admin.EmptyFieldListFilter),)
    readonly_fields = list_display
    actions = ["unlock"]

    @admin.action(description="Unlock sign-in for selected emails", permissions=["delete"])
    def unlock(self, request: HttpRequest, queryset: QuerySet[LoginThrottle]) -> None:
        count, _ = queryset.delete()
        self.message_user(request, f"Unlocked {count} email(s).", messages.SUCCESS)
