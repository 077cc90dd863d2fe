"""The measurements. Each phase runs the direct arm and the relay arm back to back."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from bench.profile import profile
from bench.rate import rate, scaling
from bench.run import Run, check
from bench.servers import cpu_seconds, rss_bytes, wait_idle
from bench.stats import fit_line, summarise


def latency(run: Run) -> dict[str, Any]:
    """Time to first token and gaps between tokens, at each concurrency."""
    config = run.config.latency
    levels = []
    for concurrency in config.levels:
        requests = config.requests_at(concurrency)
        name = f"latency-c{concurrency}"
        arms = {}
        for arm, target in (("direct", run.direct(name)), ("relay", run.relay(name))):
            result = run.loadgen.call(
                "streams",
                target=target,
                concurrency=concurrency,
                requests=requests,
                stagger_seconds=config.answer_seconds(concurrency),
            )
            check(result, f"latency {arm} c={concurrency}")
            arms[arm] = {
                "ttft_ms": summarise(result["ttft_ms"]),
                "gap_ms": result["gap_ms"],
                "ok": result["ok"],
                "errors": result["errors"],
                "seconds": result["seconds"],
            }
            run.server_idle()
        direct, relay = arms["direct"], arms["relay"]
        levels.append(
            {
                "concurrency": concurrency,
                "upstream": config.upstream(concurrency).as_dict(),
                "requests": requests,
                "direct": direct,
                "relay": relay,
                "added_ttft_p50_ms": relay["ttft_ms"]["p50"] - direct["ttft_ms"]["p50"],
                "added_ttft_p99_ms": relay["ttft_ms"]["p99"] - direct["ttft_ms"]["p99"],
                "added_gap_p99_ms": relay["gap_ms"]["p99"] - direct["gap_ms"]["p99"],
            }
        )
        run.log(
            f"latency c={concurrency}: added TTFT p50 {levels[-1]['added_ttft_p50_ms']:.2f} ms,"
            f" p99 {levels[-1]['added_ttft_p99_ms']:.2f} ms;"
            f" added gap p99 {levels[-1]['added_gap_p99_ms']:.2f} ms"
        )
    return {"max_arrivals_per_second": config.max_arrivals, "levels": levels}


def cpu(run: Run) -> dict[str, Any]:
    """Server CPU per answer at several lengths; the line's intercept and slope are the
    CPU per request and per relayed chunk. The upstream's own CPU is the direct arm."""
    config = run.config.cpu
    points = []
    for size in config.sizes:
        name = f"cpu{size}"
        upstream = run.upstreams[name]
        requests = config.requests[size]
        measured: dict[str, Any] = {"tokens": size, "requests": requests}
        for arm, target, pid in (
            ("direct", run.direct(name), upstream.pid),
            ("relay", run.relay(name), run.server.pid),
        ):
            wait_idle(pid, run.config.idle_window)
            before = cpu_seconds(pid)
            result = run.loadgen.call(
                "streams", target=target, concurrency=config.concurrency, requests=requests
            )
            check(result, f"cpu {arm} {size} tokens")
            # Let the last final writes land: they belong to these requests.
            wait_idle(pid, run.config.idle_window)
            used = cpu_seconds(pid) - before
            measured[arm] = {
                "ok": result["ok"],
                "errors": result["errors"],
                "cpu_seconds": used,
                "cpu_ms_per_answer": used * 1000 / max(result["ok"], 1),
                "tokens_per_answer": result["tokens"] / max(result["ok"], 1),
            }
        points.append(measured)
        run.log(
            f"cpu {size} tokens: server {measured['relay']['cpu_ms_per_answer']:.2f} ms/answer,"
            f" upstream {measured['direct']['cpu_ms_per_answer']:.2f} ms/answer"
        )
    fits = {}
    for arm in ("direct", "relay"):
        line = fit_line(
            [point[arm]["tokens_per_answer"] for point in points],
            [point[arm]["cpu_ms_per_answer"] for point in points],
        )
        fits[arm] = {
            "ms_per_request": line.intercept,
            "ms_per_chunk": line.slope,
            "r_squared": line.r_squared,
        }
    return {"gap_ms": config.gap_ms, "concurrency": config.concurrency, "points": points, **fits}


def throughput(run: Run) -> dict[str, Any]:
    """Whole answers (no streaming to the client) per second at a fixed concurrency."""
    config = run.config.throughput
    arms = {}
    for arm, target in (
        ("direct", run.direct("fast", stream=False)),
        ("relay", run.relay("fast", stream=False)),
    ):
        before = cpu_seconds(run.server.pid)
        result = run.loadgen.call(
            "calls", target=target, concurrency=config.concurrency, seconds=config.seconds
        )
        check(result, f"throughput {arm}")
        run.server_idle()
        arms[arm] = {key: result[key] for key in ("ok", "errors", "requests_per_second")}
        arms[arm]["latency_ms"] = result["latency_ms"]
        if arm == "relay":
            used = cpu_seconds(run.server.pid) - before
            arms[arm]["server_cpu_ms_per_request"] = used * 1000 / max(result["ok"], 1)
    run.log(
        f"non-streaming c={config.concurrency}: direct {arms['direct']['requests_per_second']:.0f}"
        f"/s, relay {arms['relay']['requests_per_second']:.0f}/s"
    )
    return {"upstream": config.upstream.as_dict(), "concurrency": config.concurrency, **arms}


def hold(run: Run, target: dict[str, Any], count: int, per_second: float, timeout: float) -> None:
    opened = run.loadgen.call(
        "open", target=target, count=count, per_second=per_second, timeout_seconds=timeout
    )
    if opened["with_first_token"] < count:
        print(
            f"  ! only {opened['with_first_token']} of {count} streams got a first token"
            f" ({opened['failed']} failed)",
            flush=True,
        )


def memory(run: Run) -> dict[str, Any]:
    """Resident memory per open stream, on a fresh server so the growth is all theirs."""
    config = run.config.memory
    if run.config.fresh_server_for_memory:
        run.server = run.restart_server()
    first = f"latency-c{run.config.latency.levels[0]}"
    run.loadgen.call("streams", target=run.relay(first), concurrency=4, requests=40)
    hold(run, run.relay("memory"), 10, config.open_per_second, 30)
    run.loadgen.call("close")
    run.server_idle()
    baseline = rss_bytes(run.server.pid)
    levels = []
    held = 0
    for count in config.levels:
        hold(run, run.relay("memory"), count - held, config.open_per_second, 60)
        held = count
        time.sleep(config.settle_seconds)
        rss = rss_bytes(run.server.pid)
        # Each stream's log grows by an event per token: say how many it held.
        tokens = run.loadgen.call("measure", seconds=0.0, stall_seconds=3600)
        levels.append(
            {
                "streams": count,
                "rss_bytes": rss,
                "kb_per_stream": (rss - baseline) / 1024 / count,
                "tokens_per_stream": tokens["tokens_per_stream"],
            }
        )
        run.log(f"memory: {count} streams, {levels[-1]['kb_per_stream']:.1f} KB each")
    run.loadgen.call("close")
    run.server_idle()
    return {"upstream": config.upstream.as_dict(), "baseline_rss_bytes": baseline, "levels": levels}


def capacity(run: Run) -> dict[str, Any]:
    """Raise the number of open streams until the relay's p99 gap leaves gap + slack.

    The direct arm holds as many streams on the same upstream first: if the harness
    itself (load generator and upstream share a core) cannot keep the gap, the figure
    is the harness's limit and is reported as such.
    """
    config = run.config.capacity
    threshold = config.gap_ms + config.slack_ms
    levels = []
    best = 0
    limited_by = "levels"
    for count in config.levels:
        arms = {}
        for arm, target in (("direct", run.direct("capacity")), ("relay", run.relay("capacity"))):
            hold(run, target, count, config.open_per_second, config.first_token_timeout)
            time.sleep(config.settle_seconds)
            measured = run.loadgen.call(
                "measure", seconds=config.window_seconds, stall_seconds=threshold / 1000
            )
            rss = rss_bytes(run.server.pid) if arm == "relay" else None
            run.loadgen.call("close")
            run.server_idle()
            held_all = measured["streams"] == count and measured["alive_after"] == count
            arms[arm] = {
                "gap_ms": measured["gap_ms"],
                "streams": measured["streams"],
                "alive_after": measured["alive_after"],
                "rss_bytes": rss,
                "ok": held_all and measured["gap_ms"]["p99"] <= threshold,
            }
        levels.append({"streams": count, **arms})
        run.log(
            f"capacity {count} streams: p99 gap direct {arms['direct']['gap_ms']['p99']:.1f} ms,"
            f" relay {arms['relay']['gap_ms']['p99']:.1f} ms (limit {threshold:g})"
        )
        if not arms["direct"]["ok"]:
            limited_by = "harness"
            break
        if not arms["relay"]["ok"]:
            limited_by = "server"
            break
        best = count
    return {
        "gap_ms": config.gap_ms,
        "threshold_ms": threshold,
        "max_streams": best,
        "limited_by": limited_by,
        "levels": levels,
    }


PHASES: dict[str, Callable[[Run], dict[str, Any]]] = {
    "latency": latency,
    "cpu": cpu,
    "throughput": throughput,
    "memory": memory,
    "capacity": capacity,
    "rate": rate,
    "scaling": scaling,
    "profile": profile,
}
# What a run measures unless --phases says otherwise: profiling needs py-spy and perturbs.
DEFAULT_PHASES = [name for name in PHASES if name != "profile"]
