"""The operators' pages of the support chat: its conversations (what was asked, what was
answered and from which sources) and the passages it retrieves from. Records, never edited."""

from __future__ import annotations

from django.contrib import admin

from landed.admin_mixins import ReadOnlyAdminMixin
from support.models import SupportConversation, SupportMessage, SupportPassage


class SupportMessageInline(ReadOnlyAdminMixin, admin.TabularInline):
    model = SupportMessage
    fields = ("created_at", "role", "content", "sources")
    readonly_fields = fields
    extra = 0


@admin.register(SupportConversation)
class SupportConversationAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ("id", "account", "created_at")
    list_select_related = ("account",)
    search_fields = ("id", "account__name", "messages__content")
    date_hierarchy = "created_at"
    readonly_fields = ("id", "account", "created_at")
    inlines = [SupportMessageInline]


@admin.register(SupportPassage)
class SupportPassageAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ("title", "kind", "source_path", "url")
    list_filter = ("kind", "source_path")
    search_fields = ("title", "text")
    readonly_fields = ("kind", "source_path", "title", "anchor", "url", "text", "content_hash")
    exclude = ("search", "position")
