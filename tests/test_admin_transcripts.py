"""Reading transcripts in admin: the conversation list, its filters and search, the chat view."""

from __future__ import annotations

import datetime
import re
from urllib.parse import urlencode

import pytest
from django.contrib.auth.models import User
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from chat.models import Conversation, Role, Status
from tests.admin_fixtures import (
    add_message,
    browser_for,
    conversation_with_answers,
    demo_model,
    make_reviewer,
)

pytestmark = pytest.mark.django_db

CONVERSATIONS = reverse("admin:chat_conversation_changelist")


def listed_titles(query: str = "") -> list[str]:
    response = browser_for(make_reviewer()).get(CONVERSATIONS + query)
    assert response.status_code == 200
    return [str(c.title) for c in response.context["cl"].result_list]


def row_of(page: str, title: str) -> str:
    """The HTML of the list row whose title link is `title`."""
    match = re.search(rf"<tr>(?:(?!</tr>).)*>{re.escape(title)}</a>.*?</tr>", page, re.S)
    assert match, f"no row for {title!r}"
    return match.group(0)


def cells(row: str) -> list[str]:
    """The text of a row's columns after the title (the checkbox cell left out)."""
    found = re.findall(r'<td class="field-[^"]*"[^>]*>(.*?)</td>', row, re.S)
    return [re.sub(r"<[^>]+>", "", cell).strip() for cell in found]


def test_list_shows_user_title_model_counts_activity_tokens_and_problems() -> None:
    alice = User.objects.create_user("alice")
    config = demo_model(display_name="Demo model")
    conversation_with_answers(alice, config, "Tables please")
    calm = Conversation.objects.create(owner=None, anonymous_id="a1", title="Calm chat")
    add_message(calm, Role.USER, "hi")
    add_message(
        calm, Role.ASSISTANT, "hello", status=Status.STOPPED, input_tokens=1, output_tokens=2
    )

    page = browser_for(make_reviewer()).get(CONVERSATIONS).text

    head = re.search(r"<thead>.*?</thead>", page, re.S)
    assert head is not None
    headers = [
        h.lower()
        for h in re.findall(r'<div class="text">(?:<a[^>]*>|<span>)?([^<]+)', head.group(0))
    ]
    assert headers == [
        "title",
        "user",
        "model",
        "messages",
        "last activity",
        "tokens",
        "errors / stops",
    ]
    # title is the row's link (a th); then user, model, messages, activity, tokens, problems
    tables = cells(row_of(page, "Tables please"))
    assert tables[0:3] == ["alice", "Demo model", "4"]
    assert tables[4:] == ["47", "errored"]
    calm_cells = cells(row_of(page, "Calm chat"))
    assert calm_cells[0] == "(anonymous)"
    assert calm_cells[2] == "2"
    assert calm_cells[4:] == ["3", "stopped"]


def test_list_counts_come_from_one_query_for_the_whole_page() -> None:
    config = demo_model()
    for number in range(30):
        conversation_with_answers(None, config, f"Chat {number}")
    browser = browser_for(make_reviewer())
    browser.get(CONVERSATIONS)  # warm the session and permissions caches
    with CaptureQueriesContext(connection) as queries:
        assert browser.get(CONVERSATIONS).status_code == 200
    message_queries = [q for q in queries.captured_queries if "chat_message" in q["sql"]]
    assert len(message_queries) == 1


def test_filters_by_model_status_date_and_user() -> None:
    alice = User.objects.create_user("alice")
    bob = User.objects.create_user("bob")
    fast = demo_model("fast")
    slow = demo_model("slow", is_default=False)
    conversation_with_answers(alice, fast, "Errored on fast")
    stopped = Conversation.objects.create(owner=bob, title="Stopped on slow", model_config=slow)
    add_message(stopped, Role.ASSISTANT, "cut", status=Status.STOPPED)
    old = Conversation.objects.create(owner=bob, title="Old and fine", model_config=slow)
    add_message(old, Role.ASSISTANT, "ok", status=Status.COMPLETE)
    Conversation.objects.filter(pk=old.pk).update(
        updated_at=timezone.now() - datetime.timedelta(days=40)
    )
    streaming = Conversation.objects.create(owner=None, anonymous_id="s", title="Still going")
    add_message(streaming, Role.ASSISTANT, "…", status=Status.STREAMING)

    assert set(listed_titles(f"?model_config__id__exact={slow.pk}")) == {
        "Stopped on slow",
        "Old and fine",
    }
    assert listed_titles("?status=errored") == ["Errored on fast"]
    assert listed_titles("?status=stopped") == ["Stopped on slow"]
    assert listed_titles("?status=running") == ["Still going"]
    assert set(listed_titles("?status=clean")) == {"Old and fine", "Still going"}
    since = timezone.now() - datetime.timedelta(days=7)
    recent = listed_titles("?" + urlencode({"updated_at__gte": str(since)}))
    assert "Errored on fast" in recent and "Old and fine" not in recent
    assert set(listed_titles("?user=bob")) == {"Stopped on slow", "Old and fine"}
    assert listed_titles("?user=(anonymous)") == ["Still going"]
    assert listed_titles("?user=bob&status=stopped") == ["Stopped on slow"]


def test_user_filter_box_keeps_the_other_filters() -> None:
    page = browser_for(make_reviewer()).get(CONVERSATIONS + "?status=errored").text
    form = re.search(r'<form method="get" class="input-filter">.*?</form>', page, re.S)
    assert form is not None
    assert '<input type="hidden" name="status" value="errored">' in form.group(0)


def test_search_covers_titles_and_message_text() -> None:
    config = demo_model()
    conversation_with_answers(None, config, "About tables")
    other = Conversation.objects.create(owner=None, anonymous_id="x", title="Unrelated")
    add_message(other, Role.ASSISTANT, "The answer mentions a PINEAPPLE once.")
    add_message(other, Role.ASSISTANT, "And pineapple again: still one result.")

    assert listed_titles("?q=tables") == ["About tables"]
    assert listed_titles("?q=pineapple") == ["Unrelated"]
    assert listed_titles("?q=nothing-like-this") == []
    assert listed_titles(f"?q={other.pk}") == ["Unrelated"]


def test_transcript_is_a_chat_with_markdown_roles_times_and_answer_details() -> None:
    config = demo_model()
    conversation = conversation_with_answers(User.objects.create_user("alice"), config, "Chat")
    page = (
        browser_for(make_reviewer())
        .get(reverse("admin:chat_conversation_change", args=[conversation.pk]))
        .text
    )
    transcript = page[page.index('<section class="transcript"') :]

    assert transcript.count('class="turn turn-user"') == 2
    assert transcript.count('class="turn turn-assistant"') == 2
    # Markdown rendered: a table and bold text, not the raw characters.
    assert "<table>" in transcript and "<strong>Bold</strong>" in transcript
    assert "| a | b |" not in transcript
    # A person's message is shown as typed, escaped.
    assert "=HYPERLINK(&quot;http://evil&quot;)" in transcript
    stamp = conversation.messages.first().created_at.strftime("%Y-%m-%d %H:%M:%S")
    assert f"{stamp} UTC" in transcript

    details = re.findall(r'<aside class="turn-metrics".*?</aside>', transcript, re.S)
    complete = dict(re.findall(r"<dt>(.*?)</dt><dd[^>]*>(.*?)</dd>", details[0], re.S))
    text = {k: re.sub(r"<[^>]+>", "", v).strip() for k, v in complete.items()}
    assert text["Status"] == "Complete"
    assert text["Finish reason"] == "stop"
    assert text["TTFT"] == "120 ms"
    assert text["Duration"] == "1120 ms"
    assert text["Tokens in / out"] == "7 / 40"
    assert text["Tokens/s"] == "40.0"  # 40 tokens over the 1000 ms after the first one
    assert text["Error code"] == "—"
    assert text["Upstream request"] == "req-abc-123"
    assert text["Config version"] == "v1"
    failed = details[1]
    assert "RATE_LIMIT" in failed and ">Error<" in failed
    assert "The model provider is rate limiting requests." in transcript


def test_model_output_cannot_run_script_in_the_reviewers_browser() -> None:
    conversation = Conversation.objects.create(owner=None, anonymous_id="x", title="Hostile")
    add_message(
        conversation,
        Role.ASSISTANT,
        '<script>alert(1)</script> [click](javascript:alert(2)) <img src=x onerror="alert(3)">',
    )
    page = (
        browser_for(make_reviewer())
        .get(reverse("admin:chat_conversation_change", args=[conversation.pk]))
        .text
    )
    transcript = page[page.index('<section class="transcript"') :]
    assert "<script>alert" not in transcript
    assert 'href="javascript' not in transcript  # left as plain text, never a link
    assert "<img" not in transcript
