"""Every API failure as `{"error": {"code", "message"}}` with the right status."""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable, Coroutine
from typing import Any

from django.core.exceptions import DisallowedHost, RequestDataTooBig
from django.http import HttpRequest, HttpResponse, HttpResponseBase, JsonResponse
from django.views.decorators.csrf import csrf_exempt

from chat.errors import STATUS_BY_CODE, ChatError, ErrorCode

logger = logging.getLogger(__name__)


class ApiError(ChatError):
    """A ChatError whose HTTP status differs from the code's usual one."""

    def __init__(
        self, code: ErrorCode, message: str, *, status: int, retry_after: float | None = None
    ) -> None:
        super().__init__(code, message, retry_after=retry_after)
        self.status = status


def error_body(error: ChatError) -> dict[str, Any]:
    body: dict[str, Any] = {"code": error.code.value, "message": error.message}
    if error.retry_after is not None:
        body["retry_after"] = error.retry_after
    return body


def error_response(error: ChatError, **extra: Any) -> JsonResponse:
    status = error.status if isinstance(error, ApiError) else STATUS_BY_CODE[error.code]
    response = JsonResponse({"error": error_body(error), **extra}, status=status)
    if error.retry_after is not None:
        response["Retry-After"] = str(max(1, round(error.retry_after)))
    if status == 401:
        response["WWW-Authenticate"] = 'Bearer realm="api"'
    return response


View = Callable[..., Coroutine[Any, Any, HttpResponseBase]]


def api_endpoint(*methods: str) -> Callable[[View], View]:
    """Allowed methods, JSON errors, and no CSRF middleware: auth checks CSRF for sessions."""

    def decorate(view: View) -> View:
        @csrf_exempt
        @functools.wraps(view)
        async def endpoint(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
            if request.method not in methods:
                response = error_response(
                    ApiError(
                        ErrorCode.BAD_REQUEST,
                        f"Method {request.method} is not allowed here.",
                        status=405,
                    )
                )
                response["Allow"] = ", ".join(methods)
                return response
            try:
                # The lean bearer-key handler runs no CommonMiddleware: check the host here.
                request.get_host()
                return await view(request, *args, **kwargs)
            except DisallowedHost:
                return error_response(
                    ApiError(ErrorCode.BAD_REQUEST, "This host is not served here.", status=400)
                )
            except ChatError as error:
                return error_response(error)
            except RequestDataTooBig:
                return error_response(
                    ApiError(ErrorCode.TOO_LARGE, "The request body is too large.", status=413)
                )
            except Exception:
                logger.exception("API view %s failed", view.__name__)
                return error_response(ChatError(ErrorCode.INTERNAL, "Internal server error."))

        return endpoint

    return decorate


def not_found(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    """404 for unknown URLs: JSON under /api/, Django's page elsewhere."""
    if request.path.startswith("/api/"):
        return error_response(ChatError(ErrorCode.NOT_FOUND, "Not found."))
    from django.views.defaults import page_not_found

    return page_not_found(request, exception or Exception("Not found"))


def server_error(request: HttpRequest) -> HttpResponse:
    if request.path.startswith("/api/"):
        return error_response(ChatError(ErrorCode.INTERNAL, "Internal server error."))
    from django.views.defaults import server_error as page_server_error

    return page_server_error(request)
