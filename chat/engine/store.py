"""The engine's database work, each step one small helper run off the event loop."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from django.db import connection, transaction
from django.db.models import Max
from django.utils import timezone

from chat import conversations
from chat.db import in_thread_pool
from chat.engine import recovery
from chat.errors import ChatError, ErrorCode
from chat.models import UNFINISHED_STATUSES, Conversation, Message, ModelConfig, Role, Status
from chat.owners import Owner
from chat.providers.base import ChatMessage, ProviderRequest

TITLE_LENGTH = 60


@dataclass(frozen=True, slots=True)
class Turn:
    """Everything a generation needs, fixed when the user's message is saved."""

    conversation_id: uuid.UUID
    user_message_id: uuid.UUID
    assistant_message_id: uuid.UUID
    model_name: str
    provider: str
    request: ProviderRequest
    # Answers of dead workers that this turn found and finalised (their logs need closing).
    abandoned: tuple[Message, ...] = ()


@dataclass(frozen=True, slots=True)
class FinalState:
    status: Status
    content: str
    finish_reason: str
    input_tokens: int | None
    output_tokens: int | None
    ttft_ms: int | None
    duration_ms: int
    error_code: str = ""
    error_message: str = ""
    upstream_request_id: str = ""
    client_connected: bool | None = None


def title_from(text: str) -> str:
    flat = " ".join(text.split())
    if len(flat) <= TITLE_LENGTH:
        return flat
    cut = flat[:TITLE_LENGTH].rsplit(" ", 1)[0]
    return cut + "…"


def resolve_model(name: str | None, conversation: Conversation | None) -> ModelConfig:
    enabled = ModelConfig.objects.filter(enabled=True)
    if name:
        config = enabled.filter(name=name).first()
        if config is None:
            raise ChatError(ErrorCode.NOT_FOUND, f"There is no enabled model named {name!r}.")
        return config
    if conversation is not None and conversation.model_config_id is not None:
        config = enabled.filter(pk=conversation.model_config_id).first()
        if config is not None:
            return config
    config = enabled.order_by("-is_default", "display_name").first()
    if config is None:
        raise ChatError(ErrorCode.NOT_FOUND, "No model is enabled on this site.")
    return config


def history_before(conversation: Conversation, position: int, limit: int) -> list[ChatMessage]:
    """The last `limit` messages with text before `position`; an answer still streaming
    is not history yet."""
    if limit == 0:
        return []
    rows = (
        Message.objects.filter(conversation=conversation, position__lt=position)
        .exclude(content="")
        .exclude(status__in=UNFINISHED_STATUSES)
        .order_by("-position")
        .values_list("role", "content")[:limit]
    )
    return [ChatMessage(role, content) for role, content in reversed(rows)]


def new_answer(
    conversation: Conversation,
    user_message: Message,
    config: ModelConfig,
    worker_id: str,
    abandoned: tuple[Message, ...] = (),
) -> Turn:
    """Create the empty assistant message after `user_message` and fix the turn's context."""
    history = history_before(conversation, user_message.position, config.history_limit)
    answer = Message.objects.create(
        conversation=conversation,
        role=Role.ASSISTANT,
        status=Status.PENDING,
        position=user_message.position + 1,
        model_config=config,
        model_name=config.name,
        model_config_version=config.version,
        worker_id=worker_id,
    )
    if conversation.model_config_id != config.pk:
        conversation.model_config = config
    conversation.save(update_fields=["model_config", "updated_at"])
    request = ProviderRequest(
        model=config.upstream_model or config.name,
        messages=(*history, ChatMessage(Role.USER, user_message.content)),
        system=config.system_prompt,
        max_tokens=config.max_tokens,
        temperature=config.temperature,
        base_url=config.base_url,
        api_key=config.api_key(),
        api_key_env=config.api_key_env,
    )
    return Turn(
        conversation_id=conversation.pk,
        user_message_id=user_message.pk,
        assistant_message_id=answer.pk,
        model_name=config.name,
        provider=config.provider,
        request=request,
        abandoned=abandoned,
    )


ANSWER_RUNNING = "An answer is still being generated in this conversation: stop it or wait."


def settle_running_answers(
    conversation: Conversation, running_here: frozenset[str]
) -> tuple[Message, ...]:
    """One answer at a time per conversation: refuse while one runs.

    An unfinished answer whose worker is dead does not block the conversation until the
    sweep comes by: it is finalised here (and returned, so its log can be closed).
    """
    abandoned = []
    for answer in conversation.messages.filter(status__in=UNFINISHED_STATUSES):
        if str(answer.pk) in running_here or recovery.worker_alive(answer.worker_id):
            raise ChatError(ErrorCode.BAD_REQUEST, ANSWER_RUNNING)
        if recovery.finalise_abandoned(answer.pk):
            answer.refresh_from_db()
            abandoned.append(answer)
    return tuple(abandoned)


def locked_conversation(owner: Owner, conversation_id: uuid.UUID) -> Conversation:
    conversation = owner.conversations().select_for_update().filter(pk=conversation_id).first()
    if conversation is None:
        raise ChatError(ErrorCode.NOT_FOUND, "Conversation not found.")
    return conversation


@in_thread_pool
def prepare_turn(
    *,
    owner: Owner,
    text: str,
    conversation_id: uuid.UUID | None,
    model_name: str | None,
    worker_id: str = "",
    running_here: frozenset[str] = frozenset(),
) -> Turn:
    """Save the user's message and an empty assistant message, in one transaction.

    `running_here`: ids of the answers this process is generating.
    """
    with transaction.atomic():
        conversation = (
            locked_conversation(owner, conversation_id) if conversation_id is not None else None
        )
        abandoned = settle_running_answers(conversation, running_here) if conversation else ()
        config = resolve_model(model_name, conversation)
        if conversation is None:
            conversation = Conversation.objects.create(
                **owner.fields(), title=title_from(text), model_config=config
            )
            position = 0
        else:
            last = conversation.messages.aggregate(last=Max("position"))["last"]
            position = 0 if last is None else last + 1
        user_message = Message.objects.create(
            conversation=conversation, role=Role.USER, content=text, position=position
        )
        return new_answer(conversation, user_message, config, worker_id, abandoned)


@in_thread_pool
def prepare_rerun(
    *,
    owner: Owner,
    message_id: uuid.UUID,
    text: str | None,
    model_name: str | None,
    worker_id: str = "",
    running_here: frozenset[str] = frozenset(),
) -> Turn:
    """Answer a user message again: everything after it is replaced (no branches yet).

    `message_id` is the user message to resend (with `text`, edited) or the answer to
    regenerate (then the user message before it is resent as it was).
    """
    with transaction.atomic():
        target = owner.messages().filter(pk=message_id).first()
        if target is None:
            raise ChatError(ErrorCode.NOT_FOUND, "Message not found.")
        conversation = locked_conversation(owner, target.conversation_id)
        abandoned = settle_running_answers(conversation, running_here)
        if target.role == Role.ASSISTANT:
            if text is not None:
                raise ChatError(ErrorCode.BAD_REQUEST, "Only your own messages can be edited.")
            user_message = conversations.question_before(target)
            if user_message is None:
                raise ChatError(ErrorCode.BAD_REQUEST, "There is no question to answer again.")
        else:
            user_message = target
        conversation.messages.filter(position__gt=user_message.position).delete()
        if text is not None and text != user_message.content:
            user_message.content = text
            user_message.save(update_fields=["content"])
            if user_message.position == 0:
                conversation.title = title_from(text)
                conversation.save(update_fields=["title"])
        config = resolve_model(model_name, conversation)
        return new_answer(conversation, user_message, config, worker_id, abandoned)


def checkpoint_sql() -> str:
    table = connection.ops.quote_name(Message._meta.db_table)
    column = {
        f.name: connection.ops.quote_name(f.column)
        for f in Message._meta.concrete_fields
        if f.column is not None  # concrete fields have one; the stubs allow None
    }
    return (
        f"UPDATE {table} SET {column['content']} = %s, {column['status']} = %s"
        f" WHERE {column['id']} = %s AND {column['status']} IN (%s, %s)"
    )


@in_thread_pool
def save_partials(contents: dict[uuid.UUID, str]) -> None:
    """Checkpoint streaming answers in one transaction; never touches a finalised one.

    One statement run for every answer (executemany), not an ORM update each: with
    hundreds of answers per batch, the ORM's Python held the GIL while streams waited.
    """
    to_db = Message._meta.pk.get_db_prep_value
    rows = [
        (content, Status.STREAMING.value, to_db(message_id, connection), *UNFINISHED_STATUSES)
        for message_id, content in contents.items()
    ]
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.executemany(checkpoint_sql(), rows)


@in_thread_pool
def finalise_message(message_id: uuid.UUID, final: FinalState) -> bool:
    """Write the final state once; False if the message was already finalised."""
    now = timezone.now()
    with transaction.atomic():
        updated = Message.objects.filter(pk=message_id, status__in=UNFINISHED_STATUSES).update(
            status=final.status,
            content=final.content,
            finish_reason=final.finish_reason,
            input_tokens=final.input_tokens,
            output_tokens=final.output_tokens,
            ttft_ms=final.ttft_ms,
            duration_ms=final.duration_ms,
            error_code=final.error_code,
            error_message=final.error_message,
            upstream_request_id=final.upstream_request_id,
            client_connected=final.client_connected,
            finished_at=now,
        )
        if updated:
            Conversation.objects.filter(messages__pk=message_id).update(updated_at=now)
    return bool(updated)
