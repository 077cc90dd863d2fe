"""How messages, models and conversations look on the page: one place for the wording."""

from __future__ import annotations

from dataclasses import dataclass

from django.template.loader import render_to_string

from chat.errors import ErrorCode
from chat.markdown import render_markdown
from chat.models import UNFINISHED_STATUSES, Conversation, Message, ModelConfig, Provider, Role

# What went wrong, in words a reader understands; the provider's own message follows.
ERROR_TITLES: dict[str, str] = {
    ErrorCode.RATE_LIMIT: "The model is busy right now (rate limited).",
    ErrorCode.UPSTREAM_TIMEOUT: "The model took too long to answer.",
    ErrorCode.UPSTREAM_CLOSED: "The connection to the model broke before the answer was complete.",
    ErrorCode.UPSTREAM_ERROR: "The model's provider returned an error.",
    ErrorCode.AUTH: "The model's provider refused this site's API key.",
    ErrorCode.INTERNAL: "Something went wrong on the server.",
}
DEFAULT_ERROR_TITLE = "The answer failed."


@dataclass(frozen=True, slots=True)
class MessageView:
    id: str
    role: str
    status: str
    content: str
    html: str
    model_name: str
    streaming: bool
    stopped: bool
    error_title: str
    error_detail: str

    @property
    def is_user(self) -> bool:
        return self.role == Role.USER


def message_view(message: Message) -> MessageView:
    assistant = message.role == Role.ASSISTANT
    failed = bool(message.error_code)
    return MessageView(
        id=str(message.pk),
        role=message.role,
        status=message.status,
        content=message.content,
        # A user's own text is shown as typed; only the model's answer is markdown.
        html=render_markdown(message.content) if assistant and message.content else "",
        model_name=message.model_name,
        streaming=message.status in UNFINISHED_STATUSES,
        stopped=message.status == "stopped",
        error_title=ERROR_TITLES.get(message.error_code, DEFAULT_ERROR_TITLE) if failed else "",
        error_detail=message.error_message if failed else "",
    )


def render_message(message: Message) -> str:
    return render_to_string("chat/_message.html", {"m": message_view(message)})


@dataclass(frozen=True, slots=True)
class ModelChoice:
    name: str
    label: str
    selected: bool


def model_label(config: ModelConfig) -> str:
    # The demo model answers canned text: say so even if an admin renamed it.
    if config.provider == Provider.DEMO and "offline" not in config.display_name.lower():
        return f"{config.display_name} (offline)"
    return config.display_name


def model_choices(conversation: Conversation | None) -> list[ModelChoice]:
    configs = list(ModelConfig.objects.filter(enabled=True))
    current = conversation.model_config_id if conversation is not None else None
    if current not in {c.pk for c in configs}:
        current = next((c.pk for c in configs if c.is_default), None)
    return [ModelChoice(c.name, model_label(c), c.pk == current) for c in configs]
