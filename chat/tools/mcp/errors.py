"""Why an MCP server could not be used, in plain words for the model and for staff."""

from __future__ import annotations

import httpx
from mcp.shared.exceptions import McpError
from pydantic import ValidationError

# What the SDK makes of a 404 to a request: the server does not know our session (it
# restarted, or expired the session), or, when opening one, there is no endpoint there.
SESSION_TERMINATED = 32600


class McpUnavailable(Exception):
    """A server could not be reached or used. The message is fit to show."""


def leaf_error(error: BaseException) -> BaseException:
    """The first real failure inside the task groups' exception groups."""
    while isinstance(error, BaseExceptionGroup):
        error = error.exceptions[0]
    return error


def describe_failure(
    error: BaseException, *, server: str, timeout: float, unset_variables: list[str]
) -> str:
    error = leaf_error(error)
    what = f"The MCP server {server}"
    if isinstance(error, McpUnavailable):
        return str(error)
    if isinstance(error, httpx.HTTPStatusError):
        status = error.response.status_code
        if status in (401, 403):
            hint = (
                f" The header variable{'s' if len(unset_variables) > 1 else ''} "
                f"{', '.join(unset_variables)} {'are' if len(unset_variables) > 1 else 'is'} "
                "not set on this server."
                if unset_variables
                else " Check the values of its header variables."
            )
            return f"{what} refused the request (HTTP {status}): it wants credentials.{hint}"
        if status in (404, 405):
            return f"{what} has no MCP endpoint at this URL (HTTP {status}). {ENDPOINT_HINT}"
        return f"{what} answered with HTTP {status}."
    if isinstance(error, httpx.ConnectTimeout | TimeoutError):
        return f"{what} did not answer within {timeout:g} seconds."
    if isinstance(error, httpx.ConnectError):
        return f"{what} could not be reached: nothing answered at its URL."
    if isinstance(error, httpx.HTTPError):
        return f"{what} could not be reached: {type(error).__name__}."
    if isinstance(error, McpError):
        if error.error.code == SESSION_TERMINATED:
            return f"{what} has no MCP endpoint at this URL (HTTP 404). {ENDPOINT_HINT}"
        return f"{what} answered with an error: {error.error.message}"
    if isinstance(error, ValueError | ValidationError):
        return f"{what} did not answer like an MCP server. {ENDPOINT_HINT}"
    return f"{what} failed: {type(error).__name__}."


ENDPOINT_HINT = "Check the URL: Streamable HTTP endpoints usually end in /mcp."
