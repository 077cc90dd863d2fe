"""API keys in admin: issue one (shown once), see when keys were used, deactivate them."""

from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.http import HttpRequest

from chat.models import API_KEY_PREFIX, ApiKey, hash_api_key


@admin.register(ApiKey)
class ApiKeyAdmin(admin.ModelAdmin):
    list_display = ["prefix", "user", "name", "is_active", "created_at", "last_used_at"]
    list_filter = ["is_active"]
    search_fields = ["user__username", "name", "prefix"]
    list_select_related = ["user"]
    autocomplete_fields = ["user"]

    def get_fields(self, request: HttpRequest, obj: ApiKey | None = None) -> tuple[str, ...]:
        if obj is None:
            # The key itself is made here, not typed in.
            return ("user", "name")
        return ("user", "name", "prefix", "is_active", "created_at", "last_used_at")

    def get_readonly_fields(self, request: HttpRequest, obj: ApiKey | None = None) -> list[str]:
        if obj is None:
            return []
        return ["user", "prefix", "created_at", "last_used_at"]

    def save_model(self, request: HttpRequest, obj: ApiKey, form: Any, change: bool) -> None:
        if change:
            super().save_model(request, obj, form, change)
            return
        # Only the hash is stored: the plain key is shown this once, in the message below.
        plain = API_KEY_PREFIX + ApiKey.new_secret()
        obj.prefix = plain[: len(API_KEY_PREFIX) + 6]
        obj.key_hash = hash_api_key(plain)
        super().save_model(request, obj, form, change)
        self.message_user(
            request,
            f"API key for {obj.user}: {plain} — copy it now, it is not shown again.",
            messages.WARNING,
        )
