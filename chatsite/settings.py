"""Settings for chatsite, read from the environment (documented in README.md)."""

from __future__ import annotations

import os
import secrets
from pathlib import Path
from typing import Any

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent


def env_bool(name: str, default: bool) -> bool:
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def env_int(name: str, default: int) -> int:
    value = os.environ.get(name)
    return int(value) if value else default


def env_float(name: str, default: float) -> float:
    value = os.environ.get(name)
    return float(value) if value else default


DEBUG = env_bool("DEBUG", False)


def local_secret_key(path: Path) -> str:
    """A random key made once for this checkout, so a bare machine needs no setup.

    Workers on several machines must share SECRET_KEY from the environment instead.
    """
    try:
        with os.fdopen(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "w") as f:
            f.write(secrets.token_urlsafe(50))
    except FileExistsError:
        pass
    key = path.read_text().strip()
    if not key:
        raise ImproperlyConfigured(f"{path} is empty: delete it or set SECRET_KEY.")
    return key


SECRET_KEY = os.environ.get("SECRET_KEY") or local_secret_key(BASE_DIR / ".secret_key")

ALLOWED_HOSTS = [h.strip() for h in os.environ.get("ALLOWED_HOSTS", "").split(",") if h.strip()]
if DEBUG and not ALLOWED_HOSTS:
    ALLOWED_HOSTS = ["127.0.0.1", "localhost", "[::1]"]
CSRF_TRUSTED_ORIGINS = [
    o.strip() for o in os.environ.get("CSRF_TRUSTED_ORIGINS", "").split(",") if o.strip()
]
# Behind nginx terminating TLS: trust its X-Forwarded-Proto and keep cookies HTTPS-only.
if env_bool("BEHIND_HTTPS_PROXY", False):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True

INSTALLED_APPS = [
    "daphne",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "channels",
    "django_htmx",
    "chat",
]

# No GZipMiddleware: compressing an event stream buffers it (see docs/deploy.md).
MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
]

ROOT_URLCONF = "chatsite.urls"
ASGI_APPLICATION = "chatsite.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]


def database_from_url(url: str) -> dict[str, Any]:
    """Parse DATABASE_URL and add the options each backend needs for concurrent streams."""
    config: dict[str, Any] = dict(dj_database_url.parse(url))
    options = dict(config.get("OPTIONS") or {})
    if config["ENGINE"] == "django.db.backends.sqlite3":
        # WAL lets readers run beside the writer; IMMEDIATE takes the write lock when a
        # transaction starts, so two streams never deadlock upgrading a read lock
        # ("database is locked"); the busy timeout makes a writer wait instead of failing.
        options.setdefault(
            "init_command",
            "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA busy_timeout=20000;",
        )
        options.setdefault("transaction_mode", "IMMEDIATE")
        options.setdefault("timeout", 20)
        # Keep connections: opening one per call cost ~4 ms (and closing the last one
        # checkpoints and deletes the WAL file each time).
        config["CONN_MAX_AGE"] = None
    elif config["ENGINE"] == "django.db.backends.postgresql":
        # psycopg 3's pool: a streaming worker opens and closes connections per helper call.
        options.setdefault(
            "pool", {"min_size": 2, "max_size": env_int("DATABASE_POOL_MAX", 20), "timeout": 10}
        )
        config["CONN_MAX_AGE"] = 0
    config["OPTIONS"] = options
    return config


DATABASES = {
    "default": database_from_url(
        os.environ.get("DATABASE_URL") or f"sqlite:///{BASE_DIR / 'db.sqlite3'}"
    )
}

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = BASE_DIR / "staticfiles"

LOGIN_URL = "/accounts/login/"
LOGIN_REDIRECT_URL = "/"
LOGOUT_REDIRECT_URL = "/"

REDIS_URL = os.environ.get("REDIS_URL", "")
# Prefix of every Redis key the site writes (event logs, control, cache, channel layer).
CHAT_REDIS_PREFIX = os.environ.get("CHAT_REDIS_PREFIX", "chat")
REDIS_MAX_CONNECTIONS = env_int("REDIS_MAX_CONNECTIONS", 1000)

if REDIS_URL:
    CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.core.RedisChannelLayer",
            "CONFIG": {"hosts": [REDIS_URL], "prefix": f"{CHAT_REDIS_PREFIX}:asgi"},
        }
    }
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": REDIS_URL,
            "KEY_PREFIX": f"{CHAT_REDIS_PREFIX}:cache",
        }
    }
else:
    CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "loggers": {
        "chat": {"handlers": ["console"], "level": os.environ.get("CHAT_LOG_LEVEL", "INFO")},
        # httpx logs every upstream request at INFO: a line per answer is noise at scale.
        "httpx": {"handlers": ["console"], "level": "WARNING", "propagate": False},
    },
}

# --- Chat behaviour -----------------------------------------------------------------------
# The longest user message accepted, in characters.
CHAT_MAX_MESSAGE_CHARS = env_int("CHAT_MAX_MESSAGE_CHARS", 32_000)
# Requests to the chat endpoints per user per minute; 0 turns the limit off.
CHAT_RATE_LIMIT_PER_MINUTE = env_int("CHAT_RATE_LIMIT_PER_MINUTE", 60)
# Seconds between `: ping` comments on an idle event stream.
CHAT_HEARTBEAT_SECONDS = env_float("CHAT_HEARTBEAT_SECONDS", 15.0)
# Seconds between flushes of a streaming answer's partial text to the database.
CHAT_FLUSH_INTERVAL_SECONDS = env_float("CHAT_FLUSH_INTERVAL_SECONDS", 2.0)
# Upper bound on one generation, first byte to last.
CHAT_GENERATION_TIMEOUT_SECONDS = env_float("CHAT_GENERATION_TIMEOUT_SECONDS", 600.0)
# Seconds between tokens of the offline demo model.
CHAT_DEMO_TOKEN_DELAY_SECONDS = env_float("CHAT_DEMO_TOKEN_DELAY_SECONDS", 0.03)

# --- MCP servers (tools from outside; docs/mcp.md) ----------------------------------------
# Characters of a tool's output kept for the model (a server's own setting overrides it).
CHAT_MCP_MAX_OUTPUT_CHARS = env_int("CHAT_MCP_MAX_OUTPUT_CHARS", 20_000)
# Seconds to connect to a server and open a session (each call has its server's timeout).
CHAT_MCP_CONNECT_TIMEOUT_SECONDS = env_float("CHAT_MCP_CONNECT_TIMEOUT_SECONDS", 10.0)

# --- Upstream HTTP ------------------------------------------------------------------------
LLM_CONNECT_TIMEOUT_SECONDS = env_float("LLM_CONNECT_TIMEOUT_SECONDS", 10.0)
# The longest silence allowed between two chunks of an upstream stream.
LLM_READ_TIMEOUT_SECONDS = env_float("LLM_READ_TIMEOUT_SECONDS", 60.0)
LLM_MAX_CONNECTIONS = env_int("LLM_MAX_CONNECTIONS", 4096)
# Retries of connect errors, 429 and 5xx before the first token, with exponential backoff.
LLM_MAX_RETRIES = env_int("LLM_MAX_RETRIES", 2)
LLM_RETRY_BACKOFF_SECONDS = env_float("LLM_RETRY_BACKOFF_SECONDS", 0.5)
# A Retry-After longer than this is not waited out: the error goes to the client instead.
LLM_RETRY_MAX_WAIT_SECONDS = env_float("LLM_RETRY_MAX_WAIT_SECONDS", 20.0)

# --- Event log ------------------------------------------------------------------------------
# How long a finished generation's events stay available for resume and late subscribers.
CHAT_EVENT_LOG_TTL_SECONDS = env_float("CHAT_EVENT_LOG_TTL_SECONDS", 300.0)
# At most this many finished logs are kept in memory (the oldest go first).
CHAT_EVENT_LOG_MAX_FINISHED = env_int("CHAT_EVENT_LOG_MAX_FINISHED", 1000)

# Chat without an account; anonymous conversations belong to the browser session.
CHAT_ALLOW_ANONYMOUS = env_bool("CHAT_ALLOW_ANONYMOUS", DEBUG)

# --- Workers ----------------------------------------------------------------------------------
# Each worker records a heartbeat this often; an answer whose worker has been silent for
# CHAT_WORKER_STALE_SECONDS is finalised as interrupted by another worker.
CHAT_WORKER_HEARTBEAT_SECONDS = env_float("CHAT_WORKER_HEARTBEAT_SECONDS", 5.0)
CHAT_WORKER_STALE_SECONDS = env_float("CHAT_WORKER_STALE_SECONDS", 30.0)
# Heartbeat, dead-worker sweep and the control listener (off in in-process tests).
CHAT_BACKGROUND_TASKS = env_bool("CHAT_BACKGROUND_TASKS", True)
