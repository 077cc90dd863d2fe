"""Reading and changing an owner's conversations: shared by the API and the pages.

Plain (sync) functions, with async twins (the `a` names at the end). Anything that is
not the owner's is NOT_FOUND, exactly as if it did not exist.
"""

from __future__ import annotations

import uuid

from chat.db import in_thread_pool
from chat.errors import ChatError, ErrorCode
from chat.models import UNFINISHED_STATUSES, Conversation, Message, Role
from chat.owners import Owner

TITLE_MAX = 200


def owned_conversation(owner: Owner, conversation_id: uuid.UUID) -> Conversation:
    conversation = (
        owner.conversations().filter(pk=conversation_id).select_related("model_config").first()
    )
    if conversation is None:
        raise ChatError(ErrorCode.NOT_FOUND, "Conversation not found.")
    return conversation


def owned_message(owner: Owner, message_id: uuid.UUID) -> Message:
    message = owner.messages().filter(pk=message_id).first()
    if message is None:
        raise ChatError(ErrorCode.NOT_FOUND, "Message not found.")
    return message


def question_before(message: Message) -> Message | None:
    """The user message that `message` answers: the last one before it."""
    return (
        Message.objects.filter(
            conversation_id=message.conversation_id,
            role=Role.USER,
            position__lt=message.position,
        )
        .order_by("-position")
        .first()
    )


def owned_answer(
    owner: Owner, message_id: uuid.UUID | str, conversation_id: uuid.UUID | None = None
) -> Message:
    """An answer (assistant message) of the owner's, and of that conversation if given."""
    answers = owner.messages().filter(pk=message_id, role=Role.ASSISTANT)
    if conversation_id is not None:
        answers = answers.filter(conversation_id=conversation_id)
    answer = answers.first()
    if answer is None:
        raise ChatError(ErrorCode.NOT_FOUND, "Answer not found.")
    return answer


def conversation_page(owner: Owner, limit: int, offset: int = 0) -> tuple[list[Conversation], bool]:
    """Newest activity first; also whether there are more after this page."""
    rows = list(
        owner.conversations()
        .select_related("model_config")
        .order_by("-updated_at")[offset : offset + limit + 1]
    )
    return rows[:limit], len(rows) > limit


def messages_of(conversation: Conversation) -> list[Message]:
    return list(conversation.messages.order_by("position"))


def rename_conversation(owner: Owner, conversation_id: uuid.UUID, title: str) -> Conversation:
    title = " ".join(title.split())
    if not title:
        raise ChatError(ErrorCode.BAD_REQUEST, "A title must not be empty.")
    if len(title) > TITLE_MAX:
        raise ChatError(ErrorCode.BAD_REQUEST, f"A title is at most {TITLE_MAX} characters.")
    conversation = owned_conversation(owner, conversation_id)
    conversation.title = title
    conversation.save(update_fields=["title"])
    return conversation


def delete_conversation(owner: Owner, conversation_id: uuid.UUID) -> list[str]:
    """Delete; returns the ids of answers that were still being generated (to stop them)."""
    conversation = owned_conversation(owner, conversation_id)
    unfinished = conversation.messages.filter(status__in=UNFINISHED_STATUSES)
    running_ids = [str(pk) for pk in unfinished.values_list("pk", flat=True)]
    conversation.delete()
    return running_ids


def unfinished_answer_ids(owner: Owner, conversation_id: uuid.UUID) -> list[str]:
    """Answers of the conversation still being generated, oldest first."""
    conversation = owned_conversation(owner, conversation_id)
    rows = conversation.messages.filter(status__in=UNFINISHED_STATUSES).order_by("position")
    return [str(pk) for pk in rows.values_list("pk", flat=True)]


# Async twins for views, feeds and consumers.
aowned_conversation = in_thread_pool(owned_conversation)
aowned_message = in_thread_pool(owned_message)
aowned_answer = in_thread_pool(owned_answer)
aconversation_page = in_thread_pool(conversation_page)
adelete_conversation = in_thread_pool(delete_conversation)
aunfinished_answer_ids = in_thread_pool(unfinished_answer_ids)
