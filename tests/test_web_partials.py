"""Renaming, deleting (after confirming) and the pieces htmx and chat.js swap in."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import User
from django.test import Client

from chat.models import Conversation, Message, Role, Status
from tests.test_web_pages import add_message, conversation_of

# Deleting is an async view (see test_web_pages): these tests commit for real.
pytestmark = pytest.mark.django_db(transaction=True)

HTMX = {"HTTP_HX_REQUEST": "true"}


@pytest.fixture
def alice() -> User:
    return User.objects.create_user("alice", password="alice-password")


@pytest.fixture
def browser(alice: User) -> Client:
    browser = Client()
    browser.force_login(alice)
    return browser


@pytest.fixture
def conversation(alice: User) -> Conversation:
    conversation = conversation_of(alice, "Original title")
    add_message(conversation, Role.USER, "Question?")
    add_message(conversation, Role.ASSISTANT, "**Answer.**")
    return conversation


def on_page(conversation: Conversation) -> dict[str, str]:
    """htmx headers of a request made from the conversation's own page."""
    return {**HTMX, "HTTP_HX_CURRENT_URL": f"http://testserver/c/{conversation.pk}/"}


def test_rename_swaps_in_a_form_then_the_renamed_entry_and_title(
    browser: Client, conversation: Conversation
) -> None:
    form = browser.get(f"/c/{conversation.pk}/rename/", **HTMX).content.decode()
    assert 'name="title" value="Original title"' in form
    assert "<html" not in form
    response = browser.post(
        f"/c/{conversation.pk}/rename/", {"title": "  Better   title "}, **on_page(conversation)
    )
    html = response.content.decode()
    assert ">Better title</a>" in html
    # On the conversation's own page the heading changes too (an out-of-band swap).
    assert '<h1 id="chat-title" class="chat__title" hx-swap-oob="true">Better title</h1>' in html
    conversation.refresh_from_db()
    assert conversation.title == "Better title"


def test_rename_without_javascript_is_a_page_and_a_redirect(
    browser: Client, conversation: Conversation
) -> None:
    page = browser.get(f"/c/{conversation.pk}/rename/").content.decode()
    assert "<h1>Rename chat</h1>" in page
    response = browser.post(f"/c/{conversation.pk}/rename/", {"title": "Plain"})
    assert response.status_code == 302
    assert response["Location"] == f"/c/{conversation.pk}/"


def test_an_empty_title_is_refused_with_a_reason(
    browser: Client, conversation: Conversation
) -> None:
    html = browser.post(f"/c/{conversation.pk}/rename/", {"title": "  "}, **HTMX).content.decode()
    assert "A title must not be empty." in html
    conversation.refresh_from_db()
    assert conversation.title == "Original title"


def test_delete_asks_first_and_deleting_removes_the_conversation(
    browser: Client, conversation: Conversation
) -> None:
    confirm = browser.get(f"/c/{conversation.pk}/delete/", **HTMX).content.decode()
    assert "Delete “Original title” and all its messages?" in confirm
    assert Conversation.objects.filter(pk=conversation.pk).exists()

    response = browser.post(f"/c/{conversation.pk}/delete/confirmed/", **on_page(conversation))
    # Deleted from its own page: htmx is sent to a new chat.
    assert response["HX-Redirect"] == "/"
    assert not Conversation.objects.filter(pk=conversation.pk).exists()
    assert not Message.objects.filter(conversation_id=conversation.pk).exists()


def test_deleting_another_conversation_from_the_sidebar_just_removes_its_entry(
    browser: Client, alice: User, conversation: Conversation
) -> None:
    other = conversation_of(alice, "Other")
    response = browser.post(f"/c/{other.pk}/delete/confirmed/", **on_page(conversation))
    assert response.status_code == 200
    assert response.content == b""
    assert "HX-Redirect" not in response


def test_delete_without_javascript_is_a_confirmation_page_and_a_form(
    browser: Client, conversation: Conversation
) -> None:
    page = browser.get(f"/c/{conversation.pk}/delete/").content.decode()
    assert "<h1>Delete chat</h1>" in page
    assert f'action="/c/{conversation.pk}/delete/confirmed/"' in page
    response = browser.post(f"/c/{conversation.pk}/delete/confirmed/")
    assert response.status_code == 302
    assert response["Location"] == "/"
    assert not Conversation.objects.filter(pk=conversation.pk).exists()


def test_delete_needs_a_post(browser: Client, conversation: Conversation) -> None:
    assert browser.get(f"/c/{conversation.pk}/delete/confirmed/").status_code == 405
    assert Conversation.objects.filter(pk=conversation.pk).exists()


def test_a_message_renders_alone_as_it_does_in_the_page(
    browser: Client, conversation: Conversation
) -> None:
    answer = conversation.messages.get(role=Role.ASSISTANT)
    html = browser.get(f"/m/{answer.pk}/").content.decode()
    assert html.lstrip().startswith("<article")
    assert "<strong>Answer.</strong>" in html
    assert 'data-status="complete"' in html
    assert '<template class="message__source">**Answer.**</template>' in html


def test_the_message_list_renders_alone(browser: Client, conversation: Conversation) -> None:
    html = browser.get(f"/c/{conversation.pk}/messages/").content.decode()
    assert html.count("<article") == 2
    assert "Question?" in html


def test_only_your_own_messages_can_be_edited(browser: Client, conversation: Conversation) -> None:
    question = conversation.messages.get(role=Role.USER)
    answer = conversation.messages.get(role=Role.ASSISTANT)
    form = browser.get(f"/m/{question.pk}/edit/", **HTMX).content.decode()
    assert '<form class="message message--user edit-form"' in form
    assert ">Question?</textarea>" in form
    assert browser.get(f"/m/{answer.pk}/edit/").status_code == 404


def test_the_sidebar_marks_the_current_conversation(
    browser: Client, alice: User, conversation: Conversation
) -> None:
    conversation_of(alice, "Another")
    html = browser.get(f"/sidebar/?current={conversation.pk}").content.decode()
    assert html.count('<li class="conversation') == 2
    assert 'aria-current="page">Original title</a>' in html


def test_a_streaming_answer_has_no_actions_until_it_ends(
    browser: Client, conversation: Conversation
) -> None:
    add_message(conversation, Role.USER, "More?")
    streaming = add_message(conversation, Role.ASSISTANT, "", status=Status.PENDING)
    html = browser.get(f"/m/{streaming.pk}/").content.decode()
    assert "is-streaming" in html
    assert "Regenerate" not in html and "Copy" not in html
