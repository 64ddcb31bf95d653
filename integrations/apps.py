from django.apps import AppConfig


class IntegrationsConfig(AppConfig):
    name = "integrations"
    verbose_name = "Integrations"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # Imported here, not at the top: models (and what imports them) load only once the app
        # registry is ready, which is when Django calls ready().
        # `github` connectors get their tokens from this app's installations, and the SaaS
        # sources from its OAuth grants (GET /connectors/oauth/...): registered with the
        # connectors app, which builds the sources without importing this one.
        from connectors.credentials import credential_binding_register
        from integrations.credentials import GITHUB_APP_INSTALLATION, GitHubInstallationBinding
        from integrations.models import OAuthGrant
        from integrations.oauth.providers import PROVIDERS
        from integrations.oauth.tokens import OAuthGrantBinding, credential_kind
        from landed.security.secrets import encrypted_column_register

        credential_binding_register(GITHUB_APP_INSTALLATION, GitHubInstallationBinding())
        for provider in PROVIDERS:
            credential_binding_register(credential_kind(provider), OAuthGrantBinding(provider))
        # The grants' tokens are re-encrypted by `manage.py rotate_secrets` with the others.
        encrypted_column_register(OAuthGrant, "encrypted_tokens")
