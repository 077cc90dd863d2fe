"""Test settings: the real settings, with a file database and fast retries/demo."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

os.environ.setdefault("SECRET_KEY", "tests-only-not-secret")

from chatsite.settings import *  # noqa: F403
from chatsite.settings import DATABASES

# A file, not SQLite's shared memory: generation tasks write from pool threads, and tests
# that start daphne processes point them at the same database.
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    DATABASES["default"]["TEST"] = {
        "NAME": str(Path(tempfile.gettempdir()) / f"chatsite-test-{os.getpid()}.sqlite3")
    }

ALLOWED_HOSTS = ["testserver", "127.0.0.1", "localhost"]
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
CHAT_DEMO_TOKEN_DELAY_SECONDS = 0.0
CHAT_RATE_LIMIT_PER_MINUTE = 0
LLM_RETRY_BACKOFF_SECONDS = 0.01
LLM_READ_TIMEOUT_SECONDS = 5.0
# In-process tests run many short event loops; the heartbeat/sweep tasks are tested
# directly and in the multi-process tests.
CHAT_BACKGROUND_TASKS = False
