"""Conversations across reloads, tabs and sessions; sending, editing, managing, copying."""

from __future__ import annotations

import asyncio
import re

from playwright.async_api import Browser, BrowserContext, Page, Route, expect

from chat.models import Conversation
from tests.browser.chat_page import CONVERSATION_URL, ChatPage
from tests.browser.conftest import DESKTOP, LiveServers
from tests.browser.screenshots import save_screenshot
from tests.conftest import MakeModel
from tests.fake_upstream import FakeUpstream, Scenario
from tests.live_server import LiveServer

WORDS = [f"w{i} " for i in range(30)]
FULL_TEXT = "".join(WORDS).strip()
CLASS_STREAMING = re.compile(r"\bis-streaming\b")


async def test_reloading_the_page_shows_the_same_conversation(
    page: Page, server: LiveServer, make_model: MakeModel
) -> None:
    await make_model(Scenario(tokens=["Some ", "*answer* ", "here."]))
    chat = ChatPage(page, server.url)
    await chat.open()
    await chat.send("Remember me")
    await chat.wait_finished()
    conversation_id = await chat.conversation_id()
    before = await page.locator("#messages").inner_text()

    await page.reload()
    await expect(page).to_have_url(f"{server.url}/c/{conversation_id}/")
    await expect(page.locator("#messages")).to_have_text(before, use_inner_text=True)
    await expect(chat.answer_body.locator("em")).to_have_text("answer")
    await expect(page.locator("#chat-title")).to_have_text("Remember me")
    await expect(page.locator("#sidebar-list [aria-current=page]")).to_have_text("Remember me")


async def test_reloading_mid_answer_picks_the_stream_up_again(
    page: Page, server: LiveServer, make_model: MakeModel
) -> None:
    await make_model(Scenario(tokens=WORDS, token_delay=0.05))
    chat = ChatPage(page, server.url)
    await chat.open()
    await chat.send("Keep going")
    await expect(chat.answer_body).to_contain_text("w4")
    await chat.conversation_id()

    await page.reload()
    await expect(chat.answer).to_have_class(CLASS_STREAMING)
    await chat.wait_finished()
    await expect(chat.answer_body).to_have_text(FULL_TEXT)


async def test_a_second_tab_shows_the_answer_live(
    context: BrowserContext, page: Page, server: LiveServer, make_model: MakeModel
) -> None:
    await make_model(Scenario(tokens=WORDS, token_delay=0.05))
    chat = ChatPage(page, server.url)
    await chat.open()
    await chat.send("First question")
    await chat.wait_finished()
    other = ChatPage(await context.new_page(), server.url)
    await other.open(f"/c/{await chat.conversation_id()}/")

    await chat.send("Second question")
    # The other tab sees the question and the answer arrive while it is written.
    await expect(other.page.locator(".message--user .message__text").last).to_have_text(
        "Second question"
    )
    await expect(other.answer).to_have_class(CLASS_STREAMING)
    await other.wait_finished()
    await expect(other.answer_body).to_have_text(FULL_TEXT)
    await expect(other.answers).to_have_count(2)


async def test_anonymous_chat_belongs_to_the_browser_session(
    browser: Browser, page: Page, server: LiveServer, make_model: MakeModel
) -> None:
    await make_model(Scenario(tokens=["Hi ", "stranger."]))
    chat = ChatPage(page, server.url)
    await chat.open()
    await expect(page.get_by_role("link", name="Sign in")).to_be_visible()
    await chat.send("No account needed")
    await chat.wait_finished()
    conversation_id = await chat.conversation_id()

    stranger = await browser.new_context(viewport=DESKTOP)
    other = await stranger.new_page()
    response = await other.goto(f"{server.url}/c/{conversation_id}/")
    assert response is not None and response.status == 404
    await other.goto(server.url)
    await expect(other.locator("#sidebar-list")).to_have_text("No chats yet.")
    await stranger.close()


async def test_anonymous_chat_is_refused_when_it_is_off_and_an_account_works(
    page: Page, live_servers: LiveServers, transactional_db: None, make_model: MakeModel
) -> None:
    await make_model(Scenario(tokens=["Welcome ", "aboard."]))
    server = live_servers.get(CHAT_ALLOW_ANONYMOUS="0")
    await page.goto(server.url)
    await expect(page).to_have_url(f"{server.url}/accounts/login/?next=/")
    await expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    refused = await page.evaluate(
        """async () => (await fetch('/api/v1/chat', {method: 'POST',
            headers: {'Content-Type': 'application/json'},
            body: JSON.stringify({message: 'let me in'})})).status"""
    )
    assert refused == 401
    assert await Conversation.objects.acount() == 0

    await page.get_by_role("link", name="Sign up").last.click()
    await page.get_by_label("Username").fill("newcomer")
    await page.get_by_label("Password", exact=True).fill("a-long-pass-phrase")
    await page.get_by_label("Password confirmation").fill("a-long-pass-phrase")
    await page.get_by_role("button", name="Create account").click()
    chat = ChatPage(page, server.url)
    await expect(chat.input).to_be_editable()
    await expect(page.locator(".account__name")).to_have_text("newcomer")
    await chat.send("Hello as a member")
    await chat.wait_finished()
    await expect(chat.answer_body).to_have_text("Welcome aboard.")

    await page.get_by_role("button", name="Sign out").click()
    await expect(page).to_have_url(f"{server.url}/accounts/login/?next=/")


async def test_enter_sends_shift_enter_adds_a_line_and_empty_text_cannot_be_sent(
    page: Page, server: LiveServer, make_model: MakeModel
) -> None:
    await make_model(Scenario(tokens=["Got ", "it."]))
    chat = ChatPage(page, server.url)
    await chat.open()
    await expect(chat.send_button).to_be_disabled()
    await chat.input.press("Enter")
    await chat.input.fill("   ")
    await expect(chat.send_button).to_be_disabled()
    await chat.input.press("Enter")
    await expect(page.locator("#messages .message")).to_have_count(0)

    await chat.input.fill("")
    await chat.input.type("line one")
    await chat.input.press("Shift+Enter")
    await chat.input.type("line two")
    await expect(chat.input).to_have_value("line one\nline two")
    await expect(chat.send_button).to_be_enabled()
    await chat.input.press("Enter")
    # The question appears at once, with its line break, and the box is empty again.
    question = page.locator(".message--user .message__text")
    await expect(question).to_have_text("line one\nline two")
    await expect(chat.input).to_have_value("")
    await chat.wait_finished()


async def test_everything_works_from_the_keyboard_alone(
    page: Page, server: LiveServer, make_model: MakeModel
) -> None:
    await make_model(Scenario(tokens=WORDS, token_delay=0.1))
    chat = ChatPage(page, server.url)
    await chat.open()
    # The composer has focus when the page opens.
    await expect(chat.input).to_be_focused()
    await page.keyboard.type("Typed only")
    await page.keyboard.press("Enter")
    await expect(chat.answer_body).to_contain_text("w2")
    # Tab moves from the box to Stop; Enter presses it.
    await page.keyboard.press("Tab")
    await page.keyboard.press("Tab")
    await expect(chat.stop_button).to_be_focused()
    await page.keyboard.press("Enter")
    await chat.wait_finished("stopped")


async def test_regenerate_replaces_the_last_answer(
    page: Page, server: LiveServer, make_model: MakeModel, upstream: FakeUpstream
) -> None:
    model = await make_model(Scenario(tokens=["First ", "try."]))
    chat = ChatPage(page, server.url)
    await chat.open()
    await chat.send("Answer twice")
    await chat.wait_finished()
    upstream.add(Scenario(tokens=["Second ", "try."]), model.scenario_id)
    await chat.answer.get_by_role("button", name="Regenerate").click()
    await chat.wait_finished()
    await expect(chat.answers).to_have_count(1)
    await expect(chat.answer_body).to_have_text("Second try.")
    await page.reload()
    await expect(chat.answer_body).to_have_text("Second try.")


async def test_editing_a_question_resends_it_and_replaces_what_came_after(
    page: Page, server: LiveServer, make_model: MakeModel
) -> None:
    await make_model(Scenario(echo=True))
    chat = ChatPage(page, server.url)
    await chat.open()
    await chat.send("first question")
    await chat.wait_finished()
    await chat.send("second question")
    await chat.wait_finished()
    await expect(chat.answers).to_have_count(2)

    first = page.locator(".message--user").first
    await first.get_by_role("link", name="Edit").click()
    editor = page.locator(".edit-form textarea")
    await expect(editor).to_be_focused()
    await editor.fill("better question")
    await editor.press("Enter")
    await chat.wait_finished()
    await expect(page.locator(".message--user .message__text")).to_have_text(["better question"])
    await expect(chat.answers).to_have_count(1)
    await expect(chat.answer_body).to_have_text("better question")
    await page.reload()
    await expect(page.locator(".message--user .message__text")).to_have_text(["better question"])
    await expect(page.locator("#chat-title")).to_have_text("better question")


async def test_rename_and_delete_with_a_confirmation_step(
    page: Page, server: LiveServer, make_model: MakeModel
) -> None:
    await make_model(Scenario(tokens=["ok"]))
    chat = ChatPage(page, server.url)
    await chat.open()
    await chat.send("Keep this one")
    await chat.wait_finished()
    await chat.conversation_id()
    await page.get_by_role("link", name="New chat").click()
    await expect(page).to_have_url(f"{server.url}/")
    await chat.send("Delete this one")
    await chat.wait_finished()
    await chat.conversation_id()
    entries = page.locator("#sidebar-list .conversation__link")
    # Newest first.
    await expect(entries).to_have_text(["Delete this one", "Keep this one"])

    await page.get_by_role("link", name="Rename “Keep this one”").click()
    title = page.get_by_label("New title")
    # Focused for the keyboard once htmx has wired the form in.
    await expect(title).to_be_focused()
    await title.fill("Kept, renamed")
    await title.press("Enter")
    await expect(entries).to_have_text(["Delete this one", "Kept, renamed"])

    await page.get_by_role("link", name="Delete “Delete this one”").click()
    await expect(page.get_by_text("and all its messages? This cannot be undone.")).to_be_visible()
    await page.get_by_role("link", name="Cancel").click()
    await expect(entries).to_have_text(["Delete this one", "Kept, renamed"])
    await page.get_by_role("link", name="Delete “Delete this one”").click()
    confirm = page.get_by_role("button", name="Delete", exact=True)
    await expect(confirm).to_be_focused()
    await confirm.press("Enter")
    # Deleting the open conversation goes to a new chat.
    await expect(page).to_have_url(f"{server.url}/")
    await expect(entries).to_have_text(["Kept, renamed"])
    assert await Conversation.objects.acount() == 1


async def test_copy_buttons_copy_a_message_and_a_code_block(
    context: BrowserContext, page: Page, server: LiveServer, make_model: MakeModel
) -> None:
    await context.grant_permissions(["clipboard-read", "clipboard-write"], origin=server.url)
    answer = "Run this:\n\n```sh\necho hello\n```\n"
    await make_model(Scenario(tokens=[answer]))
    chat = ChatPage(page, server.url)
    await chat.open()
    await chat.send("Give me a command")
    await chat.wait_finished()

    await chat.answer.get_by_role("button", name="Copy", exact=True).last.click()
    assert await page.evaluate("navigator.clipboard.readText()") == answer
    code_copy = chat.answer.locator(".code-block__copy")
    await code_copy.click()
    await expect(code_copy).to_have_text("Copied")
    assert await page.evaluate("navigator.clipboard.readText()") == "echo hello\n"


async def test_the_chat_works_at_phone_width(
    browser: Browser, server: LiveServer, make_model: MakeModel
) -> None:
    await make_model(Scenario(tokens=["Small ", "screens ", "too."]))
    phone = await browser.new_context(viewport={"width": 375, "height": 740}, has_touch=True)
    page = await phone.new_page()
    chat = ChatPage(page, server.url)
    await chat.open()
    sidebar = page.locator("#sidebar")
    await expect(sidebar).to_be_hidden()
    await chat.send("Hello from a phone")
    await chat.wait_finished()
    await expect(chat.answer_body).to_have_text("Small screens too.")
    # Nothing is wider than the screen, and the conversation list opens from the top bar.
    assert await page.evaluate("document.documentElement.scrollWidth") <= 375
    toggle = page.get_by_role("button", name="Conversations")
    await toggle.click()
    await expect(sidebar).to_be_visible()
    await expect(toggle).to_have_attribute("aria-expanded", "true")
    await expect(sidebar.locator(".conversation__link")).to_have_text(["Hello from a phone"])
    await page.keyboard.press("Escape")
    await expect(sidebar).to_be_hidden()
    await expect(toggle).to_have_attribute("aria-expanded", "false")
    await phone.close()


async def test_past_conversations_are_readable_without_javascript(
    browser: Browser, page: Page, server: LiveServer, make_model: MakeModel
) -> None:
    await make_model(Scenario(tokens=["# Title\n\n", "Some **bold** text."]))
    chat = ChatPage(page, server.url)
    await chat.open()
    await chat.send("Readable?")
    await chat.wait_finished()
    url = page.url
    cookies = await page.context.cookies()

    no_script = await browser.new_context(java_script_enabled=False, viewport=DESKTOP)
    await no_script.add_cookies(cookies)
    reader = await no_script.new_page()
    await reader.goto(url)
    await expect(reader.locator(".message--assistant h1")).to_have_text("Title")
    await expect(reader.locator(".message--assistant strong")).to_have_text("bold")
    await expect(reader.get_by_text("chatting needs it")).to_be_visible()
    await expect(reader.locator("#composer")).to_be_hidden()
    await no_script.close()


async def test_screenshots_of_the_chat_page_in_light_and_dark(
    page: Page, server: LiveServer, make_model: MakeModel
) -> None:
    # The offline demo model, as a new user sees it after `make run`.
    await make_model(provider="demo", name="demo", display_name="Demo (offline)")
    chat = ChatPage(page, server.url)
    await chat.open()
    await chat.send("What can you do?")
    await chat.wait_finished()
    await expect(page).to_have_url(CONVERSATION_URL)
    # Tall enough for the whole exchange; nothing focused, so no focus ring in the picture.
    await page.set_viewport_size({"width": 1280, "height": 900})
    await chat.input.blur()
    for scheme in ("light", "dark"):
        await page.emulate_media(color_scheme=scheme)
        await save_screenshot(page, f"screenshot-{scheme}.png")


# Installed before sending: the moment an answer is first shown finished, note whether the
# question above it already has the actions a reload would show (Copy, Edit).
QUESTION_AT_FINISH = """
() => {
  window.__questionAtFinish = null
  const messages = document.getElementById('messages')
  new MutationObserver(() => {
    const answer = messages.querySelector('.message--assistant[data-status=complete]')
    if (!answer || window.__questionAtFinish !== null) return
    const question = answer.previousElementSibling
    window.__questionAtFinish = question.querySelector('.message__actions').innerText
  }).observe(messages, { childList: true, subtree: true, attributes: true })
}
"""


async def test_the_question_has_its_actions_when_its_answer_shows_finished(
    page: Page, server: LiveServer, make_model: MakeModel
) -> None:
    await make_model(Scenario(tokens=["Quick ", "answer."]))
    # No feed: this tab's own stream carries the answer, and its question is the tab's own
    # copy until the server's replaces it. The server's messages come late.
    await page.route("**/events/", lambda route: route.abort("connectionrefused"))
    await page.route_web_socket("**/ws/conversations/**", lambda socket: socket.close())

    async def late(route: Route) -> None:
        await asyncio.sleep(0.5)
        await route.continue_()

    await page.route(re.compile(r"/m/[0-9a-f-]{36}/$"), late)
    chat = ChatPage(page, server.url)
    await chat.open()
    await page.evaluate(QUESTION_AT_FINISH)
    await chat.send("Am I editable?")
    await chat.wait_finished()

    # Never a finished answer under a question that cannot be edited yet.
    assert await page.evaluate("window.__questionAtFinish") == "Copy\nEdit"
    before = await page.locator("#messages").inner_text()
    await page.reload()
    await expect(page.locator("#messages")).to_have_text(before, use_inner_text=True)
