from django.apps import AppConfig


class LlmConfig(AppConfig):
    name = "landed.llm"
    label = "llm"
    verbose_name = "LLM provider"
    default_auto_field = "django.db.models.BigAutoField"
