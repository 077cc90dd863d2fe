"""The benchmark's processes: fake upstreams, the server under test, the load generator.

Every process is started here, pinned to its cores, and stopped by the `Processes` that
started it (by its own handle, never by name). Children also get SIGTERM if the runner
dies, so an interrupted benchmark leaves nothing behind.
"""

from __future__ import annotations

import contextlib
import ctypes
import json
import os
import re
import resource
import selectors
import shlex
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, TypeVar

ChildT = TypeVar("ChildT", bound="Child")
PROJECT_DIR = Path(__file__).resolve().parent.parent
START_TIMEOUT = 60.0
STOP_TIMEOUT = 15.0
PR_SET_PDEATHSIG = 1
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
PAGE_SIZE = os.sysconf("SC_PAGE_SIZE")


@dataclass(frozen=True, slots=True)
class CorePlan:
    """Which CPUs each role may run on; None leaves a role unpinned."""

    server: frozenset[int] | None
    load: frozenset[int] | None
    upstream: frozenset[int] | None

    @classmethod
    def for_this_machine(cls) -> CorePlan:
        cpus = sorted(os.sched_getaffinity(0))
        if len(cpus) >= 3:
            return cls(frozenset({cpus[1]}), frozenset({cpus[0]}), frozenset(cpus[2:]))
        if len(cpus) == 2:
            # The server gets a core of its own; the harness (load generator, fake
            # upstreams and this runner) shares the other one.
            return cls(frozenset({cpus[1]}), frozenset({cpus[0]}), frozenset({cpus[0]}))
        return cls(None, None, None)

    def describe(self) -> dict[str, list[int] | None]:
        def cores(value: frozenset[int] | None) -> list[int] | None:
            return sorted(value) if value is not None else None

        return {
            "server": cores(self.server),
            "load_generator": cores(self.load),
            "upstream": cores(self.upstream),
        }


def _child_setup() -> None:
    """Runs in each child before exec: die with the runner, and allow many sockets."""
    with contextlib.suppress(OSError, AttributeError):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _stat_fields(pid: int) -> list[str]:
    # The fields after the ")" that ends the command name (which may hold spaces).
    return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()


def process_tree(pid: int) -> list[int]:
    """`pid` and its descendants, parents first: granian serves from a child process."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError, IndexError):
                children.setdefault(int(_stat_fields(int(entry.name))[1]), []).append(
                    int(entry.name)
                )
    tree = [pid]
    for parent in tree:
        tree.extend(children.get(parent, ()))
    return tree


def cpu_seconds(pid: int) -> float:
    """User + system CPU of a process and its children, every thread (clock-tick resolution)."""
    ticks = 0
    for member in process_tree(pid):
        with contextlib.suppress(OSError):
            fields = _stat_fields(member)
            # utime and stime: fields 14 and 15 of stat, 12 and 13 after the command name.
            ticks += int(fields[11]) + int(fields[12])
    return ticks / CLOCK_TICKS


def rss_bytes(pid: int) -> int:
    """Resident memory of a process and its children."""
    total = 0
    for member in process_tree(pid):
        with contextlib.suppress(OSError):
            total += int(Path(f"/proc/{member}/statm").read_text().split()[1]) * PAGE_SIZE
    return total


def wait_idle(
    pid: int, window: float = 0.5, *, busy_fraction: float = 0.03, timeout: float = 60.0
) -> float:
    """Wait until a process uses under `busy_fraction` of a core over `window` seconds."""
    began = time.monotonic()
    previous = cpu_seconds(pid)
    while time.monotonic() - began < timeout:
        time.sleep(window)
        current = cpu_seconds(pid)
        # At least one clock tick: shorter windows cannot see less.
        if current - previous <= max(window * busy_fraction, 1 / CLOCK_TICKS):
            break
        previous = current
    return time.monotonic() - began


class Child:
    """One child process, pinned, logging to a file."""

    def __init__(
        self,
        name: str,
        args: list[str],
        *,
        cores: frozenset[int] | None,
        log_path: Path,
        env: Mapping[str, str | None] | None = None,
        pipes: bool = False,
    ) -> None:
        self.name = name
        self.log_path = log_path
        self._log: IO[bytes] = log_path.open("ab")
        # None takes a variable out of the inherited environment.
        merged = {**os.environ, "PYTHONUNBUFFERED": "1"}
        for name, value in (env or {}).items():
            if value is None:
                merged.pop(name, None)
            else:
                merged[name] = value
        self.process = subprocess.Popen(
            args,
            cwd=PROJECT_DIR,
            env=merged,
            stdin=subprocess.PIPE if pipes else subprocess.DEVNULL,
            stdout=subprocess.PIPE if pipes else self._log,
            stderr=self._log,
            # preexec_fn is safe here: the runner starts no threads.
            preexec_fn=_child_setup,
            text=pipes,
        )
        if cores is not None:
            # Before the child starts any thread: threads inherit the affinity.
            os.sched_setaffinity(self.process.pid, cores)

    @property
    def pid(self) -> int:
        return self.process.pid

    def log_tail(self, lines: int = 30) -> str:
        self._log.flush()
        text = self.log_path.read_text(errors="replace")
        return "\n".join(text.splitlines()[-lines:])

    def check_alive(self) -> None:
        if self.process.poll() is not None:
            raise RuntimeError(
                f"{self.name} exited with {self.process.returncode}:\n{self.log_tail()}"
            )

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(STOP_TIMEOUT)
        for stream in (self.process.stdin, self.process.stdout):
            if stream is not None:
                stream.close()
        self._log.close()


class Upstream(Child):
    """`python -m tests.fake_upstream` with a fixed answer: tokens, TTFT and gap."""

    LISTENING = re.compile(r"listening on http://127\.0\.0\.1:(\d+)")

    def __init__(
        self, name: str, *, tokens: int, ttft_ms: float, gap_ms: float, **kwargs: Any
    ) -> None:
        args = [sys.executable, "-m", "tests.fake_upstream", "--port", "0"]
        args += ["--tokens", str(tokens), "--ttft-ms", str(ttft_ms), "--gap-ms", str(gap_ms)]
        super().__init__(name, args, pipes=True, **kwargs)
        self.tokens, self.ttft_ms, self.gap_ms = tokens, ttft_ms, gap_ms
        self.port = 0

    def wait_ready(self) -> None:
        assert self.process.stdout is not None
        with selectors.DefaultSelector() as selector:
            selector.register(self.process.stdout, selectors.EVENT_READ)
            if not selector.select(START_TIMEOUT):
                raise RuntimeError(f"{self.name} did not start:\n{self.log_tail()}")
        line = self.process.stdout.readline()
        match = self.LISTENING.search(line)
        if match is None:
            self.check_alive()
            raise RuntimeError(f"{self.name} said {line!r}, not where it listens")
        self.port = int(match.group(1))

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def describe(self) -> dict[str, Any]:
        return {"tokens": self.tokens, "ttft_ms": self.ttft_ms, "gap_ms": self.gap_ms}


# How each ASGI server runs the project: one process, one port. The live-server tests and
# the benchmark start these, and docs/deploy.md deploys the same. uvicorn and granian run on
# uvloop (uvicorn with httptools, as `uvicorn[standard]` does); Django and Channels have no
# lifespan, so it is off, and granian's `asginl` is its ASGI interface without lifespan.
SERVER_COMMANDS: dict[str, list[str]] = {
    "daphne": shlex.split("-m daphne -b 127.0.0.1 -p {port} chatsite.asgi:application"),
    "uvicorn": shlex.split(
        "-m uvicorn chatsite.asgi:application --host 127.0.0.1 --port {port} --loop uvloop"
        " --http httptools --ws websockets-sansio --lifespan off --no-access-log"
        " --log-level warning"
    ),
    "granian": shlex.split(
        "-m granian --interface asginl --host 127.0.0.1 --port {port} --loop uvloop"
        " --log-level warning chatsite.asgi:application"
    ),
}
SERVERS = tuple(SERVER_COMMANDS)


def server_command(kind: str, port: int) -> list[str]:
    """The command line that serves the project with `kind` on 127.0.0.1:`port`."""
    return [sys.executable] + [part.format(port=port) for part in SERVER_COMMANDS[kind]]


def answers_http(port: int, timeout: float) -> bool:
    """True once something on `port` answers an HTTP request with a status line.

    Listening is not enough: granian listens before its worker has loaded Django, and a
    first request would then pay for the whole start-up.
    """
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.2) as probe:
            probe.settimeout(timeout)
            probe.sendall(b"GET /static/ HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n")
            return probe.recv(5) == b"HTTP/"
    except OSError:
        return False


class Server(Child):
    """A server under test: the project as it is deployed (daphne by default), or a peer."""

    def __init__(
        self,
        kind: str,
        command: list[str] | None = None,
        start_timeout: float = START_TIMEOUT,
        **kwargs: Any,
    ) -> None:
        self.kind = kind
        self.start_timeout = start_timeout
        self.port = free_port()
        args = [part.format(port=self.port) for part in command or []]
        super().__init__(kind, args or server_command(kind, self.port), **kwargs)

    def wait_ready(self) -> None:
        deadline = time.monotonic() + self.start_timeout
        while time.monotonic() < deadline:
            self.check_alive()
            if answers_http(self.port, timeout=max(0.2, deadline - time.monotonic())):
                return
            time.sleep(0.05)
        raise RuntimeError(f"{self.kind} did not answer within {self.start_timeout}s")


class LoadGenerator(Child):
    """`python -m bench.loadgen`, called one JSON command at a time."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(
            "load generator", [sys.executable, "-m", "bench.loadgen"], pipes=True, **kwargs
        )

    def call(self, op: str, **params: Any) -> dict[str, Any]:
        assert self.process.stdin is not None and self.process.stdout is not None
        self.process.stdin.write(json.dumps({"op": op, **params}) + "\n")
        self.process.stdin.flush()
        line = self.process.stdout.readline()
        if not line:
            self.check_alive()
            raise RuntimeError(f"the load generator closed its output:\n{self.log_tail()}")
        result: dict[str, Any] = json.loads(line)
        if "error" in result:
            raise RuntimeError(f"load generator {op} failed: {result['error']}")
        return result

    def stop(self) -> None:
        if self.process.poll() is None and self.process.stdin is not None:
            with contextlib.suppress(OSError):
                self.process.stdin.write('{"op": "quit"}\n')
                self.process.stdin.flush()
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.process.wait(5)
        super().stop()


class Processes:
    """Everything the runner started, stopped in reverse order however the run ends."""

    def __init__(self, log_dir: Path, cores: CorePlan) -> None:
        self.log_dir = log_dir
        self.cores = cores
        self._children: list[Child] = []

    def upstreams(self, specs: dict[str, dict[str, float]]) -> dict[str, Upstream]:
        """Start one fake upstream per spec, all at once, and wait for each to listen."""
        started = {
            name: self._add(
                Upstream(
                    f"upstream {name}",
                    tokens=int(spec["tokens"]),
                    ttft_ms=spec["ttft_ms"],
                    gap_ms=spec["gap_ms"],
                    cores=self.cores.upstream,
                    log_path=self.log_dir / f"upstream-{name}.log",
                )
            )
            for name, spec in specs.items()
        }
        for upstream in started.values():
            upstream.wait_ready()
        return started

    def server(
        self,
        kind: str,
        env: Mapping[str, str | None],
        label: str,
        *,
        command: list[str] | None = None,
        cores: frozenset[int] | None = None,
        start_timeout: float = START_TIMEOUT,
    ) -> Server:
        """Start a server (on the server core unless `cores` says otherwise); wait for it."""
        server = self._add(
            Server(
                kind,
                command,
                start_timeout,
                cores=cores or self.cores.server,
                env=env,
                log_path=self.log_dir / f"{label}.log",
            )
        )
        server.wait_ready()
        return server

    def load_generator(self) -> LoadGenerator:
        return self._add(
            LoadGenerator(cores=self.cores.load, log_path=self.log_dir / "loadgen.log")
        )

    def stop(self, child: Child) -> None:
        child.stop()
        if child in self._children:
            self._children.remove(child)

    def stop_all(self) -> None:
        while self._children:
            self._children.pop().stop()

    def _add(self, child: ChildT) -> ChildT:
        self._children.append(child)
        return child
