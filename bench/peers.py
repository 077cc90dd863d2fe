"""The peer arm: LiteLLM's proxy, the gateway people would deploy instead of this project.

`make bench-peers` installs it into its own venv (bench/peers-requirements.txt) and
passes its `litellm` executable to `python -m bench --peers --litellm PATH`. It relays the
same fake upstreams as our models, one worker, pinned to the server's core like ours.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

LITELLM = "litellm"
MASTER_KEY = "sk-bench-not-secret"
# The proxy imports for ~20 s on an idle machine of this kind, over a minute on a busy one.
LITELLM_START_TIMEOUT = 300.0


def litellm_command(executable: str, upstreams: dict[str, str], run_dir: Path) -> list[str]:
    """The proxy with one model `bench-<name>` per upstream URL; `{port}` left to fill."""
    config = {
        "model_list": [
            {
                "model_name": f"bench-{name}",
                "litellm_params": {"model": "openai/bench", "api_base": url, "api_key": "bench"},
            }
            for name, url in upstreams.items()
        ],
        # Authentication on, as in any deployment; no database, no callbacks.
        "general_settings": {"master_key": MASTER_KEY},
        "litellm_settings": {"telemetry": False},
    }
    config_path = run_dir / "litellm-config.yaml"  # JSON is YAML
    config_path.write_text(json.dumps(config, indent=2))
    # uvicorn's access log off, as it is for ours.
    logging_path = run_dir / "litellm-logging.json"
    logging_path.write_text(
        json.dumps(
            {
                "version": 1,
                "disable_existing_loggers": False,
                "loggers": {"uvicorn.access": {"level": "WARNING"}},
            }
        )
    )
    return [
        executable,
        "--config",
        str(config_path),
        "--host",
        "127.0.0.1",
        "--port",
        "{port}",
        "--num_workers",
        "1",
        "--log_config",
        str(logging_path),
    ]


# The proxy must start offline (no model-cost map download) and leave our settings alone.
LITELLM_ENV: dict[str, str | None] = {
    "LITELLM_LOCAL_MODEL_COST_MAP": "True",
    "LITELLM_LOG": "ERROR",
    "DATABASE_URL": None,
    "REDIS_URL": None,
    "DJANGO_SETTINGS_MODULE": None,
}


def litellm_target(upstream: str, port: int, prompt: str, *, stream: bool) -> dict[str, Any]:
    """An OpenAI chat completion through the proxy, read like the direct arm's."""
    body: dict[str, Any] = {
        "model": f"bench-{upstream}",
        "messages": [{"role": "user", "content": prompt}],
        "max_tokens": 100_000,
        "stream": stream,
    }
    return {
        "host": "127.0.0.1",
        "port": port,
        "path": "/v1/chat/completions",
        "headers": {"Authorization": f"Bearer {MASTER_KEY}"},
        "body": body,
        # The proxy opens with an empty-content chunk; the fake upstream's tokens are "tokN ".
        "token_marker": '"content":"tok',
        "end_marker": "[DONE]" if stream else '"finish_reason":"stop"',
        "error_marker": '{"error":',
    }
