"""API keys in admin: only a recognisable prefix is shown; the key itself was never stored."""

from __future__ import annotations

from django.contrib import admin

from chat.models import ApiKey


@admin.register(ApiKey)
class ApiKeyAdmin(admin.ModelAdmin):
    list_display = ["prefix", "user", "name", "is_active", "created_at", "last_used_at"]
    readonly_fields = ["prefix", "created_at", "last_used_at"]
    list_select_related = ["user"]
