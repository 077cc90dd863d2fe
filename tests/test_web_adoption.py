"""Chats started anonymously stay with the person when they sign up or sign in."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import User
from django.test import Client
from pytest_django.fixtures import Settings

from chat.models import Conversation
from chat.ownership import ANONYMOUS_SESSION_KEY

pytestmark = pytest.mark.django_db


def anonymous_visitor(anonymous_id: str) -> Client:
    visitor = Client()
    session = visitor.session
    session[ANONYMOUS_SESSION_KEY] = anonymous_id
    session.save()
    return visitor


def test_signing_up_keeps_the_chats_started_anonymously(settings: Settings) -> None:
    settings.CHAT_ALLOW_ANONYMOUS = True
    mine = Conversation.objects.create(anonymous_id="a" * 32, title="Before I had an account")
    someone_elses = Conversation.objects.create(anonymous_id="b" * 32, title="Not mine")
    visitor = anonymous_visitor("a" * 32)

    response = visitor.post(
        "/accounts/signup/",
        {"username": "erin", "password1": "a-long-pass-phrase", "password2": "a-long-pass-phrase"},
    )
    assert response.status_code == 302
    erin = User.objects.get(username="erin")
    mine.refresh_from_db()
    someone_elses.refresh_from_db()
    assert (mine.owner, mine.anonymous_id) == (erin, "")
    assert someone_elses.owner is None
    assert "Before I had an account" in visitor.get("/").content.decode()


def test_signing_in_keeps_the_chats_started_anonymously(settings: Settings) -> None:
    settings.CHAT_ALLOW_ANONYMOUS = True
    frank = User.objects.create_user("frank", password="a-long-pass-phrase")
    mine = Conversation.objects.create(anonymous_id="c" * 32, title="Anonymous question")
    visitor = anonymous_visitor("c" * 32)
    response = visitor.post(
        "/accounts/login/", {"username": "frank", "password": "a-long-pass-phrase"}
    )
    assert response.status_code == 302
    mine.refresh_from_db()
    assert mine.owner == frank
    assert ANONYMOUS_SESSION_KEY not in visitor.session
