"""Who can see and do what in admin: model staff, transcript reviewers, regular users."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Group, User
from django.urls import reverse

from chat.models import Conversation, ModelConfig
from tests.admin_fixtures import (
    CONFIGURATORS,
    REVIEWERS,
    admin_groups,
    browser_for,
    conversation_with_answers,
    demo_model,
    make_configurator,
    make_reviewer,
    make_superuser,
)

pytestmark = pytest.mark.django_db

CONVERSATIONS = reverse("admin:chat_conversation_changelist")
MODEL_CONFIGS = reverse("admin:chat_modelconfig_changelist")
ANALYTICS = reverse("admin:chat_generationrecord_analytics")
GENERATIONS = reverse("admin:chat_generationrecord_changelist")


def transcript_url(conversation: Conversation) -> str:
    return reverse("admin:chat_conversation_change", args=[conversation.pk])


def test_data_migration_makes_a_view_only_reviewers_group() -> None:
    admin_groups()
    reviewers = Group.objects.get(name=REVIEWERS)
    codenames = set(reviewers.permissions.values_list("codename", flat=True))
    assert codenames == {
        "view_conversation",
        "view_message",
        "view_modelconfig",
        "view_modelconfigversion",
        "view_generationrecord",
        "view_mcpserver",
    }
    configurators = Group.objects.get(name=CONFIGURATORS)
    assert "change_modelconfig" in configurators.permissions.values_list("codename", flat=True)
    assert not configurators.permissions.filter(codename="view_conversation").exists()


def test_reviewer_reads_transcripts_and_analytics() -> None:
    config = demo_model()
    conversation = conversation_with_answers(None, config, "Reviewed chat")
    browser = browser_for(make_reviewer())

    assert "Reviewed chat" in browser.get(CONVERSATIONS).text
    page = browser.get(transcript_url(conversation))
    assert page.status_code == 200
    assert "req-abc-123" in page.text
    assert browser.get(ANALYTICS).status_code == 200
    assert browser.get(GENERATIONS).status_code == 200
    # Model settings are readable, not editable.
    settings_page = browser.get(reverse("admin:chat_modelconfig_change", args=[config.pk]))
    assert settings_page.status_code == 200
    assert 'name="temperature"' not in settings_page.text


def test_reviewer_cannot_change_or_delete_a_transcript() -> None:
    conversation = conversation_with_answers(None, demo_model(), "Keep me")
    browser = browser_for(make_reviewer())

    page = browser.get(transcript_url(conversation))
    assert 'name="title"' not in page.text  # shown, not in an input
    assert "Delete" not in page.text
    edit = browser.post(transcript_url(conversation), {"title": "Changed"})
    assert edit.status_code == 403
    delete_url = reverse("admin:chat_conversation_delete", args=[conversation.pk])
    assert browser.post(delete_url, {"post": "yes"}).status_code == 403
    bulk_delete = browser.post(
        CONVERSATIONS, {"action": "delete_selected", "_selected_action": [conversation.pk]}
    )
    assert bulk_delete.status_code == 302  # not an action reviewers have: nothing happens
    conversation.refresh_from_db()
    assert conversation.title == "Keep me"
    assert conversation.messages.count() == 4


def test_model_staff_configure_models_but_cannot_see_transcripts() -> None:
    config = demo_model()
    conversation_with_answers(None, config, "Private chat")
    browser = browser_for(make_configurator())

    assert browser.get(MODEL_CONFIGS).status_code == 200
    change_page = browser.get(reverse("admin:chat_modelconfig_change", args=[config.pk]))
    assert 'name="temperature"' in change_page.text
    assert browser.get(CONVERSATIONS).status_code == 403
    assert browser.get(ANALYTICS).status_code == 403
    assert browser.get(GENERATIONS).status_code == 403
    index = browser.get(reverse("admin:index")).text
    assert "Conversations" not in index
    assert "Private chat" not in index


def test_model_staff_given_the_permission_can_read_transcripts() -> None:
    conversation = conversation_with_answers(None, demo_model(), "Shared chat")
    staff = make_configurator()
    staff.groups.add(Group.objects.get(name=REVIEWERS))

    page = browser_for(staff).get(transcript_url(conversation))
    assert page.status_code == 200
    assert "Shared chat" in page.text


@pytest.mark.parametrize(
    "url_name",
    [
        "admin:index",
        "admin:chat_conversation_changelist",
        "admin:chat_modelconfig_changelist",
        "admin:chat_generationrecord_analytics",
    ],
)
def test_regular_user_gets_no_admin_page(url_name: str) -> None:
    user = User.objects.create_user("una-user", password="x")
    response = browser_for(user).get(reverse(url_name))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("admin:login"))


def test_anonymous_visitor_is_sent_to_log_in() -> None:
    response = browser_for(None).get(CONVERSATIONS)
    assert response.status_code == 302
    assert reverse("admin:login") in response["Location"]


def test_index_links_analytics_for_those_allowed() -> None:
    assert "Streaming analytics" in browser_for(make_superuser()).get(reverse("admin:index")).text
    assert "Streaming analytics" not in (
        browser_for(make_configurator()).get(reverse("admin:index")).text
    )


def test_nobody_edits_transcripts_even_a_superuser() -> None:
    conversation = conversation_with_answers(None, demo_model(), "Record")
    browser = browser_for(make_superuser())
    page = browser.get(transcript_url(conversation))
    assert 'name="title"' not in page.text
    assert browser.post(transcript_url(conversation), {"title": "x"}).status_code == 403
    # Deleting stays possible for a superuser (e.g. a data-removal request).
    assert "Delete" in page.text
    assert ModelConfig.objects.count() == 1
