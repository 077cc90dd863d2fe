"""When things go wrong: upstream errors, dropped networks, streams that cannot start."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from playwright.async_api import Page, Route, expect

from tests.browser.chat_page import ChatPage
from tests.browser.proxy import CuttableProxy
from tests.conftest import MakeModel
from tests.fake_upstream import FakeUpstream, Scenario
from tests.live_server import LiveServer

WORDS = [f"w{i} " for i in range(40)]
FULL_TEXT = "".join(WORDS).strip()


async def test_an_upstream_error_shows_in_the_bubble_and_retry_then_succeeds(
    page: Page, server: LiveServer, make_model: MakeModel, upstream: FakeUpstream
) -> None:
    failing = Scenario(tokens=["Partial ", "answer ", "then ", "boom"], error_after=2)
    model = await make_model(failing)
    chat = ChatPage(page, server.url)
    await chat.open()
    await chat.send("Try something")

    error = chat.answer.locator(".message__error")
    await expect(error).to_contain_text("The model's provider returned an error.")
    await expect(error).to_contain_text("failed mid-answer")
    # What arrived before the failure stays in the same bubble.
    await expect(chat.answer_body).to_have_text("Partial answer")
    await chat.wait_finished("interrupted")

    # The provider recovers; Retry asks again and this time the answer completes.
    upstream.add(Scenario(tokens=["A ", "whole ", "answer."]), model.scenario_id)
    await error.get_by_role("button", name="Retry").click()
    await chat.wait_finished()
    await expect(chat.answer_body).to_have_text("A whole answer.")
    await expect(chat.answers).to_have_count(1)
    await expect(page.locator(".message__error")).to_have_count(0)


@pytest.fixture
def proxy(server: LiveServer) -> Iterator[CuttableProxy]:
    with CuttableProxy(server.port) as proxy:
        yield proxy


async def test_a_network_drop_mid_answer_is_announced_and_the_answer_resumes(
    page: Page, proxy: CuttableProxy, make_model: MakeModel
) -> None:
    await make_model(Scenario(tokens=WORDS, token_delay=0.05))
    chat = ChatPage(page, proxy.url)
    await chat.open()
    await chat.send("Keep talking")
    await expect(chat.answer_body).to_contain_text("w5")

    proxy.cut()
    status = page.locator("#connection-status")
    await expect(status).to_have_text("Connection lost. Reconnecting…")
    proxy.restore()
    await expect(status).to_be_hidden()
    await chat.wait_finished()
    # It picked up where it left off: every word once, none missing, none doubled.
    await expect(chat.answer_body).to_have_text(FULL_TEXT)


async def test_the_answer_still_arrives_when_streaming_cannot_be_established(
    page: Page, server: LiveServer, make_model: MakeModel
) -> None:
    await make_model(Scenario(tokens=["Plain ", "**but** ", "rendered."]))

    async def refuse(route: Route) -> None:
        await route.abort("connectionrefused")

    await page.route("**/api/v1/chat/stream", refuse)
    chat = ChatPage(page, server.url)
    await chat.open()
    await chat.send("No streaming today")
    await chat.wait_finished()
    await expect(chat.answer_body.locator("strong")).to_have_text("but")
    await expect(chat.answer_body).to_have_text("Plain but rendered.")
    await expect(page.locator(".message--user .message__text")).to_have_text("No streaming today")
    await chat.conversation_id()


async def test_the_websocket_carries_the_answer_when_event_source_cannot_connect(
    page: Page, server: LiveServer, make_model: MakeModel
) -> None:
    await make_model(Scenario(tokens=[*WORDS[:20], "**done**"], token_delay=0.05))
    await page.route("**/events/", lambda route: route.abort("connectionrefused"))
    sockets: list[str] = []
    page.on("websocket", lambda socket: sockets.append(socket.url))
    chat = ChatPage(page, server.url)
    await chat.open()
    await chat.send("Over a socket")
    # Shown as it streams (plain text), then as the server renders the saved answer.
    await expect(chat.answer_body).to_contain_text("w3")
    await chat.wait_finished()
    await expect(chat.answer_body.locator("strong")).to_have_text("done")
    assert any("/ws/conversations/" in url for url in sockets)


async def test_the_sending_tabs_own_stream_shows_the_answer_when_no_feed_connects(
    page: Page, server: LiveServer, make_model: MakeModel
) -> None:
    await make_model(Scenario(tokens=[*WORDS[:20], "**done**"], token_delay=0.05))
    await page.route("**/events/", lambda route: route.abort("connectionrefused"))
    await page.route_web_socket("**/ws/conversations/**", lambda socket: socket.close())
    chat = ChatPage(page, server.url)
    await chat.open()
    await chat.send("Neither feed")
    await expect(chat.answer.locator(".md-plain")).to_contain_text("w3")
    await chat.wait_finished()
    await expect(chat.answer_body.locator("strong")).to_have_text("done")
