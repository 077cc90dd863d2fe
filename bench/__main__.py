"""`python -m bench`: what the relay costs, side by side with the upstream itself.

    python -m bench                 # the full run (a few minutes); updates docs/benchmarks.md
    python -m bench --smoke         # seconds: proves the harness works, figures mean nothing
    python -m bench --server granian                  # under another ASGI server
    python -m bench --peers --litellm PATH            # every server and LiteLLM, side by side
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/bench python -m bench   # on PostgreSQL

One run starts fake upstreams, the project under daphne, and a load generator, each in its
own process and pinned to its cores; measures every figure against the direct arm (the
load generator talking to the same upstream); prints a table; writes a JSON file under
bench-results/; and, for a full run, the latest figures and the plot under docs/. With
several arms (`--arms`, `--peers`) each server is measured in turn against the same
upstreams and load generator, and docs/benchmarks.md gets the side-by-side table.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import Any
from urllib.parse import urlsplit

from bench import markdown, report, sidebyside
from bench.config import PRESETS, BenchConfig
from bench.peers import LITELLM, LITELLM_ENV, LITELLM_START_TIMEOUT, litellm_command
from bench.phases import DEFAULT_PHASES, PHASES
from bench.run import Log, Run, warm_up
from bench.servers import (
    PROJECT_DIR,
    SERVERS,
    START_TIMEOUT,
    CorePlan,
    LoadGenerator,
    Processes,
    Server,
    Upstream,
)

ARMS = (*SERVERS, LITELLM)
PEERS_VENV_LITELLM = PROJECT_DIR / "bench-results" / "peers-venv" / "bin" / "litellm"


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.splitlines()[0])
    parser.add_argument("--smoke", action="store_true", help="a tiny run taking seconds")
    parser.add_argument("--server", choices=SERVERS, default="daphne", help="the server to measure")
    parser.add_argument(
        "--arms",
        help=f"comma-separated servers to measure in turn, side by side: {','.join(ARMS)}",
    )
    parser.add_argument(
        "--peers",
        action="store_true",
        help="every server and LiteLLM, with the peers preset (make bench-peers)",
    )
    parser.add_argument(
        "--litellm",
        default=str(PEERS_VENV_LITELLM),
        help="the LiteLLM proxy's executable, for the litellm arm",
    )
    parser.add_argument("--py-spy", help="py-spy's executable, for the profile phase")
    parser.add_argument(
        "--redis-url",
        default=os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/0"),
        help="Redis for the scaling phase's workers (skipped if it does not answer)",
    )
    parser.add_argument(
        "--phases",
        default=",".join(DEFAULT_PHASES),
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
        nargs="+",
        metavar="RESULTS_JSON",
        help="measure nothing: print the table and write the docs from an earlier run"
        " (several arm-*.json files: side by side, in the order given)",
    )
    parser.add_argument(
        "--preset", choices=sorted(PRESETS), help="the numbers to run (default: by the flags)"
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
        "rate": config.rate.upstream.as_dict(),
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
    # The docs record the command, never this machine's directories.
    words = [f"…/{Path(word).name}" if word.startswith("/") else word for word in words]
    prefix = "DATABASE_URL=… " if os.environ.get("DATABASE_URL") else ""
    return prefix + shlex.join(words)


def stop_on_sigterm(signum: int, frame: FrameType | None) -> None:
    # SystemExit runs the `finally` that stops every child.
    raise SystemExit(128 + signum)


def render(paths: list[Path], docs_dir: Path) -> int:
    documents = [json.loads(path.read_text()) for path in paths]
    document = documents[0]
    if len(documents) > 1:
        arms = {}
        for each in documents:
            arms.update(each.get("arms") or {each["meta"]["server"]: each})
        document = sidebyside.assemble(
            arms, seconds=sum(a["meta"]["seconds"] for a in arms.values())
        )
    if "arms" in document:
        print(sidebyside.table(document))
        written = [sidebyside.write_docs(document, docs_dir)]
    else:
        print(report.table(document))
        written = markdown.write_docs(document, docs_dir)
    for path_written in written:
        print(f"updated {path_written}")
    return 0


def redis_answers(url: str) -> bool:
    parts = urlsplit(url)
    try:
        with socket.create_connection((parts.hostname or "127.0.0.1", parts.port or 6379), 1):
            return True
    except OSError:
        return False


def choose_arms(args: argparse.Namespace) -> list[str]:
    if args.peers:
        return list(ARMS)
    if args.arms:
        arms = [arm.strip() for arm in args.arms.split(",") if arm.strip()]
        unknown = set(arms) - set(ARMS)
        if unknown:
            raise SystemExit(f"unknown arms: {', '.join(sorted(unknown))}")
        return arms
    return [args.server]


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.render is not None:
        return render(args.render, args.docs_dir)
    arms = choose_arms(args)
    config = PRESETS[args.preset or ("smoke" if args.smoke else "peers" if args.peers else "full")]
    if args.latency_levels:
        levels = tuple(int(level) for level in args.latency_levels.split(","))
        config = dataclasses.replace(
            config, latency=dataclasses.replace(config.latency, levels=levels)
        )
    phases = [name.strip() for name in args.phases.split(",") if name.strip()]
    unknown = set(phases) - set(PHASES)
    if unknown:
        raise SystemExit(f"unknown phases: {', '.join(sorted(unknown))}")
    if LITELLM in arms and not Path(args.litellm).exists():
        raise SystemExit(f"no LiteLLM at {args.litellm}: `make bench-peers` installs it")
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
    redis = args.redis_url if redis_answers(args.redis_url) else None

    def log(line: str) -> None:
        print(f"[{time.monotonic() - began:6.1f}s] {line}", flush=True)

    documents: dict[str, dict[str, Any]] = {}
    try:
        upstreams = processes.upstreams(upstream_specs(config))
        log(f"{len(upstreams)} fake upstreams up; provisioning {database_url.split(':')[0]}")
        api_key = provision(env, upstreams)
        loadgen = processes.load_generator()
        for arm in arms:
            arm_began = time.monotonic()
            results = measure_arm(
                arm,
                Setting(args, config, phases, processes, env, upstreams, api_key, loadgen),
                redis,
                log,
            )
            documents[arm] = report.assemble(
                results,
                config=config,
                server=arm,
                database=database_url.split(":")[0],
                overrides=overrides,
                cores=cores.describe(),
                command=command_line(argv),
                seconds=time.monotonic() - arm_began,
            )
            # Kept as soon as measured: a later arm that fails loses only itself.
            (run_dir / f"arm-{arm}.json").write_text(
                json.dumps(documents[arm], indent=2, allow_nan=True) + "\n"
            )
    finally:
        processes.stop_all()
        if own_sqlite:
            for path in run_dir.glob("bench.sqlite3*"):
                path.unlink()
    if len(arms) == 1:
        document = documents[arms[0]]
        document["meta"]["seconds"] = round(time.monotonic() - began, 1)
    else:
        document = sidebyside.assemble(documents, seconds=time.monotonic() - began)
    document["meta"]["machine"]["load_average_at_start"] = load_at_start
    json_path = run_dir / "results.json"
    json_path.write_text(json.dumps(document, indent=2, allow_nan=True) + "\n")
    shutil.copyfile(json_path, args.out / "latest.json")
    print()
    print(report.table(document) if len(arms) == 1 else sidebyside.table(document))
    print(f"\nJSON: {json_path}")
    if write_docs:
        written = (
            markdown.write_docs(document, args.docs_dir)
            if len(arms) == 1
            else [sidebyside.write_docs(document, args.docs_dir)]
        )
        for path in written:
            print(f"updated {path}")
    return 0


@dataclass(frozen=True, slots=True)
class Setting:
    """What every arm of a run shares."""

    args: argparse.Namespace
    config: BenchConfig
    phases: list[str]
    processes: Processes
    env: dict[str, str]
    upstreams: dict[str, Upstream]
    api_key: str
    loadgen: LoadGenerator


def measure_arm(arm: str, setting: Setting, redis: str | None, log: Log) -> dict[str, Any]:
    """Every phase against one server (fresh for this arm); stopped before the next arm."""
    args, config, processes = setting.args, setting.config, setting.processes
    upstreams, run_dir = setting.upstreams, processes.log_dir
    if arm == LITELLM:
        urls = {name: upstream.base_url for name, upstream in upstreams.items()}
        command: list[str] | None = litellm_command(args.litellm, urls, run_dir)
        arm_env: dict[str, str | None] = dict(LITELLM_ENV)
    else:
        command, arm_env = None, dict(setting.env)

    def start(label: str, cores: frozenset[int] | None = None, **extra: str) -> Server:
        return processes.server(
            arm,
            {**arm_env, **extra},
            f"{arm}-{label}",
            command=command,
            cores=cores,
            start_timeout=LITELLM_START_TIMEOUT if arm == LITELLM else START_TIMEOUT,
        )

    def restart_server() -> Server:
        processes.stop(run.server)
        fresh = start("fresh")
        log(f"fresh {arm} on port {fresh.port}")
        return fresh

    def start_workers(count: int) -> list[Server]:
        cpus = sorted(os.sched_getaffinity(0) | (processes.cores.server or set()))
        prefix = f"bench-{os.getpid()}-{time.monotonic_ns()}"
        servers = [
            start(
                f"worker{index}",
                frozenset({cpus[-1 - index % len(cpus)]}) if len(cpus) > 1 else None,
                REDIS_URL=redis or "",
                CHAT_REDIS_PREFIX=prefix,
            )
            for index in range(count)
        ]
        log(f"{count} {arm} workers sharing Redis on ports {[s.port for s in servers]}")
        return servers

    server = start("server")
    log(f"{arm} serving on port {server.port} (pid {server.pid})")
    run = Run(
        config,
        setting.loadgen,
        server,
        upstreams,
        setting.api_key,
        restart_server,
        log,
        start_workers=start_workers if redis and arm != LITELLM else None,
        stop=processes.stop,
        out_dir=run_dir,
        py_spy=args.py_spy,
    )
    warm_up(run)
    results: dict[str, Any] = {}
    for name in setting.phases:
        log(f"{arm}: phase {name}")
        results[name] = PHASES[name](run)
    processes.stop(run.server)
    return results


if __name__ == "__main__":
    sys.exit(main())
