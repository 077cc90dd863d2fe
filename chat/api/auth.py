"""Who is calling the API: a bearer API key, or the browser session (then CSRF applies)."""

from __future__ import annotations

from django.http import HttpRequest
from django.middleware.csrf import CsrfViewMiddleware

from chat.api.errors import ApiError
from chat.errors import ErrorCode
from chat.owners import Owner
from chat.ownership import bearer_token, http_owner

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def csrf_failure_reason(request: HttpRequest) -> str | None:
    # The same check as CsrfViewMiddleware, run only for session-authenticated calls.
    check = CsrfViewMiddleware(lambda _request: None)  # type: ignore[arg-type]
    check.process_request(request)
    response = check.process_view(request, None, (), {})  # type: ignore[arg-type]
    if response is None:
        return None
    return getattr(response, "reason_phrase", None) or "CSRF check failed."


def require_csrf(request: HttpRequest) -> None:
    if request.method not in SAFE_METHODS and csrf_failure_reason(request):
        raise ApiError(
            ErrorCode.AUTH,
            "CSRF check failed: send the X-CSRFToken header with the csrftoken cookie.",
            status=403,
        )


async def request_owner(request: HttpRequest, *, create_anonymous: bool = False) -> Owner:
    """Who is calling (chat.ownership.http_owner); session callers must pass the CSRF
    check for writes. Anonymous sessions count only while CHAT_ALLOW_ANONYMOUS is on."""
    owner = await http_owner(request, create_anonymous=create_anonymous)
    if bearer_token(request) is None:
        require_csrf(request)
    return owner
