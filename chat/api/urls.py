from __future__ import annotations

from django.urls import path

from chat.api import views

app_name = "api"

urlpatterns = [
    path("chat", views.chat, name="chat"),
    path("chat/stream", views.chat_stream, name="chat-stream"),
    path("messages/<uuid:message_id>/stop", views.stop_message, name="stop"),
    path("models", views.models, name="models"),
    path("conversations", views.conversations, name="conversations"),
    path("conversations/<uuid:conversation_id>", views.conversation, name="conversation"),
]
