"""Several arms of one run (our servers, LiteLLM) as one side-by-side table and its targets."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.markdown import DOC_NAME, markdown_table
from bench.peers import LITELLM
from bench.report import number

BEGIN = "<!-- bench:peers:begin (written by `python -m bench --peers`; edit outside) -->"
END = "<!-- bench:peers:end -->"
NAN = math.nan

Pick = Callable[[dict[str, Any]], float]


def _get(document: dict[str, Any], *path: str | int) -> float:
    value: Any = document
    for key in path:
        try:
            value = value[key]
        except (KeyError, IndexError, TypeError):
            return NAN
    return float(value) if isinstance(value, int | float) else NAN


def _over(numerator: float, denominator: float) -> float:
    """A ratio, NaN when either side is missing or the denominator is zero."""
    if not (math.isfinite(numerator) and math.isfinite(denominator)) or denominator == 0:
        return NAN
    return numerator / denominator


def _memory_at_most(document: dict[str, Any]) -> float:
    levels = document.get("memory", {}).get("levels") or [{}]
    return _get(levels[-1], "kb_per_stream")


@dataclass(frozen=True, slots=True)
class Figure:
    name: str
    unit: str
    lower_is_better: bool
    relay: Pick
    direct: Pick | None = None
    # Which phase's `limited_by` to show beside a figure that stopped at the harness.
    limit_of: str = ""


FIGURES = (
    Figure(
        "added TTFT p50, 1 stream",
        "ms",
        True,
        lambda d: _get(d, "latency", "levels", 0, "added_ttft_p50_ms"),
    ),
    Figure(
        "added TTFT p99, most streams of the latency phase",
        "ms",
        True,
        lambda d: _get(d, "latency", "levels", -1, "added_ttft_p99_ms"),
    ),
    Figure(
        "CPU per relayed chunk (direct: the upstream's)",
        "ms",
        True,
        lambda d: _get(d, "cpu", "relay", "ms_per_chunk"),
        lambda d: _get(d, "cpu", "direct", "ms_per_chunk"),
    ),
    Figure(
        "CPU per streamed request (direct: the upstream's)",
        "ms",
        True,
        lambda d: _get(d, "cpu", "relay", "ms_per_request"),
        lambda d: _get(d, "cpu", "direct", "ms_per_request"),
    ),
    Figure(
        "CPU per non-streaming request",
        "ms",
        True,
        lambda d: _get(d, "throughput", "relay", "server_cpu_ms_per_request"),
    ),
    Figure(
        "non-streaming requests/s (throughput phase)",
        "req/s",
        False,
        lambda d: _get(d, "throughput", "relay", "requests_per_second"),
        lambda d: _get(d, "throughput", "direct", "requests_per_second"),
    ),
    Figure(
        "new answers/s, one process (100 tokens, 25 ms gap)",
        "answers/s",
        False,
        lambda d: _get(d, "rate", "max_per_second"),
        limit_of="rate",
    ),
    Figure(
        "new answers/s, two processes on two cores (Redis)",
        "answers/s",
        False,
        lambda d: _get(d, "scaling", "max_per_second"),
        limit_of="scaling",
    ),
    Figure(
        "streams held, p99 gap ≤ gap + 20 ms",
        "streams",
        False,
        lambda d: _get(d, "capacity", "max_streams"),
        limit_of="capacity",
    ),
    Figure("memory per open stream, most streams held", "KB", True, _memory_at_most),
)


def _ours(arms: dict[str, Any]) -> list[str]:
    return [arm for arm in arms if arm != LITELLM]


def _best(values: list[float], lower_is_better: bool) -> float:
    finite = [value for value in values if math.isfinite(value)]
    if not finite:
        return NAN
    return min(finite) if lower_is_better else max(finite)


def _advantage(ours: float, peer: float, lower_is_better: bool) -> float:
    """How many times better ours is than the peer (above 1: ours is better)."""
    if not (math.isfinite(ours) and math.isfinite(peer)) or min(ours, peer) <= 0:
        return NAN
    return peer / ours if lower_is_better else ours / peer


def rows(arms: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    out = []
    first = next(iter(arms.values()))
    for figure in FIGURES:
        values = {arm: figure.relay(document) for arm, document in arms.items()}
        limits = {
            arm: document.get(figure.limit_of, {}).get("limited_by", "")
            for arm, document in arms.items()
        }
        best = _best([values[arm] for arm in _ours(arms)], figure.lower_is_better)
        out.append(
            {
                "figure": figure.name,
                "unit": figure.unit,
                "direct": figure.direct(first) if figure.direct else NAN,
                "arms": values,
                "harness_limited": [arm for arm, limit in limits.items() if limit == "harness"],
                "advantage": _advantage(best, values.get(LITELLM, NAN), figure.lower_is_better),
            }
        )
    return out


def _chunk(d: dict[str, Any]) -> float:
    return _get(d, "cpu", "relay", "ms_per_chunk")


def _ttft(d: dict[str, Any]) -> float:
    return _get(d, "latency", "levels", 0, "added_ttft_p50_ms")


def _rate(d: dict[str, Any]) -> float:
    return _get(d, "rate", "max_per_second")


def _calls(d: dict[str, Any]) -> float:
    return _get(d, "throughput", "relay", "requests_per_second")


@dataclass(frozen=True, slots=True)
class Target:
    """`pick(ours)`, divided by `pick(LiteLLM)` if `per_peer`, or by `baseline(ours)`."""

    text: str
    pick: Pick
    limit: float
    at_most: bool
    per_peer: bool = False
    baseline: Pick | None = None
    # A phase stopped by the harness measured nothing about the server: no verdict.
    phase: str = ""

    def value(self, ours: dict[str, Any], peer: dict[str, Any] | None) -> float:
        for document in (ours, peer) if self.per_peer else (ours,):
            if self.phase and (document or {}).get(self.phase, {}).get("limited_by") == "harness":
                return NAN
        if self.per_peer:
            return _over(self.pick(ours), self.pick(peer) if peer else NAN)
        if self.baseline is not None:
            return _over(self.pick(ours), self.baseline(ours))
        return self.pick(ours)


TARGETS = (
    Target(
        "CPU per chunk ≤ 1.5x the upstream's own",
        _chunk,
        1.5,
        True,
        baseline=lambda d: _get(d, "cpu", "direct", "ms_per_chunk"),
    ),
    Target("CPU per chunk ≤ 1/10 of LiteLLM's", _chunk, 0.1, True, per_peer=True),
    Target("added TTFT p50, 1 stream ≤ 1/4 of LiteLLM's", _ttft, 0.25, True, per_peer=True),
    Target("added TTFT p50, 1 stream ≤ 2 ms", _ttft, 2.0, True),
    Target(
        "new answers/s per core ≥ 10x LiteLLM's", _rate, 10.0, False, per_peer=True, phase="rate"
    ),
    Target("non-streaming requests/s ≥ 5x LiteLLM's", _calls, 5.0, False, per_peer=True),
    Target(
        "streams held ≥ 2,000",
        lambda d: _get(d, "capacity", "max_streams"),
        2000,
        False,
        phase="capacity",
    ),
    Target("memory per stream ≤ 32 KB", _memory_at_most, 32.0, True),
)


def targets(arms: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    peer = arms.get(LITELLM)
    out = []
    for target in TARGETS:
        cells = {}
        for arm in _ours(arms):
            with_peer = target.value(arms[arm], peer)
            met = None
            if math.isfinite(with_peer):
                met = with_peer <= target.limit if target.at_most else with_peer >= target.limit
            cells[arm] = {"value": with_peer, "met": met}
        out.append({"target": target.text, "arms": cells})
    return out


def assemble(arms: dict[str, dict[str, Any]], *, seconds: float) -> dict[str, Any]:
    first = next(iter(arms.values()))
    meta = {**first["meta"], "server": ", ".join(arms), "seconds": round(seconds, 1)}
    return {"meta": meta, "arms": arms, "comparison": rows(arms), "targets": targets(arms)}


def _cell(value: float, unit: str) -> str:
    return "n/a" if not math.isfinite(value) else number(value, unit)


def _ratio(value: float) -> str:
    return "" if not math.isfinite(value) else f"{value:.2f}x"


def _rendered(document: dict[str, Any]) -> tuple[list[str], list[list[str]]]:
    arms = list(document["arms"])
    header = [
        "figure",
        "unit",
        "direct",
        *(f"ours, {arm}" if arm != LITELLM else "LiteLLM" for arm in arms),
    ]
    if LITELLM in arms:
        header.append("best of ours vs LiteLLM")
    body = []
    for row in document["comparison"]:
        line = [row["figure"], row["unit"], _cell(row["direct"], row["unit"])]
        line += [
            _cell(row["arms"][arm], row["unit"])
            + (" (harness limit)" if arm in row.get("harness_limited", ()) else "")
            for arm in arms
        ]
        if LITELLM in arms:
            line.append(_ratio(row["advantage"]))
        body.append(line)
    return header, body


def table(document: dict[str, Any]) -> str:
    header, body = _rendered(document)
    lines = [header, *body]
    widths = [max(len(line[i]) for line in lines) for i in range(len(header))]
    return "\n".join(
        "  ".join(cell.ljust(width) for cell, width in zip(line, widths, strict=True)).rstrip()
        for line in lines
    )


def targets_table(document: dict[str, Any]) -> str:
    arms = [arm for arm in document["arms"] if arm != LITELLM]
    body = []
    for row in document["targets"]:
        cells = []
        for arm in arms:
            cell = row["arms"][arm]
            verdict = {True: "met", False: "**not met**", None: "n/a"}[cell["met"]]
            value = "" if not math.isfinite(cell["value"]) else f"{cell['value']:.3g}: "
            cells.append(value + verdict)
        body.append([row["target"], *cells])
    return markdown_table(["target (value: the ratio or figure)", *arms], body)


def block(document: dict[str, Any]) -> str:
    meta = document["meta"]
    box = meta["machine"]
    header, body = _rendered(document)
    return (
        "\n\n".join(
            [
                BEGIN,
                "### Latest side-by-side run",
                f"Run {meta['date']} at commit `{meta['commit']}`, on {meta['database']},"
                f" {meta['seconds']:.0f} s; arms in this order: {meta['server']}. Command:"
                f" `{meta['command']}`. Machine: {box['cpu']}, {box['cores']} cores; load average"
                f" {box['load_average']} at the end of the first arm. Cores: server"
                f" {meta['cores']['server']}, load generator"
                f" {meta['cores']['load_generator']}, upstreams {meta['cores']['upstream']}.",
                markdown_table(header, body),
                targets_table(document),
                END,
            ]
        )
        + "\n"
    )


def write_docs(document: dict[str, Any], docs_dir: Path) -> Path:
    """Replace the side-by-side block of benchmarks.md (the rest is hand-written)."""
    path = docs_dir / DOC_NAME
    text = path.read_text() if path.exists() else "# Benchmarks\n\n"
    new = block(document)
    if BEGIN in text and END in text:
        head, rest = text.split(BEGIN, 1)
        text = head + new.rstrip("\n") + rest.split(END, 1)[1]
    else:
        text = text.rstrip("\n") + "\n\n" + new
    path.write_text(text)
    return path
