"""People and transcripts for the admin tests.

The admin groups come from a data migration. Tests on `transactional_db` empty every table
when they end (and only permissions and content types are recreated), so a group may be
gone by the time a later test runs: `admin_groups()` then re-runs the migration's own code.
"""

from __future__ import annotations

import datetime
import importlib
from typing import Any

from django.apps import apps
from django.contrib.auth.models import Group, User
from django.test import Client

from chat.models import Conversation, Message, ModelConfig, Role, Status

group_migration = importlib.import_module("chat.migrations.0004_reviewer_groups_and_first_versions")
mcp_migration = importlib.import_module("chat.migrations.0006_mcp_servers")
REVIEWERS = group_migration.TRANSCRIPT_REVIEWERS
CONFIGURATORS = group_migration.MODEL_CONFIGURATORS


def admin_groups() -> None:
    if Group.objects.filter(name__in=[REVIEWERS, CONFIGURATORS]).count() < 2:
        group_migration.create_groups(apps, None)
        mcp_migration.grant_permissions(apps, None)


def staff_in(username: str, group_name: str) -> User:
    admin_groups()
    user, _created = User.objects.get_or_create(username=username, defaults={"is_staff": True})
    user.groups.add(Group.objects.get(name=group_name))
    return user


def make_reviewer() -> User:
    return staff_in("rita-reviewer", REVIEWERS)


def make_configurator() -> User:
    return staff_in("carl-configurator", CONFIGURATORS)


def make_superuser() -> User:
    user, _created = User.objects.get_or_create(
        username="sam-super", defaults={"is_staff": True, "is_superuser": True}
    )
    return user


def browser_for(user: User | None) -> Client:
    browser = Client()
    if user is not None:
        browser.force_login(user)
    return browser


def demo_model(name: str = "demo", **fields: Any) -> ModelConfig:
    return ModelConfig.objects.create(
        name=name,
        display_name=fields.pop("display_name", name.title()),
        provider=fields.pop("provider", "demo"),
        is_default=fields.pop("is_default", True),
        **fields,
    )


def add_message(
    conversation: Conversation,
    role: str,
    content: str,
    *,
    created_at: datetime.datetime | None = None,
    **fields: Any,
) -> Message:
    """A message at the next position; created_at set afterwards (it is auto_now_add)."""
    position = conversation.messages.count()
    message = Message.objects.create(
        conversation=conversation, role=role, content=content, position=position, **fields
    )
    if created_at is not None:
        Message.objects.filter(pk=message.pk).update(created_at=created_at)
        message.created_at = created_at
    return message


def conversation_with_answers(owner: User | None, config: ModelConfig, title: str) -> Conversation:
    """A question and a complete answer, then a question whose answer failed."""
    conversation = Conversation.objects.create(
        owner=owner,
        anonymous_id="" if owner else "anon-session-1",
        title=title,
        model_config=config,
    )
    add_message(conversation, Role.USER, "Show me a table")
    add_message(
        conversation,
        Role.ASSISTANT,
        "| a | b |\n|---|---|\n| 1 | 2 |\n\n**Bold** answer",
        status=Status.COMPLETE,
        finish_reason="stop",
        model_config=config,
        model_name=config.name,
        model_config_version=config.version,
        ttft_ms=120,
        duration_ms=1120,
        input_tokens=7,
        output_tokens=40,
        upstream_request_id="req-abc-123",
        client_connected=True,
    )
    add_message(conversation, Role.USER, '=HYPERLINK("http://evil")')
    add_message(
        conversation,
        Role.ASSISTANT,
        "",
        status=Status.ERROR,
        finish_reason="error",
        model_config=config,
        model_name=config.name,
        model_config_version=config.version,
        duration_ms=30,
        error_code="RATE_LIMIT",
        error_message="The model provider is rate limiting requests.",
    )
    return conversation
