"""Who a conversation belongs to: a signed-in user, or an anonymous browser session."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.db.models import QuerySet

from chat.models import Conversation, Message


@dataclass(frozen=True, slots=True)
class Owner:
    user_id: int | None = None
    # For anonymous chat: a random id kept in the browser's session data.
    anonymous_id: str = ""

    def __post_init__(self) -> None:
        if (self.user_id is None) == (not self.anonymous_id):
            raise ValueError("An owner is either a user or an anonymous session, not both.")

    @classmethod
    def user(cls, user_id: int) -> Owner:
        return cls(user_id=user_id)

    @classmethod
    def anonymous(cls, anonymous_id: str) -> Owner:
        return cls(anonymous_id=anonymous_id)

    @property
    def key(self) -> str:
        """A stable string for rate limits and logs."""
        return f"user:{self.user_id}" if self.user_id is not None else f"anon:{self.anonymous_id}"

    def fields(self) -> dict[str, Any]:
        """Conversation fields that record this owner."""
        return {"owner_id": self.user_id, "anonymous_id": self.anonymous_id}

    def conversations(self) -> QuerySet[Conversation]:
        if self.user_id is not None:
            return Conversation.objects.filter(owner_id=self.user_id)
        return Conversation.objects.filter(owner__isnull=True, anonymous_id=self.anonymous_id)

    def messages(self) -> QuerySet[Message]:
        return Message.objects.filter(conversation__in=self.conversations())
