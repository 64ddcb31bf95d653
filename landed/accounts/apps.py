from django.apps import AppConfig


class AccountsConfig(AppConfig):
    name = "landed.accounts"
    label = "accounts"
    verbose_name = "Accounts and authentication"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # Registers the OpenAPI descriptions of our authentication classes. Imported once the
        # app registry is ready, as drf-spectacular's extensions expect (not with the config).
        # Every login starts a sign-in and every logout ends one, whichever view signs in.
        from django.contrib.auth.signals import user_logged_in, user_logged_out

        from landed.accounts import (
            schema,  # noqa: F401
            sign_ins,
        )

        user_logged_in.connect(sign_ins.on_user_logged_in, dispatch_uid="landed.sign_in")
        user_logged_out.connect(sign_ins.on_user_logged_out, dispatch_uid="landed.sign_out")
