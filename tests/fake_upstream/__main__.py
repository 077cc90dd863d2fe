"""Run the fake upstream from the command line for demos and benchmarks.

    python -m tests.fake_upstream --port 9100 [--host 127.0.0.1]
        [--tokens N] [--ttft-ms X] [--gap-ms Y]

Prints `listening on http://HOST:PORT` (flushed) once ready, then serves until SIGINT or
SIGTERM, so a parent process can wait for that line and later terminate it cleanly.
Every preset is served under its name too: POST /s/one_tool_call/chat/completions.
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from types import FrameType

from tests.fake_upstream.presets import PRESETS
from tests.fake_upstream.scenarios import Scenario
from tests.fake_upstream.server import FakeUpstream, human_paced_echo


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m tests.fake_upstream", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=9100, help="0 picks a free port")
    parser.add_argument(
        "--tokens",
        type=int,
        help='stream N tokens ("tok0 ", "tok1 ", ...) instead of echoing',
    )
    parser.add_argument("--ttft-ms", type=float, help="delay before the first token")
    parser.add_argument("--gap-ms", type=float, help="delay between tokens")
    return parser.parse_args(argv)


def default_scenario(args: argparse.Namespace) -> Scenario:
    scenario = human_paced_echo()
    if args.tokens is not None:
        scenario.echo = False
        scenario.tokens = [f"tok{index} " for index in range(args.tokens)]
    if args.ttft_ms is not None:
        scenario.ttft = args.ttft_ms / 1000
    if args.gap_ms is not None:
        scenario.token_delay = args.gap_ms / 1000
    return scenario


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    stop_requested = threading.Event()

    def request_stop(signum: int, frame: FrameType | None) -> None:
        stop_requested.set()

    signal.signal(signal.SIGINT, request_stop)
    signal.signal(signal.SIGTERM, request_stop)
    upstream = FakeUpstream(args.host, args.port, default_scenario=default_scenario(args))
    for name, preset in PRESETS.items():
        upstream.add(preset(), name)
    upstream.start()
    try:
        print(f"listening on {upstream.base_url}", flush=True)
        stop_requested.wait()
    finally:
        upstream.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
