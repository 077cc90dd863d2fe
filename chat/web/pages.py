"""Full pages: the chat (new or existing conversation) and sign-up."""

from __future__ import annotations

import uuid
from typing import Any

from django.conf import settings
from django.contrib.auth import login
from django.contrib.auth.forms import UserCreationForm
from django.contrib.auth.views import redirect_to_login
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_http_methods

from chat import conversations
from chat.errors import ChatError
from chat.models import Conversation, Message
from chat.owners import Owner
from chat.ownership import owner_for
from chat.web.display import message_view, model_choices

SIDEBAR_LIMIT = 50
# Stands for "any id" in the URL patterns the page gives its script (static/chat/urls.js).
ANY_ID = "00000000-0000-0000-0000-000000000000"


def may_chat(request: HttpRequest) -> bool:
    """Signed in, or anonymous chat is on."""
    return request.user.is_authenticated or settings.CHAT_ALLOW_ANONYMOUS


def page_owner(request: HttpRequest) -> Owner | None:
    """Whose conversations the page shows; never makes an anonymous owner (the first
    message does, through the API), so looking at a page writes no session."""
    return owner_for(request.user, request.session)


def owned_conversation_or_404(owner: Owner | None, conversation_id: uuid.UUID) -> Conversation:
    if owner is None:
        raise Http404("Conversation not found.")
    try:
        return conversations.owned_conversation(owner, conversation_id)
    except ChatError as error:
        raise Http404(error.message) from error


def owned_message_or_404(owner: Owner | None, message_id: uuid.UUID) -> Message:
    if owner is None:
        raise Http404("Message not found.")
    try:
        return conversations.owned_message(owner, message_id)
    except ChatError as error:
        raise Http404(error.message) from error


def sidebar_context(owner: Owner | None, current_id: str) -> dict[str, Any]:
    listed = conversations.conversation_page(owner, SIDEBAR_LIMIT)[0] if owner else []
    return {"conversations": listed, "current_id": current_id}


@require_http_methods(["GET", "HEAD"])
def chat_page(request: HttpRequest, conversation_id: uuid.UUID | None = None) -> HttpResponse:
    """A conversation (or a new one at /), server-rendered: readable without JavaScript."""
    if not may_chat(request):
        return redirect_to_login(request.get_full_path())
    owner = page_owner(request)
    conversation = (
        owned_conversation_or_404(owner, conversation_id) if conversation_id is not None else None
    )
    messages = conversations.messages_of(conversation) if conversation is not None else []
    context = {
        "conversation": conversation,
        "messages": [message_view(m) for m in messages],
        "models": model_choices(conversation),
        "max_chars": settings.CHAT_MAX_MESSAGE_CHARS,
        "any_id": ANY_ID,
        # Not in the HTTP URLconf, so not for {% url %}.
        "socket_url": reverse("conversation-socket", urlconf="chat.routing", args=[ANY_ID]),
        **sidebar_context(owner, str(conversation.pk) if conversation else ""),
    }
    return render(request, "chat/chat.html", context)


@require_http_methods(["GET", "HEAD", "POST"])
def signup(request: HttpRequest) -> HttpResponse:
    if request.user.is_authenticated:
        return redirect("chat:home")
    form: UserCreationForm[Any] = UserCreationForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        user = form.save()
        login(request, user, backend="django.contrib.auth.backends.ModelBackend")
        return redirect("chat:home")
    return render(request, "registration/signup.html", {"form": form})
