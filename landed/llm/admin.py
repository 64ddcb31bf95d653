"""The operators' page of the LLM provider's usage: a record, never edited."""

from __future__ import annotations

from django.contrib import admin

from landed.admin_mixins import ReadOnlyAdminMixin
from landed.llm.models import LlmUsage


@admin.register(LlmUsage)
class LlmUsageAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = (
        "created_at",
        "account",
        "purpose",
        "model",
        "prompt_tokens",
        "completion_tokens",
        "cost_usd",
        "estimated",
    )
    list_filter = ("purpose", "model", "estimated")
    list_select_related = ("account",)
    search_fields = ("account__name", "purpose", "model")
    date_hierarchy = "created_at"
