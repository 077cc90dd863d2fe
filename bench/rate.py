"""New answers a second: the most one process (and then several) sustains within bounds."""

from __future__ import annotations

from typing import Any

from bench.run import Run, check
from bench.servers import Server, cpu_seconds, wait_idle

RATE_UPSTREAM = "rate"


def _level(run: Run, target: dict[str, Any], per_second: float, pids: list[int]) -> dict[str, Any]:
    config = run.config.rate
    before = sum(cpu_seconds(pid) for pid in pids)
    result = run.loadgen.call("rate", target=target, per_second=per_second, seconds=config.seconds)
    for pid in pids:
        wait_idle(pid, run.config.idle_window)
    used = sum(cpu_seconds(pid) for pid in pids) - before
    return {
        "ttft_ms": result["ttft_ms"],
        "gap_ms": result["gap_ms"],
        "started": result["started"],
        "ok": result["ok"],
        "errors": result["errors"],
        "error_samples": result["error_samples"],
        "start_lag_ms": result["start_lag_ms"],
        "cpu_ms_per_answer": used * 1000 / max(result["ok"], 1),
    }


def search(run: Run, servers: list[Server], label: str) -> dict[str, Any]:
    """Raise the arrival rate level by level until the relay (or the harness) fails."""
    config = run.config.rate
    gap_limit = config.upstream.gap_ms + config.gap_slack_ms
    relay = run.relay(RATE_UPSTREAM, server=servers[0])
    relay["ports"] = [server.port for server in servers]
    upstream_pid = run.upstreams[RATE_UPSTREAM].pid
    levels = []
    best = 0.0
    limited_by = "levels"
    for per_second in config.levels:
        direct = _level(run, run.direct(RATE_UPSTREAM), per_second, [upstream_pid])
        measured = _level(run, relay, per_second, [server.pid for server in servers])
        check(measured, f"{label} {per_second:g}/s")
        added = measured["ttft_ms"]["p99"] - direct["ttft_ms"]["p99"]
        direct_ok = not direct["errors"] and direct["gap_ms"]["p99"] <= gap_limit
        relay_ok = (
            not measured["errors"]
            and added <= config.max_added_ttft_ms
            and measured["gap_ms"]["p99"] <= gap_limit
        )
        levels.append(
            {
                "per_second": per_second,
                "direct": direct,
                "relay": measured,
                "added_ttft_p99_ms": added,
                "ok": relay_ok,
            }
        )
        run.log(
            f"{label} {per_second:g} answers/s: added TTFT p99 {added:.1f} ms, p99 gap direct"
            f" {direct['gap_ms']['p99']:.1f} / relay {measured['gap_ms']['p99']:.1f} ms,"
            f" {measured['errors']} errors"
        )
        if not direct_ok:
            limited_by = "harness"
            break
        if not relay_ok:
            limited_by = "server"
            break
        best = per_second
    return {
        "upstream": config.upstream.as_dict(),
        "workers": len(servers),
        "max_added_ttft_ms": config.max_added_ttft_ms,
        "gap_limit_ms": gap_limit,
        "max_per_second": best,
        "limited_by": limited_by,
        "levels": levels,
    }


def rate(run: Run) -> dict[str, Any]:
    """One process: the server under test."""
    return search(run, [run.server], "rate")


def scaling(run: Run) -> dict[str, Any]:
    """The same with `workers` processes, one per core, sharing Redis (round robin)."""
    workers = run.config.rate.workers
    if run.start_workers is None or run.stop is None:
        return {"skipped": "needs Redis and a server of the project"}
    servers = run.start_workers(workers)
    try:
        # Fresh processes: their first answers pay for imports and pools, as in warm_up.
        first = f"latency-c{run.config.latency.levels[0]}"
        for server in servers:
            run.loadgen.call(
                "streams",
                target=run.relay(first, server=server),
                concurrency=2,
                requests=run.config.warmup_requests,
            )
            wait_idle(server.pid, run.config.idle_window)
        return search(run, servers, f"{workers} workers")
    finally:
        for server in servers:
            run.stop(server)
