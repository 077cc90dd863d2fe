"""Django admin. Staff configure models here; transcript review grows here too."""

from __future__ import annotations

from django.contrib import admin

from chat.models import ApiKey, Conversation, Message, ModelConfig


@admin.register(ModelConfig)
class ModelConfigAdmin(admin.ModelAdmin):
    list_display = ["name", "display_name", "provider", "upstream_model", "enabled", "is_default"]
    list_filter = ["provider", "enabled"]
    search_fields = ["name", "display_name", "upstream_model"]


class MessageInline(admin.TabularInline):
    model = Message
    extra = 0
    fields = ["position", "role", "status", "content", "finish_reason", "ttft_ms", "error_code"]
    readonly_fields = fields
    can_delete = False


@admin.register(Conversation)
class ConversationAdmin(admin.ModelAdmin):
    list_display = ["title", "owner", "model_config", "updated_at"]
    list_select_related = ["owner", "model_config"]
    search_fields = ["title"]
    inlines = [MessageInline]


@admin.register(ApiKey)
class ApiKeyAdmin(admin.ModelAdmin):
    list_display = ["prefix", "user", "name", "is_active", "created_at", "last_used_at"]
    readonly_fields = ["prefix", "created_at", "last_used_at"]
    list_select_related = ["user"]
