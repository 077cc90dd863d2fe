"""The run's results as one document, and that document as a table, JSON and markdown."""

from __future__ import annotations

import contextlib
import math
import os
import platform
import re
import subprocess
import time
from dataclasses import asdict, dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

from bench.config import BenchConfig
from bench.servers import PROJECT_DIR


def machine() -> dict[str, Any]:
    cpu_model = ""
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        found = re.search(r"^model name\s*:\s*(.+)$", cpuinfo.read_text(), re.MULTILINE)
        cpu_model = found.group(1).strip() if found else ""
    memory_gb = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    versions = {}
    for package in ("Django", "daphne", "Twisted", "uvicorn", "httpx", "psycopg"):
        with contextlib.suppress(metadata.PackageNotFoundError):
            versions[package] = metadata.version(package)
    return {
        "cpu": cpu_model,
        "cores": os.cpu_count(),
        "memory_gb": round(memory_gb, 1),
        "kernel": platform.release(),
        # Other work on the machine skews every figure: say how busy it was.
        "load_average": [round(value, 2) for value in os.getloadavg()],
        "python": platform.python_version(),
        "packages": versions,
    }


def git_commit() -> str:
    if os.environ.get("BENCH_COMMIT"):  # a run from an exported copy of the tree
        return os.environ["BENCH_COMMIT"]
    try:
        done = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            cwd=PROJECT_DIR,
            capture_output=True,
            text=True,
            check=True,
        )
    except (OSError, subprocess.CalledProcessError):
        return ""
    return done.stdout.strip()


def assemble(
    results: dict[str, Any],
    *,
    config: BenchConfig,
    server: str,
    database: str,
    overrides: dict[str, str],
    cores: dict[str, Any],
    command: str,
    seconds: float,
) -> dict[str, Any]:
    document = {
        "meta": {
            "preset": config.name,
            "date": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
            "commit": git_commit(),
            "server": server,
            "database": database,
            "server_env": overrides,
            "cores": cores,
            "command": command,
            "seconds": round(seconds, 1),
            "machine": machine(),
        },
        **results,
    }
    document["figures"] = [asdict(row) for row in rows(document, config.targets)]
    return document


@dataclass(frozen=True, slots=True)
class Row:
    figure: str
    unit: str
    direct: float | None
    relay: float | None
    value: float | None  # relay minus direct where both exist, else the relay's own figure
    target: str
    met: bool | None


def _target(value: float | None, limit: float, *, at_most: bool) -> tuple[str, bool | None]:
    text = f"{'≤' if at_most else '≥'} {limit:g}"
    if value is None or not math.isfinite(value):
        return text, None
    return text, value <= limit if at_most else value >= limit


def latency_rows(latency: dict[str, Any], targets: dict[str, float]) -> list[Row]:
    levels = latency["levels"]
    picked = [levels[0]] + ([levels[-1]] if len(levels) > 1 else [])
    out = []
    for level in picked:
        c = level["concurrency"]
        direct, relay = level["direct"], level["relay"]
        for stat, key in (("p50", "added_ttft_p50_ms"), ("p99", "added_ttft_p99_ms")):
            goal: tuple[str, bool | None] = ("", None)
            if stat == "p50" and c == 1:
                goal = _target(level[key], targets["added_ttft_p50_ms_at_1"], at_most=True)
            if stat == "p99" and c == 100:
                goal = _target(level[key], targets["added_ttft_p99_ms_at_100"], at_most=True)
            out.append(
                Row(
                    f"TTFT {stat}, {c} stream{'s' * (c > 1)}",
                    "ms",
                    direct["ttft_ms"][stat],
                    relay["ttft_ms"][stat],
                    level[key],
                    *goal,
                )
            )
        out.append(
            Row(
                f"gap between tokens p99, {c} stream{'s' * (c > 1)}",
                "ms",
                direct["gap_ms"]["p99"],
                relay["gap_ms"]["p99"],
                level["added_gap_p99_ms"],
                "",
                None,
            )
        )
    return out


def rows(document: dict[str, Any], targets: dict[str, float]) -> list[Row]:
    out: list[Row] = []
    if "latency" in document:
        out += latency_rows(document["latency"], targets)
    if "cpu" in document:
        cpu = document["cpu"]
        for what, key, limit in (
            ("request", "ms_per_request", targets["cpu_ms_per_request"]),
            ("relayed chunk", "ms_per_chunk", targets["cpu_ms_per_chunk"]),
        ):
            value = cpu["relay"][key]
            out.append(
                Row(
                    f"CPU per {what} (direct: the upstream's)",
                    "ms",
                    cpu["direct"][key],
                    value,
                    value,
                    *_target(value, limit, at_most=True),
                )
            )
    if "memory" in document:
        for level in document["memory"]["levels"]:
            value = level["kb_per_stream"]
            goal = _target(value, targets["kb_per_stream"], at_most=True)
            out.append(
                Row(
                    f"memory per open stream, {level['streams']} open",
                    "KB",
                    None,
                    value,
                    value,
                    *goal,
                )
            )
    if "capacity" in document:
        capacity = document["capacity"]
        value = float(capacity["max_streams"])
        label = f"streams held, p99 gap ≤ {capacity['threshold_ms']:g} ms"
        if capacity["limited_by"] != "server":
            label += f" (limit: {capacity['limited_by']})"
        goal = _target(value, targets["streams_held"], at_most=False)
        out.append(Row(label, "streams", None, value, value, *goal))
    for key in ("rate", "scaling"):
        if "max_per_second" in document.get(key, {}):
            found = document[key]
            label = f"new answers/s, {found['workers']} process{'es' * (found['workers'] > 1)}"
            if found["limited_by"] != "server":
                label += f" (limit: {found['limited_by']})"
            value = float(found["max_per_second"])
            out.append(Row(label, "answers/s", None, value, value, "", None))
    if "throughput" in document:
        throughput = document["throughput"]
        direct = throughput["direct"]["requests_per_second"]
        relay = throughput["relay"]["requests_per_second"]
        out.append(
            Row(
                f"non-streaming requests/s, concurrency {throughput['concurrency']}",
                "req/s",
                direct,
                relay,
                relay,
                "",
                None,
            )
        )
    return out


def number(value: float | None, unit: str = "") -> str:
    if value is None:
        return "-"
    if not math.isfinite(value):
        return "n/a"
    if unit in ("streams", "req/s", "answers/s") or abs(value) >= 100:
        return f"{value:,.0f}"
    return f"{value:.3f}" if abs(value) < 1 else f"{value:.2f}"


def verdict(met: bool | None) -> str:
    return {True: "yes", False: "NO", None: ""}[met]


def table(document: dict[str, Any]) -> str:
    header = ("figure", "unit", "direct", "relay", "added / value", "target", "met")
    lines = [header]
    for row in document["figures"]:
        lines.append(
            (
                row["figure"],
                row["unit"],
                number(row["direct"], row["unit"]),
                number(row["relay"], row["unit"]),
                number(row["value"], row["unit"]),
                row["target"],
                verdict(row["met"]),
            )
        )
    widths = [max(len(line[i]) for line in lines) for i in range(len(header))]
    rendered = []
    for index, line in enumerate(lines):
        cells = [
            cell.ljust(width) if column < 2 else cell.rjust(width)
            for column, (cell, width) in enumerate(zip(line, widths, strict=True))
        ]
        rendered.append("  ".join(cells).rstrip())
        if index == 0:
            rendered.append("  ".join("-" * width for width in widths))
    return "\n".join(rendered)
