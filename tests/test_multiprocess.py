"""Two daphne workers sharing Redis and PostgreSQL: any worker serves any answer.

Self-contained: its own PostgreSQL database and Redis key prefix, set up with the real
management commands, checked through the HTTP API.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import psycopg
import pytest
import redis

from tests import services
from tests.fake_upstream import FakeUpstream, Scenario
from tests.helpers import eventually
from tests.live_server import PROJECT_DIR, LiveServer

TOKENS = [f"part{i} " for i in range(16)] + ["fin ✓"]


@dataclass
class Cluster:
    a: LiveServer
    b: LiveServer
    key: str
    env: dict[str, str]

    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.key}"}


def manage(env: dict[str, str], *args: str) -> str:
    result = subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=PROJECT_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


@pytest.fixture(scope="module")
def cluster_env() -> Iterator[dict[str, str]]:
    services.require("Redis", "PostgreSQL")

    name = f"chat_mp_{uuid.uuid4().hex[:10]}"
    admin_url = services.POSTGRES_URL.rsplit("/", 1)[0] + "/postgres"
    with psycopg.connect(admin_url, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    prefix = f"chat-mp-{uuid.uuid4().hex[:8]}"
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "chatsite.settings",
        "SECRET_KEY": "tests-only-not-secret",
        "DEBUG": "0",
        "ALLOWED_HOSTS": "127.0.0.1",
        "DATABASE_URL": services.POSTGRES_URL.rsplit("/", 1)[0] + f"/{name}",
        "REDIS_URL": services.REDIS_URL,
        "CHAT_REDIS_PREFIX": prefix,
        "CHAT_RATE_LIMIT_PER_MINUTE": "0",
        "CHAT_FLUSH_INTERVAL_SECONDS": "0.1",
        "CHAT_WORKER_HEARTBEAT_SECONDS": "0.3",
        "CHAT_WORKER_STALE_SECONDS": "1.5",
    }
    try:
        manage(env, "migrate", "--noinput")
        yield env
    finally:
        with psycopg.connect(admin_url, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        client = redis.Redis.from_url(services.REDIS_URL)
        keys = list(client.scan_iter(match=f"{prefix}:*"))
        if keys:
            client.delete(*keys)
        client.close()


@pytest.fixture
def cluster(cluster_env: dict[str, str], upstream: FakeUpstream) -> Iterator[Cluster]:
    key = manage(cluster_env, "create_api_key", f"user-{uuid.uuid4().hex[:6]}").split()[-1]
    a, b = LiveServer(extra_env=cluster_env), LiveServer(extra_env=cluster_env)
    try:
        yield Cluster(a, b, key, cluster_env)
    finally:
        a.stop()
        b.stop()


def use_scenario(cluster: Cluster, upstream: FakeUpstream, scenario: Scenario) -> str:
    scenario_id = upstream.add(scenario)
    manage(
        cluster.env,
        "configure_model",
        "shared",
        "--provider=openai",
        f"--base-url={upstream.url(scenario_id)}",
        "--upstream-model=fake",
        "--default",
    )
    return scenario_id


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(timeout=15) as client:
        yield client


def sse_events(text: str) -> list[dict[str, Any]]:
    events = []
    for block in text.split("\n\n"):
        lines = dict(line.split(": ", 1) for line in block.splitlines() if not line.startswith(":"))
        if "data" in lines:
            events.append({"id": int(lines["id"]), **json.loads(lines["data"])})
    return events


async def start_on(
    http: httpx.AsyncClient, server: LiveServer, cluster: Cluster, tokens_wanted: int
) -> tuple[list[dict[str, Any]], str]:
    """Start a resumable answer on `server`, read `tokens_wanted` tokens, hang up."""
    seen = ""
    async with http.stream(
        "POST",
        f"{server.url}/api/v1/chat/stream",
        json={"message": "go", "resumable": True},
        headers=cluster.headers(),
    ) as response:
        async for chunk in response.aiter_text():
            seen += chunk
            if seen.count("event: token") >= tokens_wanted and seen.endswith("\n\n"):
                break
    events = sse_events(seen)
    return events, events[0]["message_id"]


async def test_answer_started_on_one_worker_is_followed_on_the_other_to_the_exact_text(
    cluster: Cluster, upstream: FakeUpstream, http: httpx.AsyncClient
) -> None:
    use_scenario(cluster, upstream, Scenario(tokens=TOKENS, token_delay=0.03))
    first_part, message_id = await start_on(http, cluster.a, cluster, tokens_wanted=3)
    last_seen = first_part[-1]["id"]
    response = await http.get(
        f"{cluster.b.url}/api/v1/messages/{message_id}/events",
        headers={**cluster.headers(), "Last-Event-ID": str(last_seen)},
    )
    rest = sse_events(response.text)
    both = first_part + rest
    assert [e["id"] for e in both] == list(range(1, len(both) + 1))
    assert "".join(e.get("token", "") for e in both) == "".join(TOKENS)
    assert rest[-1]["type"] == "done"
    from_scratch = sse_events(
        (
            await http.get(
                f"{cluster.b.url}/api/v1/messages/{message_id}/events", headers=cluster.headers()
            )
        ).text
    )
    assert from_scratch == both


async def test_stop_sent_to_one_worker_cancels_the_upstream_of_the_other_within_a_second(
    cluster: Cluster, upstream: FakeUpstream, http: httpx.AsyncClient
) -> None:
    scenario_id = use_scenario(cluster, upstream, Scenario(tokens=TOKENS, hang_after=2))
    _events, message_id = await start_on(http, cluster.a, cluster, tokens_wanted=2)
    stop_sent = time.monotonic()
    response = await http.post(
        f"{cluster.b.url}/api/v1/messages/{message_id}/stop", headers=cluster.headers()
    )
    closed = await upstream.await_closed(scenario_id, timeout=1.0)
    assert closed.closed_at - stop_sent < 1.0
    body = response.json()
    assert body["stopped"] is True
    assert (body["message"]["status"], body["message"]["content"]) == ("stopped", "part0 part1 ")


async def test_deleting_the_conversation_on_one_worker_cancels_the_upstream_of_the_other(
    cluster: Cluster, upstream: FakeUpstream, http: httpx.AsyncClient
) -> None:
    scenario_id = use_scenario(cluster, upstream, Scenario(tokens=TOKENS, hang_after=2))
    events, _message_id = await start_on(http, cluster.a, cluster, tokens_wanted=2)
    delete_sent = time.monotonic()
    response = await http.delete(
        f"{cluster.b.url}/api/v1/conversations/{events[0]['conversation_id']}",
        headers=cluster.headers(),
    )
    assert response.status_code == 204
    closed = await upstream.await_closed(scenario_id, timeout=1.0)
    assert closed.closed_at - delete_sent < 1.0


async def test_killed_worker_leaves_its_answer_interrupted_with_the_saved_text(
    cluster: Cluster, upstream: FakeUpstream, http: httpx.AsyncClient
) -> None:
    use_scenario(cluster, upstream, Scenario(tokens=TOKENS, token_delay=0.15, hang_after=3))
    _events, message_id = await start_on(http, cluster.a, cluster, tokens_wanted=3)

    async def conversation_answer() -> dict[str, Any]:
        listing = (
            await http.get(f"{cluster.b.url}/api/v1/conversations", headers=cluster.headers())
        ).json()
        detail = (
            await http.get(
                f"{cluster.b.url}/api/v1/conversations/{listing['conversations'][0]['id']}",
                headers=cluster.headers(),
            )
        ).json()
        return next(m for m in detail["messages"] if m["id"] == message_id)

    async def checkpointed() -> dict[str, Any] | None:
        answer = await conversation_answer()
        return answer if answer["content"] == "part0 part1 part2 " else None

    await eventually(checkpointed, timeout=5)
    cluster.a.kill()

    # A follower on the surviving worker sees the answer end, not hang.
    followed = sse_events(
        (
            await http.get(
                f"{cluster.b.url}/api/v1/messages/{message_id}/events", headers=cluster.headers()
            )
        ).text
    )
    assert followed[-2]["type"] == "message" and followed[-2]["status"] == "interrupted"
    assert followed[-1]["type"] == "error" and followed[-1]["partial_content_saved"] is True
    final = await conversation_answer()
    assert (final["status"], final["content"]) == ("interrupted", "part0 part1 part2 ")
    assert final["error"]["code"] == "INTERNAL"
