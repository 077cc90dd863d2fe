"""The chat pages as a browser without JavaScript gets them: server-rendered and owned."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.test import Client
from django.utils import timezone
from pytest_django.fixtures import Settings

from chat.models import Conversation, Message, ModelConfig, Role, Status
from chat.ownership import ANONYMOUS_SESSION_KEY

pytestmark = pytest.mark.django_db


@pytest.fixture
def demo_model() -> ModelConfig:
    return ModelConfig.objects.create(
        name="demo", display_name="Demo", provider="demo", is_default=True
    )


@pytest.fixture
def alice() -> User:
    return User.objects.create_user("alice", password="alice-password")


@pytest.fixture
def browser(alice: User) -> Client:
    """A signed-in browser."""
    browser = Client()
    browser.force_login(alice)
    return browser


def conversation_of(owner: User | None, title: str, *, anonymous_id: str = "", **fields: Any):
    return Conversation.objects.create(
        owner=owner, anonymous_id=anonymous_id, title=title, **fields
    )


def add_message(conversation: Conversation, role: str, content: str, **fields: Any) -> Message:
    position = conversation.messages.count()
    return Message.objects.create(
        conversation=conversation, role=role, content=content, position=position, **fields
    )


def test_a_signed_in_user_sees_their_conversations_newest_first(
    browser: Client, alice: User, demo_model: ModelConfig
) -> None:
    old = conversation_of(alice, "Old question")
    new = conversation_of(alice, "New question")
    Conversation.objects.filter(pk=old.pk).update(updated_at=timezone.now() - timedelta(days=1))
    conversation_of(User.objects.create_user("bob"), "Bob's secret")

    page = browser.get("/").content.decode()
    assert page.index("New question") < page.index("Old question")
    assert "Bob&#x27;s secret" not in page and "Bob's secret" not in page
    assert f'href="/c/{new.pk}/"' in page


def test_a_past_conversation_is_readable_without_javascript(
    browser: Client, alice: User, demo_model: ModelConfig
) -> None:
    conversation = conversation_of(alice, "Markdown please")
    add_message(conversation, Role.USER, "Show me <b>code</b>")
    add_message(
        conversation,
        Role.ASSISTANT,
        "Here:\n\n```python\nprint('hi')\n```\n\n<script>alert(1)</script>",
        model_name="demo",
    )
    response = browser.get(f"/c/{conversation.pk}/")
    page = response.content.decode()
    assert response.status_code == 200
    assert "<title>Markdown please · chatsite</title>" in page
    # The question as typed, escaped; the answer as rendered, sanitised markdown.
    assert "Show me &lt;b&gt;code&lt;/b&gt;" in page
    assert '<span class="nb">print</span>' in page
    assert "<script>alert(1)</script>" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert 'aria-current="page">Markdown please</a>' in page


def test_stopped_and_failed_answers_say_so_and_failures_offer_retry(
    browser: Client, alice: User, demo_model: ModelConfig
) -> None:
    conversation = conversation_of(alice, "Trouble")
    add_message(conversation, Role.USER, "First")
    add_message(conversation, Role.ASSISTANT, "Half an ans", status=Status.STOPPED)
    add_message(conversation, Role.USER, "Second")
    add_message(
        conversation,
        Role.ASSISTANT,
        "Partial",
        status=Status.INTERRUPTED,
        error_code="UPSTREAM_CLOSED",
        error_message="The model provider closed the connection.",
    )
    page = browser.get(f"/c/{conversation.pk}/").content.decode()
    assert '<p class="message__notice">Stopped</p>' in page
    assert "The connection to the model broke before the answer was complete." in page
    assert "The model provider closed the connection." in page
    assert 'data-action="regenerate">Retry</button>' in page
    assert "<p>Partial</p>" in page


def test_an_answer_still_streaming_shows_its_text_so_far_and_a_typing_bubble(
    browser: Client, alice: User, demo_model: ModelConfig
) -> None:
    conversation = conversation_of(alice, "Live")
    add_message(conversation, Role.USER, "Go")
    answer = add_message(conversation, Role.ASSISTANT, "So far", status=Status.STREAMING)
    page = browser.get(f"/c/{conversation.pk}/").content.decode()
    assert f'id="message-{answer.pk}"' in page
    assert "is-streaming" in page
    assert "<p>So far</p>" in page
    assert 'aria-label="The model is typing"' in page


# Deleting is an async view: channels' database_sync_to_async closes the connection, which
# a test wrapped in one transaction cannot survive.
@pytest.mark.django_db(transaction=True)
def test_someone_elses_conversation_is_not_found(browser: Client, demo_model: ModelConfig) -> None:
    theirs = conversation_of(User.objects.create_user("bob"), "Private")
    message = add_message(theirs, Role.USER, "secret")
    for url in [
        f"/c/{theirs.pk}/",
        f"/c/{theirs.pk}/messages/",
        f"/c/{theirs.pk}/rename/",
        f"/c/{theirs.pk}/delete/",
        f"/m/{message.pk}/",
        f"/m/{message.pk}/edit/",
    ]:
        assert browser.get(url).status_code == 404, url
    assert browser.post(f"/c/{theirs.pk}/delete/confirmed/").status_code == 404
    assert Conversation.objects.filter(pk=theirs.pk).exists()


def test_the_model_picker_lists_enabled_models_and_says_the_demo_is_offline(
    browser: Client, demo_model: ModelConfig
) -> None:
    ModelConfig.objects.create(
        name="gpt", display_name="GPT", provider="openai", base_url="https://x.example/v1"
    )
    ModelConfig.objects.create(
        name="old", display_name="Retired", provider="openai", base_url="https://x", enabled=False
    )
    page = browser.get("/").content.decode()
    assert '<option value="demo" selected>Demo (offline)</option>' in page
    assert '<option value="gpt">GPT</option>' in page
    assert "Retired" not in page


def test_anonymous_visitors_can_chat_when_it_is_allowed(
    settings: Settings, demo_model: ModelConfig
) -> None:
    settings.CHAT_ALLOW_ANONYMOUS = True
    response = Client().get("/")
    assert response.status_code == 200
    assert 'id="composer"' in response.content.decode()


def test_anonymous_visitors_are_sent_to_sign_in_when_it_is_not_allowed(
    settings: Settings,
) -> None:
    settings.CHAT_ALLOW_ANONYMOUS = False
    response = Client().get("/")
    assert response.status_code == 302
    assert response["Location"] == "/accounts/login/?next=/"
    assert "Sign in" in Client().get(response["Location"]).content.decode()


def test_anonymous_conversations_belong_to_their_browser_session(
    settings: Settings, demo_model: ModelConfig
) -> None:
    settings.CHAT_ALLOW_ANONYMOUS = True
    mine = conversation_of(None, "Mine", anonymous_id="a" * 32)
    conversation_of(None, "Another session's", anonymous_id="b" * 32)
    visitor = Client()
    session = visitor.session
    session[ANONYMOUS_SESSION_KEY] = "a" * 32
    session.save()
    page = visitor.get("/").content.decode()
    assert "Mine" in page
    assert "Another session" not in page
    assert visitor.get(f"/c/{mine.pk}/").status_code == 200
    assert Client().get(f"/c/{mine.pk}/").status_code == 404


def test_sign_up_signs_in_and_sign_out_signs_out(
    settings: Settings, demo_model: ModelConfig
) -> None:
    settings.CHAT_ALLOW_ANONYMOUS = False
    visitor = Client()
    assert "Sign up" in visitor.get("/accounts/signup/").content.decode()
    response = visitor.post(
        "/accounts/signup/",
        {"username": "carol", "password1": "a-long-pass-phrase", "password2": "a-long-pass-phrase"},
    )
    assert response.status_code == 302
    page = visitor.get("/").content.decode()
    assert "carol" in page and "Sign out" in page
    visitor.post("/accounts/logout/")
    assert visitor.get("/").status_code == 302
    response = visitor.post(
        "/accounts/login/", {"username": "carol", "password": "a-long-pass-phrase"}
    )
    assert response.status_code == 302
    assert visitor.get("/").status_code == 200


def test_sign_up_explains_what_is_wrong(settings: Settings) -> None:
    response = Client().post(
        "/accounts/signup/", {"username": "dave", "password1": "x", "password2": "y"}
    )
    assert response.status_code == 200
    assert "The two password fields didn\u2019t match." in response.content.decode()
    assert not User.objects.filter(username="dave").exists()
