"""When things go wrong: upstream errors, dropped networks, streams that cannot start."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Iterator

import pytest
from playwright.async_api import Page, Route, expect

from tests.browser.chat_page import (
    ChatPage,
    ask_for_the_long_answer,
    expect_stopped_for_real,
    long_answer,
)
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
    # Said once the stream is back, then the notice goes away.
    await expect(status).to_have_text("Reconnected")
    await expect(status).to_be_hidden()
    await chat.wait_finished()
    # It picked up where it left off: every word once, none missing, none doubled.
    await expect(chat.answer_body).to_have_text(FULL_TEXT)


async def test_stop_pressed_while_the_network_is_cut_lands_when_it_is_back(
    page: Page, proxy: CuttableProxy, make_model: MakeModel, upstream: FakeUpstream
) -> None:
    model = await make_model(long_answer())
    chat = ChatPage(page, proxy.url)
    await ask_for_the_long_answer(chat)

    proxy.cut()
    await expect(page.locator("#connection-status")).to_have_text("Connection lost. Reconnecting…")
    # The click cannot reach the server now; the page keeps it and says so.
    async with page.expect_event("requestfailed", lambda r: r.url.endswith("/stop")):
        await chat.stop_button.click()
    await expect(chat.stop_button).to_have_text("Stopping…", use_inner_text=True)
    await expect(chat.stop_button).to_be_disabled()
    await expect(chat.input).to_be_focused()

    proxy.restore()
    await expect_stopped_for_real(chat, upstream, model.scenario_id)
    await expect(page.locator("#announcer")).to_have_text("Answer stopped.")
    await expect(chat.send_button).to_be_visible()


async def a_finished_chat(page: Page, server: LiveServer, make_model: MakeModel) -> None:
    """Opens a conversation with one finished answer: its feed is open."""
    await make_model(Scenario(tokens=["Still ", "here."]))
    chat = ChatPage(page, server.url)
    await chat.open()
    await chat.send("Hello")
    await chat.wait_finished()


async def test_the_browser_going_offline_and_online_is_announced_at_once(
    page: Page, server: LiveServer, make_model: MakeModel
) -> None:
    await a_finished_chat(page, server, make_model)
    status = page.locator("#connection-status")

    # No stream has to fail first: the browser's own events drive the notice.
    await page.context.set_offline(True)
    await expect(status).to_have_text(re.compile("^You're offline"))
    await page.context.set_offline(False)
    await expect(status).to_have_text("Reconnected")
    await expect(status).to_be_hidden()


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


# Notes, in the page, when the conversation's feed has opened.
NOTE_FEED_OPENED = """
const Original = window.EventSource
window.EventSource = class extends Original {
  constructor(...args) {
    super(...args)
    this.addEventListener('open', () => { window.__feedOpened = true })
  }
}
"""


async def test_a_feed_that_opens_while_the_browser_is_offline_does_not_say_reconnected(
    page: Page, server: LiveServer, make_model: MakeModel
) -> None:
    await a_finished_chat(page, server, make_model)
    # The feed's connection is under way when the browser goes offline, and opens after.
    requested = asyncio.Event()
    release = asyncio.Event()

    async def hold(route: Route) -> None:
        requested.set()
        await release.wait()
        await route.fulfill(status=200, content_type="text/event-stream", body="retry: 60000\n\n")

    await page.route("**/events/", hold)
    await page.add_init_script(NOTE_FEED_OPENED)
    await page.reload()
    await asyncio.wait_for(requested.wait(), 10)
    await page.context.set_offline(True)
    status = page.locator("#connection-status")
    await expect(status).to_have_text(re.compile("^You're offline"))
    release.set()
    await page.wait_for_function("window.__feedOpened === true")

    await expect(status).to_have_text(re.compile("^You're offline"))
