"""Whose conversations a page shows: the sync twin of chat.api.auth.request_owner."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.http import HttpRequest

from chat.api.auth import ANONYMOUS_SESSION_KEY
from chat.models import Conversation
from chat.owners import Owner


def may_chat(request: HttpRequest) -> bool:
    """Signed in, or anonymous chat is on."""
    return request.user.is_authenticated or settings.CHAT_ALLOW_ANONYMOUS


def page_owner(request: HttpRequest) -> Owner | None:
    """The signed-in user, or this browser session's anonymous owner.

    None when the visitor owns nothing yet: the anonymous id is made by the API on the
    first message, so merely looking at the page writes no session.
    """
    if request.user.is_authenticated:
        return Owner.user(request.user.pk)
    if not settings.CHAT_ALLOW_ANONYMOUS:
        return None
    anonymous_id = request.session.get(ANONYMOUS_SESSION_KEY)
    return Owner.anonymous(anonymous_id) if anonymous_id else None


def adopt_anonymous_conversations(
    sender: object, request: HttpRequest, user: Any, **_: Any
) -> None:
    """On sign-in or sign-up, the chats this browser had anonymously become the user's.

    Connected to `user_logged_in` (chat.apps). Django keeps session data across the login's
    new session key, so the anonymous id is still there to find them by.
    """
    if request is None or not hasattr(request, "session"):
        return
    anonymous_id = request.session.pop(ANONYMOUS_SESSION_KEY, None)
    if anonymous_id:
        Conversation.objects.filter(owner__isnull=True, anonymous_id=anonymous_id).update(
            owner=user, anonymous_id=""
        )
