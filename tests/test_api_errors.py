"""Bad input: a clear JSON error with the right status, and never a half-written row."""

from __future__ import annotations

from typing import Any

import pytest
from asgiref.sync import sync_to_async
from django.test import override_settings

from chat.models import Conversation, Message
from tests.asgi import AsgiClient
from tests.conftest import MakeModel

CHAT = "/api/v1/chat"


async def row_counts() -> tuple[int, int]:
    return await Conversation.objects.acount(), await Message.objects.acount()


def assert_error(response: Any, status: int, code: str) -> dict[str, Any]:
    assert response.status == status, response.text
    assert response.headers["content-type"] == "application/json"
    error = response.json()["error"]
    assert error["code"] == code
    assert error["message"]
    return error


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        ("{not json", "valid JSON"),
        ("[1, 2]", "JSON object"),
        ("{}", "message is required"),
        ('{"message": ""}', "must not be empty"),
        ('{"message": "   \\n "}', "must not be empty"),
        ('{"message": 42}', "must be a string"),
        ('{"message": "hi", "conversation_id": "nope"}', "conversation_id"),
        ('{"message": "hi", "conversation_id": 7}', "conversation_id"),
        ('{"message": "hi", "stream": "yes"}', "stream must be true or false"),
        ('{"message": "hi", "model": ""}', "model must be"),
        ('{"message": "a\\u0000b"}', "NUL"),
        ('{"message": "lone \\ud800 surrogate"}', "Unicode"),
        (b"\xff\xfe", "valid JSON"),
    ],
)
async def test_malformed_requests_get_400_and_write_nothing(
    client: AsgiClient, make_model: MakeModel, body: str | bytes, fragment: str
) -> None:
    await make_model(provider="demo")
    for url in (CHAT, CHAT + "/stream"):
        response = await client.post(url, body=body, headers={"content-type": "application/json"})
        error = assert_error(response, 400, "BAD_REQUEST")
        assert fragment in error["message"]
    assert await row_counts() == (0, 0)


@override_settings(CHAT_MAX_MESSAGE_CHARS=100)
async def test_message_over_length_limit_is_refused(
    client: AsgiClient, make_model: MakeModel
) -> None:
    await make_model(provider="demo")
    response = await client.post(CHAT, json={"message": "x" * 101})
    error = assert_error(response, 400, "TOO_LARGE")
    assert "limit is 100" in error["message"]
    assert (await client.post(CHAT, json={"message": "x" * 100})).status == 200
    assert await Message.objects.filter(content="x" * 101).acount() == 0


@override_settings(DATA_UPLOAD_MAX_MEMORY_SIZE=1000)
async def test_oversized_body_gets_413(client: AsgiClient, make_model: MakeModel) -> None:
    await make_model(provider="demo")
    response = await client.post(CHAT, json={"message": "x" * 5000})
    assert_error(response, 413, "TOO_LARGE")
    assert await row_counts() == (0, 0)


async def test_missing_or_wrong_key_gets_401(
    application: Any, make_model: MakeModel, api_key: str
) -> None:
    await make_model(provider="demo")
    for headers in (
        {},
        {"authorization": "Bearer sk-chat-wrong"},
        {"authorization": f"Basic {api_key}"},
        {"authorization": "Bearer "},
    ):
        response = await AsgiClient(application).post(CHAT, json={"message": "hi"}, headers=headers)
        assert_error(response, 401, "AUTH")
        assert response.headers["www-authenticate"].startswith("Bearer")
    assert await row_counts() == (0, 0)


async def test_unknown_or_disabled_model_gets_404(
    client: AsgiClient, make_model: MakeModel
) -> None:
    await make_model(provider="demo", name="on")
    await make_model(provider="demo", name="off", enabled=False, default=False)
    for name in ("nope", "off"):
        response = await client.post(CHAT, json={"message": "hi", "model": name})
        assert_error(response, 404, "NOT_FOUND")
    assert await row_counts() == (0, 0)


async def test_no_enabled_model_gets_404(client: AsgiClient) -> None:
    assert_error(await client.post(CHAT, json={"message": "hi"}), 404, "NOT_FOUND")


async def test_another_users_conversation_is_indistinguishable_from_a_missing_one(
    client: AsgiClient, make_model: MakeModel, other_user: Any
) -> None:
    await make_model(provider="demo")
    theirs = await sync_to_async(Conversation.objects.create)(owner=other_user, title="private")
    missing = "00000000-0000-4000-8000-000000000000"
    responses = [
        await client.post(CHAT, json={"message": "hi", "conversation_id": str(cid)})
        for cid in (theirs.pk, missing)
    ]
    assert [r.status for r in responses] == [404, 404]
    assert responses[0].json() == responses[1].json()
    assert await Message.objects.acount() == 0


@override_settings(CHAT_RATE_LIMIT_PER_MINUTE=2)
async def test_rate_limit_gets_429_with_retry_after(
    client: AsgiClient, make_model: MakeModel
) -> None:
    from django.core.cache import cache

    await cache.aclear()
    await make_model(provider="demo")
    for _ in range(2):
        assert (await client.post(CHAT, json={"message": "hi"})).status == 200
    response = await client.post(CHAT, json={"message": "hi"})
    error = assert_error(response, 429, "RATE_LIMIT")
    assert 0 < error["retry_after"] <= 60
    assert int(response.headers["retry-after"]) >= 1
    assert await Message.objects.acount() == 4


async def test_wrong_method_gets_405_json(client: AsgiClient) -> None:
    response = await client.get(CHAT)
    assert_error(response, 405, "BAD_REQUEST")
    assert response.headers["allow"] == "POST"


async def test_unknown_api_path_gets_json_404(client: AsgiClient) -> None:
    assert_error(await client.get("/api/v1/nothing-here"), 404, "NOT_FOUND")
    assert_error(await client.get("/api/v1/conversations/not-a-uuid"), 404, "NOT_FOUND")


async def test_a_host_not_in_allowed_hosts_is_refused(client: AsgiClient) -> None:
    response = await client.get("/api/v1/models", headers={"host": "evil.example"})
    assert_error(response, 400, "BAD_REQUEST")
