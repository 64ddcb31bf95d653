from django.apps import AppConfig


class AccountsConfig(AppConfig):
    name = "landed.accounts"
    label = "accounts"
    verbose_name = "Accounts and authentication"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # Registers the OpenAPI descriptions of our authentication classes. Imported once the
        # app registry is ready, as drf-spectacular's extensions expect (not with the config).
        from landed.accounts import schema  # noqa: F401
