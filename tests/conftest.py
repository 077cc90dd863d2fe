from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from typing import Any

import pytest
from asgiref.sync import sync_to_async
from channels.layers import channel_layers
from django.contrib.auth.models import User
from django.db import connections

from chat.engine import runtime
from chat.eventlog import event_log
from chat.models import ApiKey, ModelConfig
from chat.providers.http import close_http_client
from chat.redis import close_redis_client
from tests.asgi import AsgiClient
from tests.fake_upstream import FakeUpstream, Scenario


@pytest.fixture(scope="session", autouse=True)
def close_database_pools(django_db_setup: None, django_db_blocker: Any) -> Iterator[None]:
    """PostgreSQL: release the psycopg pool before the test database is dropped."""
    yield
    with django_db_blocker.unblock():
        connections.close_all()
        for connection in connections.all():
            if getattr(connection, "pool", None) is not None:
                connection.close_pool()


@pytest.fixture(scope="session")
def upstream() -> Iterator[FakeUpstream]:
    with FakeUpstream() as server:
        yield server


@pytest.fixture
def application() -> Any:
    from chatsite.asgi import application

    return application


@pytest.fixture
def user(transactional_db: None) -> User:
    return User.objects.create_user("alice", password="alice-password")


@pytest.fixture
def other_user(transactional_db: None) -> User:
    return User.objects.create_user("mallory", password="mallory-password")


@pytest.fixture
def api_key(user: User) -> str:
    return ApiKey.issue(user)[1]


async def settle_generations() -> None:
    """Let this test's generations finish, so none writes into the next test's database."""
    tasks = [g.task for g in list(runtime._running.values()) if g.task is not None]
    if tasks:
        _done, pending = await asyncio.wait(tasks, timeout=10)
        for task in pending:
            task.cancel()
        await asyncio.gather(*pending, return_exceptions=True)
    # The test's own async ORM calls ran on asgiref's shared thread: give its connection
    # back (a PostgreSQL test database cannot be dropped while a session holds it).
    await sync_to_async(connections.close_all)()
    await close_http_client()
    await close_redis_client()
    event_log.cache_clear()
    # In-memory channel layers hold queues bound to this test's event loop.
    channel_layers.backends.clear()


@pytest.fixture
async def cookie(user: User) -> AsyncIterator[str]:
    """The signed-in `user`'s session cookie, as a WebSocket request sends it."""
    from tests.helpers import browser_cookies

    cookies = await sync_to_async(browser_cookies)(user)
    yield f"sessionid={cookies['sessionid']}"
    await settle_generations()


@pytest.fixture
async def client(application: Any, api_key: str) -> AsyncIterator[AsgiClient]:
    yield AsgiClient(application, headers={"authorization": f"Bearer {api_key}"})
    await settle_generations()


@pytest.fixture
async def anonymous_client(application: Any, transactional_db: None) -> AsyncIterator[AsgiClient]:
    yield AsgiClient(application)
    await settle_generations()


MakeModel = Callable[..., Awaitable[ModelConfig]]


@pytest.fixture
def make_model(transactional_db: None, upstream: FakeUpstream) -> MakeModel:
    """Create a ModelConfig; a network provider points at a new fake-upstream scenario.

    The scenario id is on the returned config as `scenario_id`.
    """

    async def make(
        scenario: Scenario | None = None,
        *,
        provider: str = "openai",
        name: str | None = None,
        default: bool = True,
        **fields: Any,
    ) -> ModelConfig:
        scenario_id = ""
        base_url = ""
        if provider != "demo":
            scenario_id = upstream.add(scenario or Scenario())
            base_url = upstream.url(scenario_id)
        config_name = name or f"{provider}-{scenario_id[:8] or 'model'}"
        config = await sync_to_async(ModelConfig.objects.create)(
            name=config_name,
            display_name=fields.pop("display_name", config_name),
            provider=provider,
            base_url=base_url,
            upstream_model=fields.pop("upstream_model", "fake-model"),
            is_default=default,
            **fields,
        )
        config.scenario_id = scenario_id  # type: ignore[attr-defined]
        return config

    return make
