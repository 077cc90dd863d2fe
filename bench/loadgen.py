"""The load generator: its own process, driven by one JSON command per line on stdin.

    python -m bench.loadgen    (the runner starts it; see bench.servers.LoadGenerator)

Each command gets one JSON line back on stdout. The same code drives both arms: a target
says where to send the request and how its token events look on the wire, so the direct
arm (the fake upstream's /chat/completions) and the relay arm (/api/v1/chat/stream) are
timed by exactly the same client.

Commands (`op`):
- `streams`: `requests` streaming requests over `concurrency` keep-alive connections;
  returns every time to first token and a summary of the gaps between tokens.
- `calls`: non-streaming requests at `concurrency` for `seconds`; returns requests/s.
- `rate`: open loop: start `per_second` new streaming requests a second for `seconds`, on
  kept-alive connections spread over the target's ports; returns TTFTs and gaps.
- `open`: open `count` more streams and hold them; returns once each has a first token.
- `measure`: collect gaps between tokens on the held streams for `seconds`.
- `close`: hang up every held stream, as clients closing their tabs would.
- `quit`.
"""

from __future__ import annotations

import asyncio
import gc
import json
import resource
import sys
import time
from dataclasses import dataclass
from typing import Any

from bench.httpclient import (
    BodySink,
    Collector,
    HttpConnection,
    HttpError,
    ResponseInfo,
    build_request,
)
from bench.stats import summarise

MS = 1000.0


@dataclass(frozen=True, slots=True)
class Target:
    """Where a request goes and how to read its answer."""

    host: str
    port: int
    path: str
    # Several workers, each on its own port: the `rate` command spreads requests over them.
    ports: tuple[int, ...]
    headers: dict[str, str]
    body: dict[str, Any]
    # Bytes found in an SSE event carrying a token, in the terminal event of a stream that
    # succeeded, and in an error event; for a whole answer, `end_marker` marks success.
    token_marker: bytes
    end_marker: bytes
    error_marker: bytes

    @classmethod
    def from_json(cls, raw: dict[str, Any]) -> Target:
        return cls(
            host=raw["host"],
            port=int(raw["port"]),
            path=raw["path"],
            ports=tuple(int(port) for port in raw.get("ports") or [raw["port"]]),
            headers=dict(raw.get("headers") or {}),
            body=dict(raw["body"]),
            token_marker=raw.get("token_marker", "").encode(),
            end_marker=raw["end_marker"].encode(),
            error_marker=raw.get("error_marker", "\x00never").encode(),
        )

    def request_bytes(self) -> bytes:
        return build_request("POST", self.host, self.port, self.path, self.headers, self.body)


class TokenClock:
    """Reads one SSE response: stamps each token event when its last byte arrives."""

    __slots__ = ("target", "gaps", "first_token", "last_token", "tokens", "ended", "error", "_tail")

    def __init__(self, target: Target, gaps: list[float] | None) -> None:
        self.target = target
        # Where gaps between this response's tokens go; None records nothing.
        self.gaps = gaps
        self.first_token = 0.0
        self.last_token = 0.0
        self.tokens = 0
        self.ended = False
        self.error = False
        self._tail = b""

    def __call__(self, data: bytes, now: float) -> None:
        if self._tail:
            data = self._tail + data
        events = data.split(b"\n\n")
        self._tail = events.pop()
        target = self.target
        for event in events:
            if target.token_marker in event:
                if self.tokens == 0:
                    self.first_token = now
                elif self.gaps is not None:
                    self.gaps.append(now - self.last_token)
                self.last_token = now
                self.tokens += 1
            elif target.end_marker in event:
                self.ended = True
            elif target.error_marker in event:
                self.error = True


def failure(info_status: int, clock: TokenClock) -> str | None:
    if info_status != 200:
        return f"status {info_status}"
    if clock.error:
        return "error event"
    if not clock.ended:
        return "no terminal event"
    if clock.tokens == 0:
        return "no tokens"
    return None


class HeldStream:
    """A stream opened by `open` and read until `close`."""

    __slots__ = ("clock", "connection", "task", "failed")

    def __init__(self, clock: TokenClock) -> None:
        self.clock = clock
        self.connection: HttpConnection | None = None
        self.task: asyncio.Task[None] | None = None
        self.failed = False

    @property
    def done(self) -> bool:
        return self.task is None or self.task.done()


async def send(
    connection: HttpConnection | None,
    spec: Target,
    raw: bytes,
    sink: BodySink,
    timeout_seconds: float,
    errors: list[str],
) -> tuple[HttpConnection | None, ResponseInfo | None, float]:
    """One request on a kept-alive connection (opened if needed).

    Returns the connection to reuse, the response (None if it failed: the error is
    recorded and the connection dropped) and when the request was written.
    """
    try:
        if connection is None or not connection.reusable:
            connection = await HttpConnection.open(spec.host, spec.port)
        started = time.perf_counter()
        async with asyncio.timeout(timeout_seconds):
            info = await connection.request(raw, sink)
    except (OSError, HttpError, TimeoutError) as error:
        errors.append(repr(error))
        if connection is not None:
            connection.abort()
        return None, None, 0.0
    return connection, info, started


class LoadGenerator:
    def __init__(self) -> None:
        self.held: list[HeldStream] = []

    async def streams(
        self,
        target: dict[str, Any],
        concurrency: int,
        requests: int,
        stagger_seconds: float = 0.0,
        timeout_seconds: float = 60.0,
    ) -> dict[str, Any]:
        """Closed loop: each worker sends its next request as soon as one ends.

        Workers start `stagger_seconds / concurrency` apart so that the server sees a steady
        `concurrency` streams, not one burst of simultaneous starts.
        """
        spec = Target.from_json(target)
        raw = spec.request_bytes()
        gaps: list[float] = []
        ttfts: list[float] = []
        errors: list[str] = []
        tokens = 0
        remaining = requests

        async def worker(index: int) -> None:
            nonlocal remaining, tokens
            await asyncio.sleep(stagger_seconds * index / concurrency)
            connection: HttpConnection | None = None
            while remaining > 0:
                remaining -= 1
                clock = TokenClock(spec, gaps)
                connection, info, started = await send(
                    connection, spec, raw, clock, timeout_seconds, errors
                )
                if info is None:
                    continue
                problem = failure(info.status, clock)
                if problem:
                    errors.append(problem)
                    continue
                ttfts.append(clock.first_token - started)
                tokens += clock.tokens
            if connection is not None:
                connection.close()

        began = time.perf_counter()
        await asyncio.gather(*(worker(index) for index in range(concurrency)))
        return {
            "ttft_ms": [t * MS for t in ttfts],
            "gap_ms": summarise(gaps, MS),
            "tokens": tokens,
            "ok": len(ttfts),
            "errors": len(errors),
            "error_samples": sorted(set(errors))[:5],
            "seconds": time.perf_counter() - began,
        }

    async def calls(
        self, target: dict[str, Any], concurrency: int, seconds: float, timeout_seconds: float = 30
    ) -> dict[str, Any]:
        """Non-streaming requests, closed loop, for `seconds`."""
        spec = Target.from_json(target)
        raw = spec.request_bytes()
        latencies: list[float] = []
        errors: list[str] = []
        deadline = time.perf_counter() + seconds

        async def worker() -> None:
            connection: HttpConnection | None = None
            while time.perf_counter() < deadline:
                collector = Collector()
                connection, info, started = await send(
                    connection, spec, raw, collector, timeout_seconds, errors
                )
                if info is None:
                    continue
                if info.status != 200 or spec.end_marker not in collector.body:
                    errors.append(f"status {info.status}: {collector.body[:120]!r}")
                    continue
                latencies.append(info.ended_at - started)
            if connection is not None:
                connection.close()

        began = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        elapsed = time.perf_counter() - began
        return {
            "ok": len(latencies),
            "errors": len(errors),
            "error_samples": sorted(set(errors))[:5],
            "seconds": elapsed,
            "requests_per_second": len(latencies) / elapsed,
            "latency_ms": summarise(latencies, MS),
        }

    async def rate(
        self,
        target: dict[str, Any],
        per_second: float,
        seconds: float,
        timeout_seconds: float = 60.0,
    ) -> dict[str, Any]:
        """Open loop: a new answer every 1/`per_second` s, however slowly earlier ones go.

        A closed loop slows down with the server and so never shows a queue; new users do
        not wait for earlier answers to finish. Idle kept-alive connections are reused, as
        a proxy's pool would; a new one is opened when none is free.
        """
        spec = Target.from_json(target)
        requests = {
            port: build_request("POST", spec.host, port, spec.path, spec.headers, spec.body)
            for port in spec.ports
        }
        idle: dict[int, list[HttpConnection]] = {port: [] for port in spec.ports}
        gaps: list[float] = []
        ttfts: list[float] = []
        errors: list[str] = []
        late: list[float] = []

        async def one(port: int) -> None:
            pool = idle[port]
            connection = pool.pop() if pool else None
            clock = TokenClock(spec, gaps)
            connection, info, started = await send(
                connection, spec, requests[port], clock, timeout_seconds, errors
            )
            if info is None:
                return
            problem = failure(info.status, clock)
            if problem:
                errors.append(problem)
            else:
                ttfts.append(clock.first_token - started)
            if connection is not None and connection.reusable:
                pool.append(connection)

        began = time.perf_counter()
        count = round(per_second * seconds)
        tasks = []
        for index in range(count):
            due = began + index / per_second
            delay = due - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            late.append(max(0.0, time.perf_counter() - due))
            port = spec.ports[index % len(spec.ports)]
            tasks.append(asyncio.create_task(one(port)))
        await asyncio.gather(*tasks)
        for pool in idle.values():
            for connection in pool:
                connection.close()
        return {
            "ttft_ms": summarise(ttfts, MS),
            "gap_ms": summarise(gaps, MS),
            "started": count,
            "ok": len(ttfts),
            "errors": len(errors),
            "error_samples": sorted(set(errors))[:5],
            # The load generator itself falling behind its schedule would flatter the server.
            "start_lag_ms": summarise(late, MS),
            "seconds": time.perf_counter() - began,
        }

    async def open(
        self,
        target: dict[str, Any],
        count: int,
        per_second: float = 200.0,
        timeout_seconds: float = 60.0,
    ) -> dict[str, Any]:
        """Open `count` more streams, `per_second` at most, and keep reading them.

        Opening at a bounded rate keeps the listen backlogs (daphne's is 50) from
        overflowing, which would cost SYN retries of a second and more.
        """
        spec = Target.from_json(target)
        raw = spec.request_bytes()
        began = time.perf_counter()
        fresh: list[HeldStream] = []

        async def hold(stream: HeldStream) -> None:
            try:
                stream.connection = await HttpConnection.open(spec.host, spec.port)
                await stream.connection.request(raw, stream.clock)
            except (OSError, HttpError):
                stream.failed = True

        for index in range(count):
            delay = began + index / per_second - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            stream = HeldStream(TokenClock(spec, None))
            stream.task = asyncio.create_task(hold(stream))
            fresh.append(stream)
        self.held.extend(fresh)
        deadline = time.perf_counter() + timeout_seconds
        while time.perf_counter() < deadline:
            if all(stream.clock.tokens or stream.failed for stream in fresh):
                break
            await asyncio.sleep(0.05)
        return {
            "opened": count,
            "with_first_token": sum(1 for stream in fresh if stream.clock.tokens),
            "failed": sum(1 for stream in fresh if stream.failed),
            "held": len(self.held),
            "seconds": time.perf_counter() - began,
        }

    async def measure(self, seconds: float, stall_seconds: float) -> dict[str, Any]:
        """Gaps between tokens on every held stream over the next `seconds`.

        A stream silent at the end for longer than `stall_seconds` adds that silence as a
        gap too: a stalled stream must count against the figure, not drop out of it.
        """
        gaps: list[float] = []
        live = [stream.clock for stream in self.held if not stream.done]
        tokens_before = sum(clock.tokens for clock in live)
        for clock in live:
            clock.gaps = gaps
        await asyncio.sleep(seconds)
        now = time.perf_counter()
        for clock in live:
            clock.gaps = None
            if clock.tokens and now - clock.last_token > stall_seconds:
                gaps.append(now - clock.last_token)
        alive = sum(1 for stream in self.held if not stream.done)
        return {
            "gap_ms": summarise(gaps, MS),
            "streams": len(live),
            "alive_after": alive,
            "tokens": sum(clock.tokens for clock in live) - tokens_before,
            "tokens_per_stream": (sum(clock.tokens for clock in live) / len(live) if live else 0.0),
        }

    async def close(self) -> dict[str, Any]:
        closed = 0
        for stream in self.held:
            if stream.connection is not None and not stream.connection.closed:
                stream.connection.close()
                closed += 1
        tasks = [stream.task for stream in self.held if stream.task is not None]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self.held.clear()
        return {"closed": closed}


async def serve() -> None:
    generator = LoadGenerator()
    loop = asyncio.get_running_loop()
    while True:
        line = await loop.run_in_executor(None, sys.stdin.readline)
        if not line:
            break
        command = json.loads(line)
        op = command.pop("op")
        if op == "quit":
            await generator.close()
            break
        try:
            result = await getattr(generator, op)(**command)
        except Exception as error:  # reported to the runner, which stops the benchmark
            result = {"error": repr(error)}
        sys.stdout.write(json.dumps(result) + "\n")
        sys.stdout.flush()


def main() -> None:
    # Thousands of sockets: lift the descriptor limit as far as this user may.
    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    # Collections of millions of young objects would pause the clock mid-measurement.
    gc.set_threshold(200_000, 50, 50)
    asyncio.run(serve())


if __name__ == "__main__":
    main()
