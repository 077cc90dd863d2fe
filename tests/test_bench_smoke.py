"""The benchmark harness end to end, in its smoke size: it runs, and produces numbers.

What the numbers are is not tested here (see docs/benchmarks.md): only that every phase
ran against both arms and reported a finite figure.
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from bench.servers import PROJECT_DIR


def smoke_run(out: Path, *args: str) -> tuple[str, dict[str, Any]]:
    """`python -m bench --smoke ARGS`; its output and its results document."""
    # Its own SQLite file and in-memory event log: nothing shared with other tests. The
    # scaling phase's workers use Redis (127.0.0.1:6379) under a prefix of their own.
    env = {
        name: value
        for name, value in os.environ.items()
        if name not in ("DATABASE_URL", "REDIS_URL", "DJANGO_SETTINGS_MODULE")
    }
    if os.environ.get("TEST_REDIS_URL"):
        env["BENCH_REDIS_URL"] = os.environ["TEST_REDIS_URL"]
    done = subprocess.run(
        [sys.executable, "-m", "bench", "--smoke", "--no-docs", "--out", str(out), *args],
        cwd=PROJECT_DIR,
        env=env,
        capture_output=True,
        text=True,
        # A guard against a hung run, not a speed test: a loaded machine takes minutes.
        timeout=400,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout, json.loads((out / "latest.json").read_text())


def test_smoke_run_reports_every_figure(tmp_path: Path) -> None:
    output, document = smoke_run(tmp_path)
    assert "added / value" in output  # the table
    phases = {"latency", "cpu", "throughput", "memory", "capacity", "rate", "scaling"}
    assert phases <= document.keys()
    figures = document["figures"]
    assert len(figures) >= 10
    for figure in figures:
        assert isinstance(figure["value"], int | float), figure
        assert math.isfinite(figure["value"]), figure
    for level in document["latency"]["levels"]:
        assert level["direct"]["ok"] > 0 and level["relay"]["ok"] > 0
    assert document["rate"]["levels"][0]["relay"]["started"] > 0


def test_smoke_run_measures_each_server_side_by_side(tmp_path: Path) -> None:
    output, document = smoke_run(tmp_path, "--arms", "uvicorn,granian", "--phases", "latency")
    assert "ours, granian" in output  # the side-by-side table
    assert list(document["arms"]) == ["uvicorn", "granian"]
    for arm in document["arms"].values():
        for level in arm["latency"]["levels"]:
            assert level["relay"]["ok"] > 0 and level["relay"]["errors"] == 0
