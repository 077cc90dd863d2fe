from __future__ import annotations

from django.urls import path

from chat.api import answers, resources, streams

app_name = "api"

urlpatterns = [
    path("chat", answers.chat, name="chat"),
    path("chat/stream", answers.chat_stream, name="chat-stream"),
    path("messages/<uuid:message_id>/regenerate", answers.regenerate, name="regenerate"),
    path("messages/<uuid:message_id>/edit", answers.edit, name="edit"),
    path("messages/<uuid:message_id>/events", streams.message_events, name="message-events"),
    path("messages/<uuid:message_id>/stop", streams.stop_message, name="stop"),
    path("models", resources.models, name="models"),
    path("conversations", resources.conversation_list, name="conversations"),
    path("conversations/<uuid:conversation_id>", resources.conversation, name="conversation"),
    path(
        "conversations/<uuid:conversation_id>/events",
        streams.conversation_events,
        name="conversation-events",
    ),
]
