from __future__ import annotations

from django.urls import path

from chat.consumers import ConversationConsumer

websocket_urlpatterns = [
    path(
        "ws/conversations/<str:conversation_id>/",
        ConversationConsumer.as_asgi(),
        name="conversation-socket",
    ),
]
# So that reverse(..., urlconf="chat.routing") finds the socket's URL for the page.
urlpatterns = websocket_urlpatterns
