"""`python -m bench`: what the relay costs, side by side with the upstream itself.

    python -m bench                 # the full run (a few minutes); updates docs/benchmarks.md
    python -m bench --smoke         # seconds: proves the harness works, figures mean nothing
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/bench python -m bench   # on PostgreSQL

One run starts fake upstreams, the project under daphne, and a load generator, each in its
own process and pinned to its cores; measures every figure against the direct arm (the
load generator talking to the same upstream); prints a table; writes a JSON file under
bench-results/; and, for a full run, the latest figures and the plot under docs/.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import shlex
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from types import FrameType
from typing import Any

from bench import markdown, report
from bench.config import PRESETS, BenchConfig
from bench.phases import PHASES, Run, warm_up
from bench.servers import PROJECT_DIR, CorePlan, Processes, Server, Upstream


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.splitlines()[0])
    parser.add_argument("--smoke", action="store_true", help="a tiny run taking seconds")
    parser.add_argument("--server", choices=["daphne", "uvicorn"], default="daphne")
    parser.add_argument(
        "--phases",
        default=",".join(PHASES),
        help=f"comma-separated subset of {','.join(PHASES)}",
    )
    parser.add_argument(
        "--out", type=Path, default=PROJECT_DIR / "bench-results", help="where the JSON goes"
    )
    parser.add_argument(
        "--docs",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="update docs/benchmarks.md and the plot (default: on for a full run)",
    )
    parser.add_argument("--docs-dir", type=Path, default=PROJECT_DIR / "docs")
    parser.add_argument(
        "--render",
        type=Path,
        metavar="RESULTS_JSON",
        help="measure nothing: print the table and write the docs from an earlier run",
    )
    parser.add_argument(
        "--latency-levels",
        help="comma-separated concurrencies for the latency phase (default: the preset's)",
    )
    parser.add_argument(
        "--server-env",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="extra environment for the server under test, to try a setting (repeatable)",
    )
    return parser.parse_args(argv)


def upstream_specs(config: BenchConfig) -> dict[str, dict[str, float]]:
    specs = {
        **{
            f"latency-c{level}": config.latency.upstream(level).as_dict()
            for level in config.latency.levels
        },
        "fast": config.throughput.upstream.as_dict(),
        "memory": config.memory.upstream.as_dict(),
        "capacity": config.capacity.upstream().as_dict(),
    }
    for size in config.cpu.sizes:
        specs[f"cpu{size}"] = {"tokens": size, "ttft_ms": 0.0, "gap_ms": config.cpu.gap_ms}
    return specs


def provision(env: dict[str, str], upstreams: dict[str, Upstream]) -> str:
    """Migrate, make the API key and one model per upstream; returns the key."""
    models = {f"bench-{name}": upstream.base_url for name, upstream in upstreams.items()}
    done = subprocess.run(
        [sys.executable, "-m", "bench.provision", json.dumps(models)],
        cwd=PROJECT_DIR,
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"provisioning failed:\n{done.stdout}\n{done.stderr}")
    key: str = json.loads(done.stdout.strip().splitlines()[-1])["api_key"]
    return key


def server_env(database_url: str) -> dict[str, str]:
    return {
        "DJANGO_SETTINGS_MODULE": "chatsite.settings",
        "SECRET_KEY": "benchmark-only-not-secret",
        "DEBUG": "0",
        "ALLOWED_HOSTS": "127.0.0.1",
        "DATABASE_URL": database_url,
        "CHAT_RATE_LIMIT_PER_MINUTE": "0",
        "CHAT_LOG_LEVEL": "WARNING",
    }


def command_line(argv: list[str] | None) -> str:
    words = ["python", "-m", "bench", *(sys.argv[1:] if argv is None else argv)]
    prefix = "DATABASE_URL=… " if os.environ.get("DATABASE_URL") else ""
    return prefix + shlex.join(words)


def stop_on_sigterm(signum: int, frame: FrameType | None) -> None:
    # SystemExit runs the `finally` that stops every child.
    raise SystemExit(128 + signum)


def render(path: Path, docs_dir: Path) -> int:
    document = json.loads(path.read_text())
    print(report.table(document))
    for written in markdown.write_docs(document, docs_dir):
        print(f"updated {written}")
    return 0


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.render is not None:
        return render(args.render, args.docs_dir)
    config = PRESETS["smoke" if args.smoke else "full"]
    if args.latency_levels:
        levels = tuple(int(level) for level in args.latency_levels.split(","))
        config = dataclasses.replace(
            config, latency=dataclasses.replace(config.latency, levels=levels)
        )
    phases = [name.strip() for name in args.phases.split(",") if name.strip()]
    unknown = set(phases) - set(PHASES)
    if unknown:
        raise SystemExit(f"unknown phases: {', '.join(sorted(unknown))}")
    write_docs = args.docs if args.docs is not None else not args.smoke
    stamp = time.strftime("%Y%m%d-%H%M%S")
    run_dir = (args.out / f"{config.name}-{stamp}").resolve()
    run_dir.mkdir(parents=True, exist_ok=True)
    own_sqlite = not os.environ.get("DATABASE_URL")
    database_url = os.environ.get("DATABASE_URL") or f"sqlite:///{run_dir / 'bench.sqlite3'}"
    env = server_env(database_url)
    overrides = dict(item.split("=", 1) for item in args.server_env)
    env.update(overrides)
    cores = CorePlan.for_this_machine()
    if cores.load is not None:
        # The runner mostly waits; it stays off the server's core.
        os.sched_setaffinity(0, cores.load)
    signal.signal(signal.SIGTERM, stop_on_sigterm)
    processes = Processes(run_dir, cores)
    began = time.monotonic()
    load_at_start = [round(value, 2) for value in os.getloadavg()]

    def log(line: str) -> None:
        print(f"[{time.monotonic() - began:6.1f}s] {line}", flush=True)

    results: dict[str, Any] = {}
    try:
        upstreams = processes.upstreams(upstream_specs(config))
        log(f"{len(upstreams)} fake upstreams up; provisioning {database_url.split(':')[0]}")
        api_key = provision(env, upstreams)
        server = processes.server(args.server, env, "server")
        loadgen = processes.load_generator()
        log(f"{args.server} serving on port {server.port} (pid {server.pid})")

        def restart_server() -> Server:
            processes.stop(run.server)
            fresh = processes.server(args.server, env, "server-fresh")
            log(f"fresh {args.server} on port {fresh.port}")
            return fresh

        run = Run(config, loadgen, server, upstreams, api_key, restart_server, log)
        warm_up(run)
        for name in phases:
            log(f"phase {name}")
            results[name] = PHASES[name](run)
    finally:
        processes.stop_all()
        if own_sqlite:
            for path in run_dir.glob("bench.sqlite3*"):
                path.unlink()
    document = report.assemble(
        results,
        config=config,
        server=args.server,
        database=database_url.split(":")[0],
        overrides=overrides,
        cores=cores.describe(),
        command=command_line(argv),
        seconds=time.monotonic() - began,
    )
    document["meta"]["machine"]["load_average_at_start"] = load_at_start
    json_path = run_dir / "results.json"
    json_path.write_text(json.dumps(document, indent=2, allow_nan=True) + "\n")
    shutil.copyfile(json_path, args.out / "latest.json")
    print()
    print(report.table(document))
    print(f"\nJSON: {json_path}")
    if write_docs:
        for path in markdown.write_docs(document, args.docs_dir):
            print(f"updated {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
