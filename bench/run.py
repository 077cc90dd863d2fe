"""What every phase is given: the processes of one arm, and the requests that reach them."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.config import BenchConfig
from bench.peers import LITELLM, litellm_target
from bench.servers import LoadGenerator, Server, Upstream, wait_idle

Log = Callable[[str], None]
TOKEN_EVENT = "event: token"


@dataclass
class Run:
    """What every phase needs; `restart_server` gives a fresh server process.

    `start_workers(n)` starts n more processes of the server under test sharing Redis, each
    on its own core (None where that cannot be done); `stop` ends one.
    """

    config: BenchConfig
    loadgen: LoadGenerator
    server: Server
    upstreams: dict[str, Upstream]
    api_key: str
    restart_server: Callable[[], Server]
    log: Log
    start_workers: Callable[[int], list[Server]] | None = None
    stop: Callable[[Server], None] | None = None
    # Where the run writes files of its own (profiles), and py-spy's executable.
    out_dir: Path | None = None
    py_spy: str | None = None

    def direct(self, upstream: str, *, stream: bool = True) -> dict[str, Any]:
        """The load generator talking to the fake upstream itself, as the relay does."""
        body: dict[str, Any] = {
            "model": "bench",
            "messages": [{"role": "user", "content": self.config.prompt}],
            "max_tokens": 100_000,
        }
        if stream:
            body |= {"stream": True, "stream_options": {"include_usage": True}}
        return {
            "host": "127.0.0.1",
            "port": self.upstreams[upstream].port,
            "path": "/chat/completions",
            "headers": {},
            "body": body,
            "token_marker": '"delta":{"content":"',
            "end_marker": "[DONE]" if stream else '"finish_reason":"stop"',
            "error_marker": '{"error":',
        }

    def relay(
        self, upstream: str, *, stream: bool = True, server: Server | None = None
    ) -> dict[str, Any]:
        """The same answer through the server under test: its model `bench-<upstream>`."""
        server = server or self.server
        if server.kind == LITELLM:
            return litellm_target(upstream, server.port, self.config.prompt, stream=stream)
        return {
            "host": "127.0.0.1",
            "port": server.port,
            "path": "/api/v1/chat/stream" if stream else "/api/v1/chat",
            "headers": {"Authorization": f"Bearer {self.api_key}"},
            "body": {"message": self.config.prompt, "model": f"bench-{upstream}"},
            "token_marker": TOKEN_EVENT,
            "end_marker": "event: done" if stream else '"status": "complete"',
            "error_marker": "event: error",
        }

    def server_idle(self) -> None:
        wait_idle(self.server.pid, self.config.idle_window)


def check(result: dict[str, Any], what: str) -> dict[str, Any]:
    """A run with failed requests measured something else: say so loudly, keep going."""
    if result.get("errors"):
        samples = "; ".join(result.get("error_samples", []))
        print(f"  ! {what}: {result['errors']} failed requests ({samples})", flush=True)
    return result


def warm_up(run: Run) -> None:
    """First requests pay for imports, connection pools and caches: not what we measure."""
    count = run.config.warmup_requests
    first = f"latency-c{run.config.latency.levels[0]}"
    for target in (run.direct(first), run.relay(first)):
        run.loadgen.call("streams", target=target, concurrency=2, requests=count)
    for target in (run.direct("fast", stream=False), run.relay("fast", stream=False)):
        run.loadgen.call("calls", target=target, concurrency=2, seconds=0.2)
    run.server_idle()
