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
        from integrations.oauth.providers import PROVIDERS
        from integrations.oauth.tokens import OAuthGrantBinding, credential_kind

        credential_binding_register(GITHUB_APP_INSTALLATION, GitHubInstallationBinding())
        # The SaaS sources read with the account's OAuth grants (GET /connectors/oauth/...).
        from integrations.models import OAuthGrant
        from landed.security.secrets import encrypted_column_register

        encrypted_column_register(OAuthGrant, "encrypted_tokens")
        for provider in PROVIDERS:
            credential_binding_register(credential_kind(provider), OAuthGrantBinding(provider))
