"""`FakeUpstream`: a real HTTP/1.1 server running on its own event-loop thread."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
from types import TracebackType
from typing import Any, Self

from tests.fake_upstream import openai_wire
from tests.fake_upstream.http11 import BadRequest, Connection
from tests.fake_upstream.registry import Registry
from tests.fake_upstream.responder import DEFAULT_SCENARIO_ID, Responder
from tests.fake_upstream.scenarios import RecordedRequest, Scenario

logger = logging.getLogger(__name__)


def human_paced_echo() -> Scenario:
    """The scenario behind the un-prefixed routes: echo the prompt at reading pace."""
    return Scenario(echo=True, ttft=0.05, token_delay=0.02)


class FakeUpstream:
    """A protocol-faithful fake OpenAI/Anthropic upstream for tests, benchmarks, demos."""

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        default_scenario: Scenario | None = None,
    ) -> None:
        self._host = host
        self._requested_port = port
        self._port: int | None = None
        self._registry = Registry()
        self._registry.add(default_scenario or human_paced_echo(), DEFAULT_SCENARIO_ID)
        self._responder = Responder(self._registry)
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()
        self._startup_error: BaseException | None = None
        # Owned by the server thread's loop once started.
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stopping: asyncio.Event | None = None
        self._connections: set[Connection] = set()
        self._handlers: set[asyncio.Task[Any]] = set()
        self._connections_accepted = 0

    # -- lifecycle --

    def start(self) -> None:
        if self._thread is not None:
            raise RuntimeError("FakeUpstream already started")
        self._ready.clear()
        self._startup_error = None
        self._thread = threading.Thread(target=self._run, name="fake-upstream", daemon=True)
        self._thread.start()
        self._ready.wait()
        if self._startup_error is not None:
            self._thread.join()
            self._thread = None
            raise self._startup_error

    def stop(self) -> None:
        thread, self._thread = self._thread, None
        if thread is None:
            return
        loop, stopping = self._loop, self._stopping
        if loop is not None and stopping is not None:
            # RuntimeError: the loop already ended on its own (it crashed and logged why).
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(stopping.set)
        thread.join()

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    def _run(self) -> None:
        try:
            asyncio.run(self._serve())
        except BaseException as error:
            if not self._ready.is_set():
                self._startup_error = error
                self._ready.set()
            else:
                logger.exception("fake upstream loop crashed")

    async def _serve(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stopping = asyncio.Event()
        server = await asyncio.start_server(
            self._handle_connection, self._host, self._requested_port
        )
        self._port = server.sockets[0].getsockname()[1]
        self._ready.set()
        try:
            await self._stopping.wait()
        finally:
            # Stop accepting first and give accepts already in flight a loop turn to
            # attach: closing a 3.11 Server under them trips an assertion in asyncio and
            # leaks the accepted socket.
            for listener in server.sockets:
                self._loop.remove_reader(listener.fileno())
            await asyncio.sleep(0)
            server.close()
            while True:
                # One loop turn lets handlers of just-accepted connections register.
                await asyncio.sleep(0)
                if not self._handlers:
                    break
                for connection in list(self._connections):
                    connection.abort()
                for handler in list(self._handlers):
                    handler.cancel()
                await asyncio.gather(*self._handlers, return_exceptions=True)
            await server.wait_closed()

    # -- public API --

    @property
    def base_url(self) -> str:
        if self._port is None:
            raise RuntimeError("FakeUpstream is not started")
        return f"http://{self._host}:{self._port}"

    def add(self, scenario: Scenario, scenario_id: str | None = None) -> str:
        return self._registry.add(scenario, scenario_id)

    def url(self, scenario_id: str) -> str:
        return f"{self.base_url}/s/{scenario_id}"

    def requests(self, scenario_id: str | None = None) -> list[RecordedRequest]:
        return self._registry.snapshot(scenario_id)

    def bodies(self, scenario_id: str) -> list[dict[str, Any]]:
        """The parsed JSON bodies the scenario received, oldest first."""
        return [recorded.body for recorded in self._registry.snapshot(scenario_id)]

    def wait_for_requests(
        self, scenario_id: str, count: int, timeout: float = 5.0
    ) -> list[RecordedRequest]:
        return self._registry.wait_for_requests(scenario_id, count, timeout)

    def wait_closed(self, scenario_id: str, timeout: float = 5.0) -> RecordedRequest:
        return self._registry.wait_closed(scenario_id, timeout)

    # The timeout is part of the public interface and is enforced by the Condition in
    # the worker thread, so asyncio.timeout (what ASYNC109 suggests) would not apply.
    async def await_closed(
        self,
        scenario_id: str,
        timeout: float = 5.0,
    ) -> RecordedRequest:
        return await asyncio.to_thread(self._registry.wait_closed, scenario_id, timeout)

    # -- connections --

    async def _handle_connection(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        self._connections_accepted += 1
        connection = Connection(reader, writer, self._connections_accepted)
        handler = asyncio.current_task()
        assert handler is not None
        self._connections.add(connection)
        self._handlers.add(handler)
        try:
            await self._serve_connection(connection)
        except ConnectionError:
            pass  # the client went away mid-exchange; nothing left to tell it
        except asyncio.CancelledError:
            # stop() is tearing down. Not re-raised: on 3.11 the StreamReaderProtocol
            # calls task.exception() on this task, which raises (and logs) if cancelled.
            pass
        except Exception:
            logger.exception("fake upstream: connection %d failed", connection.connection_id)
        finally:
            await connection.stop_watching()
            writer.close()
            with contextlib.suppress(ConnectionError, asyncio.CancelledError):
                await writer.wait_closed()
            self._connections.discard(connection)
            self._handlers.discard(handler)

    async def _serve_connection(self, connection: Connection) -> None:
        while True:
            try:
                request = await connection.read_request()
            except BadRequest as error:
                bad = openai_wire.error_response(400, f"Bad request: {error}")
                await connection.send_response(bad, close=True)
                return
            if request is None:
                return
            keep_alive = await self._responder.serve(connection, request)
            if not keep_alive or request.wants_close:
                return
