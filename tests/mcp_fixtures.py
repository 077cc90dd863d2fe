"""The test MCP server (tests/mcp_server.py) in a subprocess, on a socket this process holds.

The parent binds 127.0.0.1 on a free port and hands the listening socket to the child, so
the port is known before the child starts, nothing else can take it, and a restart (a new
child on the same socket) keeps the URL.
"""

from __future__ import annotations

import contextlib
import http.server
import os
import selectors
import signal
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
START_TIMEOUT_SECONDS = 20.0


class McpTestServer:
    def __init__(self, *, token: str = "", list_delay: float = 0.0) -> None:
        self.token = token
        self.list_delay = list_delay
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}/mcp"
        self.process: subprocess.Popen[str] | None = None

    def start(self) -> None:
        fd = self.listener.fileno()
        env = {
            **os.environ,
            "MCP_TEST_TOKEN": self.token,
            "MCP_TEST_LIST_DELAY": str(self.list_delay),
        }
        self.process = subprocess.Popen(
            [sys.executable, "-m", "tests.mcp_server", "--fd", str(fd)],
            cwd=REPO,
            env=env,
            pass_fds=[fd],
            stdout=subprocess.PIPE,
            text=True,
            start_new_session=True,
        )
        self._wait_until_ready(self.process)

    def _wait_until_ready(self, process: subprocess.Popen[str]) -> None:
        assert process.stdout is not None
        with selectors.DefaultSelector() as selector:
            selector.register(process.stdout, selectors.EVENT_READ)
            if not selector.select(START_TIMEOUT_SECONDS):
                self.stop()
                raise RuntimeError("the test MCP server did not start")
        line = process.stdout.readline()
        if line.strip() != "ready":
            self.stop()
            raise RuntimeError(f"the test MCP server failed to start: {line!r}")

    def stop(self) -> None:
        """Kill the server at once (a crash, as far as clients can tell) and reap it."""
        if self.process is None:
            return
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait()
        if self.process.stdout is not None:
            self.process.stdout.close()
        self.process = None

    def restart(self) -> None:
        self.stop()
        self.start()

    def go_down(self) -> None:
        """Nothing listens on the port any more: connections are refused."""
        self.stop()
        self.listener.close()

    def come_back(self) -> None:
        self.listener = socket.create_server(("127.0.0.1", self.port))
        self.start()

    def close(self) -> None:
        self.stop()
        self.listener.close()


@contextlib.contextmanager
def running_mcp_server(*, token: str = "", list_delay: float = 0.0) -> Iterator[McpTestServer]:
    """A started test MCP server, killed (and its socket closed) on leaving."""
    server = McpTestServer(token=token, list_delay=list_delay)
    try:
        server.start()
        yield server
    finally:
        server.close()


def closed_port_url() -> str:
    """An MCP URL where nothing listens: connections are refused at once."""
    with socket.create_server(("127.0.0.1", 0)) as probe:
        port = probe.getsockname()[1]
    return f"http://127.0.0.1:{port}/mcp"


@contextlib.contextmanager
def web_page_server() -> Iterator[str]:
    """An HTTP server that answers every request with an HTML page: not an MCP server."""

    class Page(http.server.BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = b"<html><body>Welcome</body></html>"
            self.send_response(200)
            self.send_header("Content-Type", "text/html")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        do_GET = do_POST

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Page)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/mcp"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


@contextlib.contextmanager
def silent_server() -> Iterator[str]:
    """A port that accepts connections (the kernel does) and never answers."""
    with socket.create_server(("127.0.0.1", 0)) as listener:
        yield f"http://127.0.0.1:{listener.getsockname()[1]}/mcp"
