from django.apps import AppConfig


class ConnectorsConfig(AppConfig):
    name = "connectors"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # Imported here, not at the top: models load only once the app registry is ready.
        from connectors.models import CustomConnectorGeneration
        from landed.security.secrets import encrypted_column_register

        # A generation's test credentials are re-encrypted by `manage.py rotate_secrets` with
        # the other secrets (while an attempt holds them).
        encrypted_column_register(CustomConnectorGeneration, "encrypted_config")
