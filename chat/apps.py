from __future__ import annotations

from django.apps import AppConfig


class ChatConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "chat"
    verbose_name = "Chat"

    def ready(self) -> None:
        from django.contrib.auth.signals import user_logged_in

        from chat.ownership import adopt_anonymous_conversations

        user_logged_in.connect(adopt_anonymous_conversations, dispatch_uid="chat-adopt-anonymous")
