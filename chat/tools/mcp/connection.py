"""One MCP server's session, held by one long-lived task per server and event loop.

The SDK's transport and session live in anyio task groups, which must be entered and left
by the same task. An answer's tool call is cancelled on Stop or at its timeout; had that
task opened the session, its cancellation would tear down a session other answers share,
from the wrong task. So an owner task opens the session, runs each call as a task of its
own, and closes the session when it fails. Callers hand it jobs and wait on a future they
may abandon at any moment: an abandoned call stops being waited for at once, and the
server is told (`notifications/cancelled`).

A session that fails is closed and its calls answered with the reason in plain words; the
next call opens a new one. A call the server refused because it no longer knows the
session (it restarted, or expired it) never ran there, and is retried once on a new session.
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
import os
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager, suppress
from dataclasses import dataclass
from typing import Any

import anyio
import httpx
from mcp import ClientSession, types
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.exceptions import McpError
from mcp.types import CONNECTION_CLOSED

from chat.tools.mcp.errors import SESSION_TERMINATED, McpUnavailable, describe_failure

logger = logging.getLogger(__name__)

CLIENT_INFO = types.Implementation(name="chatsite", version="1")
NOTICE_TIMEOUT_SECONDS = 5.0
CLOSE_TIMEOUT_SECONDS = 5.0
MAX_TOOL_PAGES = 50


@dataclass(frozen=True, slots=True)
class ServerConfig:
    """What a connection needs of a server's settings (a snapshot: no database here)."""

    name: str
    url: str
    # (header, environment variable holding its value)
    header_variables: tuple[tuple[str, str], ...] = ()
    timeout_seconds: float = 30.0
    connect_timeout_seconds: float = 10.0

    def headers(self) -> dict[str, str]:
        """The values, read from the environment now; an unset variable sends no header."""
        return {
            header: os.environ[variable]
            for header, variable in self.header_variables
            if os.environ.get(variable)
        }

    def unset_variables(self) -> list[str]:
        return [variable for _, variable in self.header_variables if not os.environ.get(variable)]

    def describe(self, error: BaseException) -> str:
        return describe_failure(
            error,
            server=self.name,
            timeout=self.connect_timeout_seconds,
            unset_variables=self.unset_variables(),
        )


@dataclass(eq=False, slots=True)
class Job:
    """One request for the session, and the future its caller waits on."""

    operation: Callable[[ClientSession, Job], Awaitable[Any]]
    future: asyncio.Future[Any]
    task: asyncio.Task[None] | None = None
    # The caller stopped waiting (Stop, its timeout): the server should be told.
    abandoned: bool = False
    retried: bool = False

    def settle(self, *, result: Any = None, error: BaseException | None = None) -> None:
        if self.future.done():
            return
        if error is None:
            self.future.set_result(result)
        else:
            self.future.set_exception(error)

    def abandon(self) -> None:
        self.abandoned = True
        self.future.cancel()
        if self.task is not None:
            self.task.cancel()


@dataclass(frozen=True, slots=True)
class Broken:
    """The transport reported an error the session cannot recover from."""

    generation: int
    error: BaseException


@dataclass(frozen=True, slots=True)
class Stale:
    """The server no longer knows the session: run `job` again on a new one."""

    generation: int
    job: Job


Inbox = asyncio.Queue[Job | Broken | Stale | None]


class McpConnection:
    def __init__(self, config: ServerConfig) -> None:
        self.config = config
        # Counts sessions opened, for the tests of reuse and reopening.
        self.sessions_opened = 0
        self._inbox: Inbox = asyncio.Queue()
        self._owner: asyncio.Task[None] | None = None
        self._generation = 0
        self._running: set[Job] = set()
        self._notices: set[asyncio.Task[None]] = set()
        self._closed = False

    async def list_tools(self) -> list[types.Tool]:
        tools: list[types.Tool] = await self._submit(list_all_tools)
        return tools

    async def call_tool(self, name: str, arguments: dict[str, Any]) -> types.CallToolResult:
        async def call(session: ClientSession, job: Job) -> types.CallToolResult:
            # send_request takes this id before its first await. SDK 1.x does not tell
            # the server when a request is abandoned, so we do (tests/test_mcp_client.py).
            request_id = session._request_id
            try:
                return await session.call_tool(name, arguments)
            except asyncio.CancelledError:
                if job.abandoned:
                    self._notify(tell_cancelled(session, request_id))
                raise

        result: types.CallToolResult = await self._submit(call)
        return result

    async def close(self) -> None:
        """End the session (the server is told) and the owner task."""
        self._closed = True
        owner, self._owner = self._owner, None
        if owner is None:
            return
        self._inbox.put_nowait(None)
        try:
            await asyncio.wait_for(asyncio.shield(owner), CLOSE_TIMEOUT_SECONDS)
        except TimeoutError:
            owner.cancel()
        self._fail_queued(f"The connection to the MCP server {self.config.name} was closed.")

    async def _submit(self, operation: Callable[[ClientSession, Job], Awaitable[Any]]) -> Any:
        if self._closed:
            raise McpUnavailable(f"The connection to the MCP server {self.config.name} is closed.")
        job = Job(operation, asyncio.get_running_loop().create_future())
        if self._owner is None:
            # A context of its own: the owner outlives the request that happened to start it.
            self._owner = asyncio.create_task(
                self._own(), name=f"mcp-{self.config.name}", context=contextvars.Context()
            )
        self._inbox.put_nowait(job)
        try:
            return await job.future
        except asyncio.CancelledError:
            job.abandon()
            raise

    async def _own(self) -> None:
        try:
            retry: Job | None = None
            while not self._closed:
                job = retry or await self._next_job()
                if job is None:
                    return
                retry = await self._serve(job)
        except Exception:
            logger.exception("The MCP connection to %s failed unexpectedly", self.config.name)
            self._owner = None
            self._fail_queued(f"The MCP server {self.config.name} failed unexpectedly.")

    async def _next_job(self) -> Job | None:
        while True:
            item = await self._inbox.get()
            if item is None:
                self._closed = True
                return None
            job = item.job if isinstance(item, Stale) else item
            if isinstance(job, Job) and not job.future.done():
                return job

    async def _serve(self, first: Job) -> Job | None:
        """Open a session, run `first` and every job that follows until the session ends.

        Returns a job to run again on a new session, when the server forgot this one.
        """
        self._generation += 1
        generation = self._generation
        # `first` counts as running from here: if the session never opens, it fails with it.
        self._running = {first}
        retry: Job | None = None
        try:
            async with self._session(generation) as session:
                self.sessions_opened += 1
                self._start(first, session, generation)
                while retry is None:
                    item = await self._inbox.get()
                    if item is None:
                        self._closed = True
                        break
                    if isinstance(item, Broken):
                        if item.generation == generation:
                            raise item.error
                        continue
                    if isinstance(item, Stale):
                        if item.generation == generation:
                            retry = item.job
                            continue
                        item = item.job
                    if not item.future.done():
                        self._start(item, session, generation)
        except Exception as error:
            reason = self.config.describe(error)
            logger.warning("MCP server %s: %s", self.config.name, reason)
            self._fail_running(reason)
            # Calls queued meanwhile were waiting for this session: they fail at once too.
            self._fail_queued(reason)
        finally:
            self._fail_running(f"The session with the MCP server {self.config.name} ended.")
        return retry

    @asynccontextmanager
    async def _session(self, generation: int) -> AsyncIterator[ClientSession]:
        config = self.config

        # Until the session is open, the owner is not reading its inbox: a transport error
        # must also cut the opening short, or it would wait out the connect timeout.
        opening = anyio.CancelScope()
        failures: list[Exception] = []

        async def on_message(message: Any) -> None:
            # The transport hands over what it could not read (not JSON-RPC, not JSON, an
            # unexpected content type): the server does not speak MCP, and the calls that
            # wait would wait forever. A RuntimeError is only a late answer to a call we
            # abandoned (the server's "Request cancelled"): nothing is wrong.
            if isinstance(message, Exception) and not isinstance(message, RuntimeError):
                failures.append(message)
                opening.cancel()
                self._inbox.put_nowait(Broken(generation, message))

        # No read timeout: a call's SSE answer may be silent for as long as the tool runs
        # (each call has its own timeout), and the server's event stream stays open.
        timeout = httpx.Timeout(config.connect_timeout_seconds, read=None)
        async with (
            httpx.AsyncClient(headers=config.headers(), timeout=timeout) as http,
            streamable_http_client(config.url, http_client=http) as (read, write, _),
            ClientSession(
                read, write, message_handler=on_message, client_info=CLIENT_INFO
            ) as session,
        ):
            with opening, anyio.fail_after(config.connect_timeout_seconds):
                await session.initialize()
            if failures:
                raise failures[0]
            yield session

    def _start(self, job: Job, session: ClientSession, generation: int) -> None:
        self._running.add(job)
        job.task = asyncio.create_task(self._run(job, session, generation))

    async def _run(self, job: Job, session: ClientSession, generation: int) -> None:
        try:
            job.settle(result=await job.operation(session, job))
        except McpError as error:
            if error.error.code == SESSION_TERMINATED and not job.retried:
                job.retried = True
                self._running.discard(job)
                self._inbox.put_nowait(Stale(generation, job))
            elif error.error.code != CONNECTION_CLOSED:
                # A closed connection is left to the owner, which knows why it closed.
                job.settle(error=error)
        except Exception as error:
            job.settle(error=error)
        finally:
            if job.future.done():
                self._running.discard(job)

    def _fail_running(self, reason: str) -> None:
        for job in self._running:
            job.settle(error=McpUnavailable(reason))
            if job.task is not None:
                job.task.cancel()
        self._running = set()

    def _fail_queued(self, reason: str) -> None:
        while not self._inbox.empty():
            item = self._inbox.get_nowait()
            if item is None:
                self._closed = True
            elif isinstance(item, Job | Stale):
                job = item.job if isinstance(item, Stale) else item
                job.settle(error=McpUnavailable(reason))

    def _notify(self, notice: Awaitable[None]) -> None:
        task = asyncio.ensure_future(notice)
        self._notices.add(task)
        task.add_done_callback(self._notices.discard)


async def list_all_tools(session: ClientSession, job: Job) -> list[types.Tool]:
    tools: list[types.Tool] = []
    cursor: str | None = None
    # Bounded: a server handing out cursors forever must not keep a worker listing.
    for _page in range(MAX_TOOL_PAGES):
        page = await session.list_tools(
            params=types.PaginatedRequestParams(cursor=cursor) if cursor else None
        )
        tools.extend(page.tools)
        cursor = page.nextCursor
        if not cursor:
            break
    return tools


async def tell_cancelled(session: ClientSession, request_id: types.RequestId) -> None:
    """Tell the server a call was abandoned, so it can stop the work (best effort)."""
    notice = types.ClientNotification(
        types.CancelledNotification(
            params=types.CancelledNotificationParams(
                requestId=request_id, reason="The user stopped the call, or it timed out."
            )
        )
    )
    with suppress(Exception):
        async with asyncio.timeout(NOTICE_TIMEOUT_SECONDS):
            await session.send_notification(notice)
