"""Model rows as API JSON."""

from __future__ import annotations

from typing import Any

from chat.models import Conversation, Message, ModelConfig, Provider


def iso(value: Any) -> str | None:
    return value.isoformat() if value is not None else None


def message_json(message: Message) -> dict[str, Any]:
    return {
        "id": str(message.id),
        "role": message.role,
        "content": message.content,
        "status": message.status,
        "position": message.position,
        "model": message.model_name or None,
        "finish_reason": message.finish_reason or None,
        "usage": {
            "input_tokens": message.input_tokens,
            "output_tokens": message.output_tokens,
            "total_tokens": message.total_tokens,
        },
        "ttft_ms": message.ttft_ms,
        "duration_ms": message.duration_ms,
        "error": (
            {"code": message.error_code, "message": message.error_message}
            if message.error_code
            else None
        ),
        "upstream_request_id": message.upstream_request_id or None,
        "created_at": iso(message.created_at),
        "finished_at": iso(message.finished_at),
    }


def conversation_summary_json(conversation: Conversation) -> dict[str, Any]:
    return {
        "id": str(conversation.id),
        "title": conversation.title,
        "model": conversation.model_config.name if conversation.model_config else None,
        "created_at": iso(conversation.created_at),
        "updated_at": iso(conversation.updated_at),
    }


def model_json(config: ModelConfig) -> dict[str, Any]:
    return {
        "name": config.name,
        "display_name": config.display_name,
        "provider": config.provider,
        "default": config.is_default,
        "offline": config.provider == Provider.DEMO,
    }
