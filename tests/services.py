"""The scale-out services (PostgreSQL, Redis on 127.0.0.1) that some tests need.

In CI (CI=true) they must be there: a missing service fails the run instead of skipping.
"""

from __future__ import annotations

import os
import socket
import sys

import pytest

REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
POSTGRES_URL = os.environ.get("TEST_POSTGRES_URL", "postgres://postgres@127.0.0.1:5432/test")
SERVICES = {"Redis": ("127.0.0.1", 6379), "PostgreSQL": ("127.0.0.1", 5432)}


def reachable(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=1):
            return True
    except OSError:
        return False


def require(*names: str) -> None:
    """Skip (locally) or fail (in CI) when a named service is not running."""
    missing = [name for name in names if not reachable(*SERVICES[name])]
    if not missing:
        return
    message = f"{', '.join(missing)} not running on 127.0.0.1"
    if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
        pytest.fail(f"{message}: CI must provide it.")
    pytest.skip(message)


if __name__ == "__main__":
    # `python -m tests.services`: exit 0 when every service is up (used by the Makefile).
    down = [name for name, address in SERVICES.items() if not reachable(*address)]
    if down:
        print(f"not running on 127.0.0.1: {', '.join(down)}")
    sys.exit(1 if down else 0)
