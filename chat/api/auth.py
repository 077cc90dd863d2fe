"""Who is calling: a bearer API key, or the browser session (then CSRF applies)."""

from __future__ import annotations

import uuid
from datetime import timedelta

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.http import HttpRequest
from django.middleware.csrf import CsrfViewMiddleware
from django.utils import timezone

from chat.api.errors import ApiError
from chat.db import in_thread_pool
from chat.errors import ChatError, ErrorCode
from chat.models import ApiKey, hash_api_key
from chat.owners import Owner

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
# last_used_at is a hint for admins, not an audit log: at most one write per key per window.
LAST_USED_RESOLUTION = timedelta(minutes=5)


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


def csrf_failure_reason(request: HttpRequest) -> str | None:
    # The same check as CsrfViewMiddleware, run only for session-authenticated calls.
    check = CsrfViewMiddleware(lambda _request: None)  # type: ignore[arg-type, return-value]
    check.process_request(request)
    response = check.process_view(request, None, (), {})  # type: ignore[arg-type]
    if response is None:
        return None
    return getattr(response, "reason_phrase", None) or "CSRF check failed."


ANONYMOUS_SESSION_KEY = "chat_anonymous_id"


async def anonymous_id(request: HttpRequest, *, create: bool) -> str | None:
    """This browser session's anonymous owner id; made on first use if `create`."""
    existing = await request.session.aget(ANONYMOUS_SESSION_KEY)
    if existing is None and create:
        existing = uuid.uuid4().hex
        await request.session.aset(ANONYMOUS_SESSION_KEY, existing)
    return existing


def require_csrf(request: HttpRequest) -> None:
    if request.method not in SAFE_METHODS and csrf_failure_reason(request):
        raise ApiError(
            ErrorCode.AUTH,
            "CSRF check failed: send the X-CSRFToken header with the csrftoken cookie.",
            status=403,
        )


async def request_owner(request: HttpRequest, *, create_anonymous: bool = False) -> Owner:
    """Who is calling: an API key's user, the signed-in user, or an anonymous session.

    Session callers (signed in or anonymous) must pass the CSRF check for writes.
    Anonymous sessions count only while CHAT_ALLOW_ANONYMOUS is on.
    """
    header = request.headers.get("Authorization", "")
    if header:
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise ChatError(ErrorCode.AUTH, "Send the API key as 'Authorization: Bearer <key>'.")
        user = await user_for_api_key(token.strip())
        if user is None:
            raise ChatError(ErrorCode.AUTH, "The API key is not valid.")
        return Owner.user(user.pk)
    user = await request.auser()
    if user.is_authenticated:
        require_csrf(request)
        return Owner.user(user.pk)
    if settings.CHAT_ALLOW_ANONYMOUS:
        anonymous = await anonymous_id(request, create=create_anonymous)
        if anonymous is not None:
            require_csrf(request)
            return Owner.anonymous(anonymous)
    raise ChatError(ErrorCode.AUTH, "Sign in, or send an API key as 'Authorization: Bearer <key>'.")
