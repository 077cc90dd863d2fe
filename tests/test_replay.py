"""A saved answer replayed after its log expired tells the same story as it did live."""

from __future__ import annotations

import pytest

from tests.asgi import AsgiClient, SseEvent
from tests.conftest import MakeModel
from tests.fake_upstream import Failure, Scenario
from tests.helpers import expire_log, finished_message

STREAM = "/api/v1/chat/stream"
TOKENS = ["Once", " upon", " a", " time ✨"]


def text_of(events: list[SseEvent]) -> str:
    return "".join(e.data.get("token", "") for e in events if e.event == "token")


async def live_answer(client: AsgiClient, stop_after_tokens: int | None) -> list[SseEvent]:
    """The answer's events as its own stream carried them, optionally stopped midway."""
    if stop_after_tokens is None:
        return (await client.post(STREAM, json={"message": "tell me"})).events()
    async with client.stream("POST", STREAM, json={"message": "tell me"}) as stream:
        while stream.text.count("event: token") < stop_after_tokens:
            await stream.next_chunk()
        message_id = stream.events()[0].data["message_id"]
        assert (await client.post(f"/api/v1/messages/{message_id}/stop")).status == 200
        await stream.read_all()
    return stream.events()


@pytest.mark.parametrize(
    ("scenario", "stop_after_tokens", "status"),
    [
        (Scenario(tokens=TOKENS, usage=(7, 4)), None, "complete"),
        (Scenario(tokens=TOKENS, finish_reason="length"), None, "complete"),
        (Scenario(tokens=TOKENS, hang_after=2), 2, "stopped"),
        (Scenario(tokens=TOKENS, cut_after=3), None, "interrupted"),
        (Scenario(tokens=TOKENS, error_after=2), None, "interrupted"),
        (Scenario(failures=[Failure(500)] * 5), None, "error"),
        (Scenario(failures=[Failure(401)]), None, "error"),
    ],
    ids=["complete", "length", "stopped", "cut", "error-after-text", "error", "bad-key"],
)
async def test_replay_of_a_saved_answer_equals_its_live_events(
    client: AsgiClient,
    make_model: MakeModel,
    scenario: Scenario,
    stop_after_tokens: int | None,
    status: str,
) -> None:
    await make_model(scenario)
    live = await live_answer(client, stop_after_tokens)
    message_id = live[0].data["message_id"]
    assert (await finished_message(message_id)).status == status
    await expire_log(message_id)

    replayed = (await client.get(f"/api/v1/messages/{message_id}/events")).events()
    # Condensed: the text comes as one token, and the other events are the live ones.
    expected_types = ["start", "token", "message"] if text_of(live) else ["start", "message"]
    assert [e.event for e in replayed] == [*expected_types, live[-1].event]
    assert [int(e.id) for e in replayed] == list(range(1, len(replayed) + 1))
    assert replayed[0].data == live[0].data
    assert text_of(replayed) == text_of(live)
    assert [(e.event, e.data) for e in replayed[-2:]] == [(e.event, e.data) for e in live[-2:]]

    # Resuming after any point gets the same ending, numbered on from there.
    after = len(live) - 2
    resumed = (await client.get(f"/api/v1/messages/{message_id}/events?after={after}")).events()
    assert [(int(e.id), e.event, e.data) for e in resumed] == [
        (after + 1, "message", live[-2].data),
        (after + 2, live[-1].event, live[-1].data),
    ]
