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

from bench.servers import PROJECT_DIR


def test_smoke_run_reports_every_figure(tmp_path: Path) -> None:
    # Its own SQLite file and in-memory event log: nothing shared with other tests.
    env = {
        name: value
        for name, value in os.environ.items()
        if name not in ("DATABASE_URL", "REDIS_URL", "DJANGO_SETTINGS_MODULE")
    }
    done = subprocess.run(
        [sys.executable, "-m", "bench", "--smoke", "--no-docs", "--out", str(tmp_path)],
        cwd=PROJECT_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "added / value" in done.stdout  # the table
    document = json.loads((tmp_path / "latest.json").read_text())
    assert {"latency", "cpu", "throughput", "memory", "capacity"} <= document.keys()
    figures = document["figures"]
    assert len(figures) >= 10
    for figure in figures:
        assert isinstance(figure["value"], int | float), figure
        assert math.isfinite(figure["value"]), figure
    for level in document["latency"]["levels"]:
        assert level["direct"]["ok"] > 0 and level["relay"]["ok"] > 0
