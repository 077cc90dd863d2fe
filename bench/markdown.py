"""docs/benchmarks.md: the run's block of latest figures, and the plot beside it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from bench.plot import added_ttft_svg
from bench.report import number, verdict

PLOT_NAME = "bench-ttft.svg"
DOC_NAME = "benchmarks.md"
BEGIN = "<!-- bench:latest:begin (written by `python -m bench`; edit outside this block) -->"
END = "<!-- bench:latest:end -->"


def markdown_table(header: list[str], body: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in body]
    return "\n".join(lines)


def figures_table(document: dict[str, Any]) -> str:
    body = [
        [
            row["figure"],
            row["unit"],
            number(row["direct"], row["unit"]),
            number(row["relay"], row["unit"]),
            f"**{number(row['value'], row['unit'])}**",
            row["target"],
            verdict(row["met"]),
        ]
        for row in document["figures"]
    ]
    header = ["figure", "unit", "direct", "relay", "added / value", "target", "met"]
    return markdown_table(header, body)


def latency_section(latency: dict[str, Any]) -> str:
    body = []
    for level in latency["levels"]:
        direct, relay = level["direct"], level["relay"]
        body.append(
            [
                str(level["concurrency"]),
                str(level["upstream"]["tokens"]),
                str(level["requests"]),
                f"{direct['ttft_ms']['p50']:.2f} / {direct['ttft_ms']['p99']:.2f}",
                f"{relay['ttft_ms']['p50']:.2f} / {relay['ttft_ms']['p99']:.2f}",
                f"{level['added_ttft_p50_ms']:.2f} / {level['added_ttft_p99_ms']:.2f}",
                f"{direct['gap_ms']['p99']:.2f} / {relay['gap_ms']['p99']:.2f}",
                str(direct["errors"] + relay["errors"]),
            ]
        )
    header = [
        "streams",
        "tokens/answer",
        "requests/arm",
        "direct TTFT p50 / p99",
        "relay TTFT p50 / p99",
        "added p50 / p99",
        "gap p99 direct / relay",
        "errors",
    ]
    up = latency["levels"][0]["upstream"]
    return (
        f"Upstream TTFT {up['ttft_ms']:g} ms, gap {up['gap_ms']:g} ms; answers lengthen with the"
        f" number of streams so that at most {latency['max_arrivals_per_second']:g} requests"
        " start a second. Times in ms.\n\n" + markdown_table(header, body)
    )


def cpu_section(cpu: dict[str, Any]) -> str:
    body = [
        [
            f"{point['tokens']}",
            str(point["requests"]),
            f"{point['relay']['cpu_ms_per_answer']:.2f}",
            f"{point['direct']['cpu_ms_per_answer']:.2f}",
        ]
        for point in cpu["points"]
    ]
    relay, direct = cpu["relay"], cpu["direct"]
    return (
        f"Upstream gap {cpu['gap_ms']:g} ms (one token per read), {cpu['concurrency']} streams"
        " at a time. CPU is user + system time of the whole server process (all threads)"
        " over the batch.\n\n"
        + markdown_table(
            ["tokens/answer", "answers", "server CPU ms/answer", "upstream CPU ms/answer"], body
        )
        + f"\n\nFit (server): {relay['ms_per_request']:.3f} ms + {relay['ms_per_chunk']:.4f}"
        f" ms x chunks (R² {relay['r_squared']:.4f}). Upstream: {direct['ms_per_request']:.3f}"
        f" ms + {direct['ms_per_chunk']:.4f} ms x chunks."
    )


def memory_section(memory: dict[str, Any]) -> str:
    up = memory["upstream"]
    body = [
        [
            str(level["streams"]),
            f"{level['rss_bytes'] / 2**20:.1f}",
            f"{level['kb_per_stream']:.1f}",
            f"{level['tokens_per_stream']:.1f}",
        ]
        for level in memory["levels"]
    ]
    return (
        f"A fresh server; baseline RSS {memory['baseline_rss_bytes'] / 2**20:.1f} MiB after"
        f" warm-up. Streams are held open on an upstream sending a token every"
        f" {up['gap_ms']:g} ms.\n\n"
        + markdown_table(["open streams", "RSS MiB", "KB per stream", "tokens so far"], body)
    )


def capacity_section(capacity: dict[str, Any]) -> str:
    body = []
    for level in capacity["levels"]:
        relay, direct = level["relay"], level["direct"]
        rss = relay.get("rss_bytes")
        body.append(
            [
                str(level["streams"]),
                f"{direct['gap_ms']['p99']:.1f}",
                f"{relay['gap_ms']['p99']:.1f}",
                f"{rss / 2**20:.0f}" if rss else "-",
                "yes" if relay["ok"] else "NO",
            ]
        )
    return (
        f"Upstream gap {capacity['gap_ms']:g} ms; a level passes while every stream stays"
        f" open and the p99 gap is ≤ {capacity['threshold_ms']:g} ms (a stream silent longer"
        " than that at the end of the window counts as a gap too). Stopped by:"
        f" **{capacity['limited_by']}**.\n\n"
        + markdown_table(
            ["open streams", "direct p99 gap", "relay p99 gap", "server RSS MiB", "relay ok"],
            body,
        )
    )


def throughput_section(throughput: dict[str, Any]) -> str:
    direct, relay = throughput["direct"], throughput["relay"]
    up = throughput["upstream"]
    return (
        f"POST /api/v1/chat against the upstream's non-streaming /chat/completions,"
        f" {throughput['concurrency']} at a time; answers of {up['tokens']:g} tokens with no"
        f" delay. Direct {direct['requests_per_second']:.0f}/s (p50"
        f" {direct['latency_ms']['p50']:.1f} ms), relay {relay['requests_per_second']:.0f}/s"
        f" (p50 {relay['latency_ms']['p50']:.1f} ms, p99 {relay['latency_ms']['p99']:.1f} ms,"
        f" server CPU {relay.get('server_cpu_ms_per_request', float('nan')):.2f} ms per request)."
    )


SECTIONS = {
    "latency": ("Time to first token and gaps", latency_section),
    "cpu": ("Server CPU", cpu_section),
    "throughput": ("Non-streaming throughput", throughput_section),
    "memory": ("Memory per open stream", memory_section),
    "capacity": ("Streams one process holds", capacity_section),
}


def latest_block(document: dict[str, Any]) -> str:
    meta = document["meta"]
    box = meta["machine"]
    packages = ", ".join(f"{name} {version}" for name, version in box["packages"].items())
    parts = [
        BEGIN,
        "## Latest figures",
        f"Run {meta['date']} at commit `{meta['commit']}`, {meta['server']} on"
        f" {meta['database']}, {meta['seconds']:.0f} s. Command: `{meta['command']}`."
        + (f" Server environment: `{meta['server_env']}`." if meta.get("server_env") else ""),
        f"Machine: {box['cpu']}, {box['cores']} cores, {box['memory_gb']:g} GB, Linux"
        f" {box['kernel']}, Python {box['python']} ({packages}); load average"
        f" {box.get('load_average_at_start')} at the start, {box['load_average']} at the end."
        " Cores:"
        f" server {meta['cores']['server']}, load generator {meta['cores']['load_generator']},"
        f" upstreams {meta['cores']['upstream']}.",
        figures_table(document),
    ]
    if "latency" in document:
        parts.append(f"![Added TTFT against concurrency]({PLOT_NAME})")
    for key, (title, render) in SECTIONS.items():
        if key in document:
            parts += [f"### {title}", render(document[key])]
    parts.append(END)
    return "\n\n".join(parts) + "\n"


def plot(document: dict[str, Any]) -> str:
    levels = document["latency"]["levels"]
    return added_ttft_svg(
        [level["concurrency"] for level in levels],
        [level["added_ttft_p50_ms"] for level in levels],
        [level["added_ttft_p99_ms"] for level in levels],
        targets=[(1, 1.0, "p50 ≤ 1 ms"), (100, 10.0, "p99 ≤ 10 ms")],
        subtitle=f"{document['meta']['server']}, {document['meta']['database']},"
        f" commit {document['meta']['commit']}",
    )


def write_docs(document: dict[str, Any], docs_dir: Path) -> list[Path]:
    """Replace the latest-figures block of benchmarks.md (the rest is hand-written)."""
    written = []
    if "latency" in document:
        plot_path = docs_dir / PLOT_NAME
        plot_path.write_text(plot(document))
        written.append(plot_path)
    doc_path = docs_dir / DOC_NAME
    block = latest_block(document)
    text = doc_path.read_text() if doc_path.exists() else "# Benchmarks\n\n"
    if BEGIN in text and END in text:
        head, rest = text.split(BEGIN, 1)
        tail = rest.split(END, 1)[1]
        text = head + block.rstrip("\n") + tail
    else:
        text = text.rstrip("\n") + "\n\n" + block
    doc_path.write_text(text)
    written.append(doc_path)
    return written
