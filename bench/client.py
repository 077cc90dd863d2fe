"""CPU per chunk of the provider client alone, with no server around it.

    python -m bench.client [--loop asyncio|uvloop] [--answers 20] [--tokens 1000]

Starts a fake upstream (a token every millisecond), reads whole answers through
`chat.providers.http.open_event_stream` (the client every provider uses: the pool, the
HTTP/1.1 parsing and the SSE parsing) four at a time, and prints this process's CPU time
per event, median of five batches. Pinned to one core; compare two commits back to back.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import time

from bench.servers import PROJECT_DIR, CorePlan, Processes

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.settings")


async def read_answers(url: str, answers: int, concurrency: int) -> tuple[float, int]:
    from chat.providers.http import close_http_client, open_event_stream

    async def one() -> int:
        body = {"model": "bench", "messages": [], "stream": True, "max_tokens": 100_000}
        async with open_event_stream(
            url, json_body=body, headers={}, detail_from_json=lambda _body: None
        ) as (_response, events):
            return sum([1 async for _event in events])

    await one()  # the first answer pays for the connection
    remaining = answers
    events = 0

    async def worker() -> None:
        nonlocal remaining, events
        while remaining > 0:
            remaining -= 1
            events += await one()

    began = time.process_time()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    used = time.process_time() - began
    await close_http_client()
    return used, events


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.client", description=__doc__)
    parser.add_argument("--loop", choices=["asyncio", "uvloop"], default="asyncio")
    parser.add_argument("--answers", type=int, default=20)
    parser.add_argument("--tokens", type=int, default=1000)
    args = parser.parse_args(argv)
    import django

    django.setup()
    cores = CorePlan.for_this_machine()
    if cores.server is not None:
        os.sched_setaffinity(0, cores.server)
    run = asyncio.run
    if args.loop == "uvloop":
        import uvloop

        run = uvloop.run
    out = PROJECT_DIR / "bench-results" / "client"
    out.mkdir(parents=True, exist_ok=True)
    processes = Processes(out, cores)
    try:
        spec = {"tokens": args.tokens, "ttft_ms": 0.0, "gap_ms": 1.0}
        upstream = processes.upstreams({"client": spec})["client"]
        url = f"{upstream.base_url}/chat/completions"
        per_event = []
        for _ in range(5):
            used, events = run(read_answers(url, args.answers, 4))
            per_event.append(used * 1e6 / max(events, 1))
    finally:
        processes.stop_all()
    print(
        f"{args.loop}: {statistics.median(per_event):.1f} µs of CPU per event (median of"
        f" {[round(value, 1) for value in per_event]})"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
