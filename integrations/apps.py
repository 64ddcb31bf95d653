from django.apps import AppConfig


class IntegrationsConfig(AppConfig):
    name = "integrations"
    verbose_name = "Integrations"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # `github` connectors get their tokens from this app's installations: registered with
        # the connectors app, which builds the sources without importing this one.
        from connectors.credentials import credential_binding_register
        from integrations.credentials import GITHUB_APP_INSTALLATION, GitHubInstallationBinding

        credential_binding_register(GITHUB_APP_INSTALLATION, GitHubInstallationBinding())
