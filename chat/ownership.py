"""Who is calling, and as which owner: one rule for every transport.

A caller owns conversations as a user (signed in, or through an API key) or, while
CHAT_ALLOW_ANONYMOUS is on, as an anonymous browser session: a random id kept in the
session data. Pages never make that id (looking at the site writes no session); the first
chat request does.
"""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.contrib.auth.base_user import AbstractBaseUser
from django.contrib.auth.models import AnonymousUser
from django.contrib.sessions.backends.base import SessionBase
from django.http import HttpRequest
from django.utils import timezone

from chat import conversations
from chat.db import in_thread_pool
from chat.errors import ChatError, ErrorCode
from chat.models import ApiKey, Conversation, hash_api_key
from chat.owners import Owner
from chat.validation import FeedPosition, parse_feed_position

ANONYMOUS_SESSION_KEY = "chat_anonymous_id"
# last_used_at is a hint for admins, not an audit log: at most one write per key per window.
LAST_USED_RESOLUTION = timedelta(minutes=5)

Caller = AbstractBaseUser | AnonymousUser


def owner_for(
    user: Caller | None, session: SessionBase | None, *, create_anonymous: bool = False
) -> Owner | None:
    """The owner a caller acts as: the signed-in user, else this browser session's
    anonymous owner (made now if `create_anonymous`). None: the caller owns nothing."""
    if user is not None and user.is_authenticated:
        return Owner.user(user.pk)
    if not settings.CHAT_ALLOW_ANONYMOUS or session is None:
        return None
    anonymous_id = session.get(ANONYMOUS_SESSION_KEY)
    if anonymous_id is None and create_anonymous:
        anonymous_id = uuid.uuid4().hex
        session[ANONYMOUS_SESSION_KEY] = anonymous_id
    return Owner.anonymous(anonymous_id) if anonymous_id else None


async def aowner_for(
    user: Caller | None, session: SessionBase | None, *, create_anonymous: bool = False
) -> Owner | None:
    """`owner_for` from async code: only the session (which may need a database read)
    leaves the event loop, and only when the caller is not signed in."""
    owner = owner_for(user, None)
    if owner is not None or session is None:
        return owner
    return await in_thread_pool(owner_for)(user, session, create_anonymous=create_anonymous)


@in_thread_pool
def user_for_api_key(plain_key: str) -> AbstractBaseUser | None:
    key = (
        ApiKey.objects.select_related("user")
        .filter(key_hash=hash_api_key(plain_key), is_active=True, user__is_active=True)
        .first()
    )
    if key is None:
        return None
    now = timezone.now()
    if key.last_used_at is None or now - key.last_used_at > LAST_USED_RESOLUTION:
        ApiKey.objects.filter(pk=key.pk).update(last_used_at=now)
    return key.user


def bearer_token(request: HttpRequest) -> str | None:
    """The API key of an `Authorization: Bearer <key>` request; None without the header."""
    header = request.headers.get("Authorization", "")
    if not header:
        return None
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise ChatError(ErrorCode.AUTH, "Send the API key as 'Authorization: Bearer <key>'.")
    return token.strip()


async def http_owner(request: HttpRequest, *, create_anonymous: bool = False) -> Owner:
    """An HTTP caller's owner: an API key's user, else `owner_for` the session. AUTH if none."""
    token = bearer_token(request)
    if token is not None:
        user = await user_for_api_key(token)
        owner = owner_for(user, None) if user is not None else None
        if owner is None:
            raise ChatError(ErrorCode.AUTH, "The API key is not valid.")
        return owner
    owner = await aowner_for(
        await request.auser(), request.session, create_anonymous=create_anonymous
    )
    if owner is None:
        raise ChatError(
            ErrorCode.AUTH, "Sign in, or send an API key as 'Authorization: Bearer <key>'."
        )
    return owner


async def feed_position(
    owner: Owner, conversation_id: uuid.UUID, last_event_id: str
) -> FeedPosition | None:
    """Where a conversation's feed resumes (its Last-Event-ID), checked before it starts.

    A malformed id is BAD_REQUEST. One that names no answer of this conversation owned by
    the caller (someone else's, deleted by a regenerate, made up) is no position at all:
    the feed starts afresh, exactly as for an answer that does not exist.
    """
    position = parse_feed_position(last_event_id)
    if position is None:
        return None
    try:
        await conversations.aowned_answer(owner, position.message_id, conversation_id)
    except ChatError:
        return None
    return position


def adopt_anonymous_conversations(
    sender: object, request: HttpRequest | None, user: AbstractBaseUser, **_: Any
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
