"""Exporting selected conversations as JSON and CSV, streamed in batches."""

from __future__ import annotations

import csv
import io
import json
from typing import Any

import pytest
from asgiref.sync import sync_to_async
from django.contrib.auth.models import User
from django.test import AsyncClient
from django.urls import reverse

from chat.admin import exports
from chat.models import Conversation
from tests.admin_fixtures import conversation_with_answers, demo_model, make_reviewer

CONVERSATIONS = reverse("admin:chat_conversation_changelist")


@sync_to_async
def two_conversations_and_one_left_out() -> list[Conversation]:
    config = demo_model()
    alice = User.objects.create_user("alice")
    chosen = [
        conversation_with_answers(alice, config, "First chat"),
        conversation_with_answers(None, config, "Anonymous chat"),
    ]
    conversation_with_answers(alice, config, "Not selected")
    return chosen


async def export(action: str, conversations: list[Conversation]) -> tuple[Any, list[bytes]]:
    browser = AsyncClient()
    await browser.aforce_login(await sync_to_async(make_reviewer)())
    response = await browser.post(
        CONVERSATIONS, {"action": action, "_selected_action": [c.pk for c in conversations]}
    )
    assert response.status_code == 200
    assert response.streaming
    chunks = [chunk async for chunk in response.streaming_content]
    return response, chunks


async def test_json_export_holds_the_selected_transcripts_with_their_details(
    transactional_db: None,
) -> None:
    chosen = await two_conversations_and_one_left_out()
    response, chunks = await export("export_json", chosen)

    assert response["Content-Type"].startswith("application/json")
    assert response["Content-Disposition"].startswith('attachment; filename="conversations-')
    document = json.loads(b"".join(chunks))
    by_title = {c["title"]: c for c in document["conversations"]}
    assert set(by_title) == {"First chat", "Anonymous chat"}
    first = by_title["First chat"]
    assert (first["user"], first["anonymous"], first["model"]) == ("alice", False, "demo")
    assert by_title["Anonymous chat"]["user"] is None
    assert by_title["Anonymous chat"]["anonymous"] is True
    assert "anon-session-1" not in json.dumps(document)  # a session id is not for export
    roles = [m["role"] for m in first["messages"]]
    assert roles == ["user", "assistant", "user", "assistant"]
    question, answer, _hostile, failed = first["messages"]
    assert question == {
        "id": question["id"],
        "position": 0,
        "role": "user",
        "content": "Show me a table",
        "status": "complete",
        "created_at": question["created_at"],
    }
    assert answer["content"].startswith("| a | b |")
    assert {k: answer[k] for k in ("outcome", "finish_reason", "ttft_ms", "duration_ms")} == {
        "outcome": "complete",
        "finish_reason": "stop",
        "ttft_ms": 120,
        "duration_ms": 1120,
    }
    assert (answer["input_tokens"], answer["output_tokens"], answer["tokens_per_second"]) == (
        7,
        40,
        40.0,
    )
    assert (answer["upstream_request_id"], answer["model_config_version"]) == ("req-abc-123", 1)
    assert (answer["client_connected"], answer["reconnect_count"]) == (True, 0)
    assert (failed["outcome"], failed["error_code"]) == ("error", "RATE_LIMIT")
    assert failed["error_message"] == "The model provider is rate limiting requests."


async def test_csv_export_has_one_row_per_message_and_defuses_formulas(
    transactional_db: None,
) -> None:
    chosen = await two_conversations_and_one_left_out()
    response, chunks = await export("export_csv", chosen)

    assert response["Content-Type"].startswith("text/csv")
    text = b"".join(chunks).decode("utf-8-sig")
    rows = list(csv.DictReader(io.StringIO(text)))
    assert list(rows[0]) == exports.CSV_COLUMNS
    assert len(rows) == 8  # two conversations of four messages
    assert {r["conversation_title"] for r in rows} == {"First chat", "Anonymous chat"}
    assert {r["user"] for r in rows} == {"alice", "(anonymous)"}
    answer = next(r for r in rows if r["upstream_request_id"] == "req-abc-123")
    assert (answer["role"], answer["outcome"], answer["ttft_ms"], answer["tokens_per_second"]) == (
        "assistant",
        "complete",
        "120",
        "40.0",
    )
    # A spreadsheet would run a cell starting with '=' as a formula.
    hostile = next(r for r in rows if "HYPERLINK" in r["content"])
    assert hostile["content"] == '\'=HYPERLINK("http://evil")'


async def test_a_large_export_arrives_in_pieces_never_all_at_once(
    transactional_db: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(exports, "BATCH_SIZE", 2)

    @sync_to_async
    def five_conversations() -> list[Conversation]:
        config = demo_model()
        return [conversation_with_answers(None, config, f"Chat {n}") for n in range(5)]

    chosen = await five_conversations()
    _response, chunks = await export("export_json", chosen)
    # An opening, three batches (2 + 2 + 1 conversations) and a closing.
    assert len(chunks) == 5
    assert [chunk.count(b'"title"') for chunk in chunks] == [0, 2, 2, 1, 0]
    assert len(json.loads(b"".join(chunks))["conversations"]) == 5

    _response, csv_chunks = await export("export_csv", chosen)
    assert len(csv_chunks) == 4  # the header, then one piece per batch
