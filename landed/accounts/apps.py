from django.apps import AppConfig


class AccountsConfig(AppConfig):
    name = "landed.accounts"
    label = "accounts"
    verbose_name = "Accounts and authentication"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # Registers the OpenAPI descriptions of our authentication classes.
        from landed.accounts import schema  # noqa: F401
