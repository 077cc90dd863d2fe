"""Exporting conversations as JSON or CSV, streamed a batch of conversations at a time.

The response body is an async generator: under ASGI, Django reads a sync iterator into a
list before sending it, which would hold the whole export in memory. Each batch is read
by a keyset query (conversations after the last id sent), so memory stays bounded by one
batch however many conversations are selected.
"""

from __future__ import annotations

import csv
import io
import json
import uuid
from collections import defaultdict
from collections.abc import AsyncIterator, Iterable
from typing import Any

from asgiref.sync import sync_to_async
from django.db.models import QuerySet
from django.http import StreamingHttpResponse
from django.utils import timezone

from chat.analytics import outcome_of, tokens_per_second
from chat.models import Conversation, Message, Role

# Conversations per query; their messages come in one more query.
BATCH_SIZE = 100

Batch = list[tuple[Conversation, list[Message]]]


def read_batch(queryset: QuerySet[Conversation], after: uuid.UUID | None) -> Batch:
    page = queryset.order_by("pk").select_related("owner", "model_config")
    if after is not None:
        page = page.filter(pk__gt=after)
    conversations = list(page[:BATCH_SIZE])
    by_conversation: dict[uuid.UUID, list[Message]] = defaultdict(list)
    for message in Message.objects.filter(
        conversation_id__in=[c.pk for c in conversations]
    ).order_by("conversation_id", "position"):
        by_conversation[message.conversation_id].append(message)
    return [(c, by_conversation[c.pk]) for c in conversations]


async def batches(queryset: QuerySet[Conversation]) -> AsyncIterator[Batch]:
    after: uuid.UUID | None = None
    while True:
        batch = await sync_to_async(read_batch)(queryset, after)
        if not batch:
            return
        yield batch
        after = batch[-1][0].pk


def isoformat(moment: Any) -> str | None:
    return moment.isoformat() if moment is not None else None


def conversation_record(conversation: Conversation) -> dict[str, Any]:
    return {
        "id": str(conversation.pk),
        "title": conversation.title,
        "user": conversation.owner.get_username() if conversation.owner else None,
        "anonymous": conversation.owner is None,
        "model": conversation.model_config.name if conversation.model_config else None,
        "created_at": isoformat(conversation.created_at),
        "updated_at": isoformat(conversation.updated_at),
    }


def message_record(message: Message) -> dict[str, Any]:
    record: dict[str, Any] = {
        "id": str(message.pk),
        "position": message.position,
        "role": message.role,
        "content": message.content,
        "status": message.status,
        "created_at": isoformat(message.created_at),
    }
    if message.role == Role.ASSISTANT:
        speed = tokens_per_second(message.output_tokens, message.duration_ms, message.ttft_ms)
        record |= {
            "outcome": outcome_of(message.status, message.finish_reason).value,
            "finished_at": isoformat(message.finished_at),
            "model": message.model_name,
            "model_config_version": message.model_config_version,
            "finish_reason": message.finish_reason,
            "ttft_ms": message.ttft_ms,
            "duration_ms": message.duration_ms,
            "input_tokens": message.input_tokens,
            "output_tokens": message.output_tokens,
            "tokens_per_second": round(speed, 1) if speed is not None else None,
            "error_code": message.error_code,
            "error_message": message.error_message,
            "upstream_request_id": message.upstream_request_id,
            "client_connected": message.client_connected,
            "reconnect_count": message.reconnect_count,
        }
    return record


async def json_chunks(queryset: QuerySet[Conversation]) -> AsyncIterator[bytes]:
    """One JSON document: {"exported_at": …, "conversations": [{…, "messages": […]}, …]}."""
    yield f'{{"exported_at": {json.dumps(timezone.now().isoformat())}, "conversations": ['.encode()
    first = True
    async for batch in batches(queryset):
        parts = []
        for conversation, messages in batch:
            record = conversation_record(conversation)
            record["messages"] = [message_record(m) for m in messages]
            parts.append(("" if first else ",\n") + json.dumps(record, ensure_ascii=False))
            first = False
        yield "".join(parts).encode()
    yield b"]}\n"


CSV_COLUMNS = [
    "conversation_id",
    "conversation_title",
    "user",
    "message_id",
    "position",
    "role",
    "created_at",
    "content",
    "status",
    "outcome",
    "finished_at",
    "model",
    "model_config_version",
    "finish_reason",
    "ttft_ms",
    "duration_ms",
    "input_tokens",
    "output_tokens",
    "tokens_per_second",
    "error_code",
    "error_message",
    "upstream_request_id",
    "client_connected",
    "reconnect_count",
]
# A cell starting with one of these is a formula to a spreadsheet: text typed by a user or
# a model must never run as one when a reviewer opens the file.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def spreadsheet_safe(value: Any) -> Any:
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return "" if value is None else value


def csv_rows(batch: Batch) -> Iterable[list[Any]]:
    for conversation, messages in batch:
        head = conversation_record(conversation)
        for message in messages:
            record = message_record(message)
            row = {
                "conversation_id": head["id"],
                "conversation_title": head["title"],
                "user": head["user"] if head["user"] is not None else "(anonymous)",
                "message_id": record.pop("id"),
                **record,
            }
            yield [spreadsheet_safe(row.get(column)) for column in CSV_COLUMNS]


async def csv_chunks(queryset: QuerySet[Conversation]) -> AsyncIterator[bytes]:
    """One row per message, conversation columns repeated; UTF-8 with a BOM for Excel."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(CSV_COLUMNS)
    yield ("\ufeff" + buffer.getvalue()).encode()
    async for batch in batches(queryset):
        buffer = io.StringIO()
        writer = csv.writer(buffer)
        writer.writerows(csv_rows(batch))
        yield buffer.getvalue().encode()


def attachment(content: AsyncIterator[bytes], content_type: str, extension: str) -> Any:
    response = StreamingHttpResponse(content, content_type=content_type)
    stamp = timezone.now().strftime("%Y%m%d-%H%M%S")
    response["Content-Disposition"] = f'attachment; filename="conversations-{stamp}.{extension}"'
    return response


def json_response(queryset: QuerySet[Conversation]) -> StreamingHttpResponse:
    return attachment(json_chunks(queryset), "application/json; charset=utf-8", "json")


def csv_response(queryset: QuerySet[Conversation]) -> StreamingHttpResponse:
    return attachment(csv_chunks(queryset), "text/csv; charset=utf-8", "csv")
