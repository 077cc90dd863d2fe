"""Where the server's CPU goes: py-spy on the server relaying long answers, then short ones.

    python -m bench --arms daphne,uvicorn --phases profile --py-spy PATH   (make bench-profile)
    python -m bench.profile bench-results/.../profile-daphne.txt          # summarise again

The raw stacks (py-spy's collapsed format, full file names, no line numbers) stay beside
the run's JSON; only stacks holding the GIL count (idle pool threads would swamp the
rest). The phase reports each package's share of the samples where it was the
innermost Python frame (self), and how often each of our own functions was on the stack
(total: the function and everything it called).
"""

from __future__ import annotations

import re
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

from bench.run import Run
from bench.servers import process_tree

CHUNKS_UPSTREAM = "cpu1000"
REQUESTS_UPSTREAM = "fast"
FRAME = re.compile(r"^(?P<function>.*) \((?P<file>[^()]*)\)$")
SITE = "site-packages/"
# These packages are large: their second level says more (django/db vs django/core).
TWO_LEVELS = {"django", "twisted", "channels", "asgiref", "daphne", "uvicorn", "granian"}


def where(file: str) -> str:
    """A short owner for a file: `h11`, `django/core`, `chat/providers/transport.py`, `asyncio`."""
    if SITE in file:
        parts = file.split(SITE, 1)[1].split("/")
        depth = 2 if parts[0] in TWO_LEVELS and len(parts) > 2 else 1
        return "/".join(parts[:depth]).removesuffix(".py")
    for marker in ("/chat/", "/chatsite/"):
        if marker in file:
            return marker.strip("/") + "/" + file.split(marker, 1)[1]
    if "/lib/python3" in file:
        parts = file.split("/lib/python3", 1)[1].split("/")[1:]
        return "stdlib " + parts[0].removesuffix(".py")
    return file


def summarise(path: Path, top: int = 25) -> dict[str, Any]:
    own: Counter[str] = Counter()
    on_stack: Counter[str] = Counter()
    samples = 0
    for line in path.read_text().splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        samples += count
        frames = [FRAME.match(frame) for frame in stack.split(";")]
        parsed = [(m["function"], m["file"]) for m in frames if m is not None]
        if not parsed:
            continue
        own[where(parsed[-1][1])] += count
        # Our functions only: the frames above them (the server, the loop) are on every stack.
        for name in {f"{where(file)}: {function}" for function, file in parsed}:
            if name.startswith(("chat/", "chatsite/")):
                on_stack[name] += count

    def shares(counter: Counter[str]) -> list[dict[str, Any]]:
        return [
            {"where": name, "percent": 100 * count / max(samples, 1)}
            for name, count in counter.most_common(top)
        ]

    return {"samples": samples, "self": shares(own), "total": shares(on_stack)}


def record(run: Run, label: str, upstream: str, requests: int) -> dict[str, Any]:
    """py-spy on the server while the load generator streams `requests` answers."""
    assert run.py_spy is not None and run.out_dir is not None
    output = run.out_dir / f"profile-{run.server.kind}-{label}.txt"
    # The process that serves: granian's is a child of the one we started.
    pid = process_tree(run.server.pid)[-1]
    spy = subprocess.Popen(
        [
            *(run.py_spy, "record", "--pid", str(pid), "--rate", "250", "--format", "raw"),
            *("--gil", "--full-filenames", "--nolineno", "--output", str(output)),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    time.sleep(1.0)  # attached
    began = time.monotonic()
    result = run.loadgen.call(
        "streams",
        target=run.relay(upstream),
        concurrency=run.config.cpu.concurrency,
        requests=requests,
    )
    seconds = time.monotonic() - began
    spy.send_signal(signal.SIGINT)
    _out, errors = spy.communicate(timeout=60)
    if not output.exists():
        return {"skipped": f"py-spy wrote nothing: {errors.strip()[-300:]}"}
    summary = summarise(output)
    top = ", ".join(f"{row['where']} {row['percent']:.0f}%" for row in summary["self"][:5])
    run.log(
        f"profile {run.server.kind} {label}: {summary['samples']} samples, {seconds:.1f} s; {top}"
    )
    return {"answers": result["ok"], "tokens": result["tokens"], "raw": output.name, **summary}


def profile(run: Run) -> dict[str, Any]:
    """Per chunk: 1,000-token answers. Per request: 20-token answers, no gap."""
    if run.py_spy is None or run.out_dir is None:
        return {"skipped": "no py-spy (make bench-profile installs it)"}
    config = run.config.cpu
    return {
        "chunks": record(run, "chunks", CHUNKS_UPSTREAM, config.requests[max(config.sizes)] * 2),
        "requests": record(run, "requests", REQUESTS_UPSTREAM, config.requests[min(config.sizes)]),
    }


def main(argv: list[str]) -> int:
    summary = summarise(Path(argv[0]))
    print(f"{summary['samples']} samples")
    for title in ("self", "total"):
        print(f"\n{title}:")
        for row in summary[title]:
            print(f"  {row['percent']:5.1f}%  {row['where']}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
