"""'An answer started in conversation X', for everyone watching X (other tabs, sockets).

Carried by the Channels layer: in-process by default, channels_redis across workers.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from types import TracebackType

from channels.layers import get_channel_layer

logger = logging.getLogger(__name__)

STARTED = "generation.started"


def conversation_group(conversation_id: uuid.UUID | str) -> str:
    return f"chat.conversation.{uuid.UUID(str(conversation_id)).hex}"


async def announce_started(conversation_id: uuid.UUID, message_id: str) -> None:
    layer = get_channel_layer()
    if layer is None:
        return
    try:
        await layer.group_send(
            conversation_group(conversation_id), {"type": STARTED, "message_id": message_id}
        )
    except Exception:
        # Watchers miss a live start (they still see it on reload); the answer goes on.
        logger.exception("Could not announce answer %s", message_id)


class ConversationNotices:
    """Subscribe to a conversation's notices: `async with ConversationNotices(id) as n`."""

    def __init__(self, conversation_id: uuid.UUID | str) -> None:
        self.group = conversation_group(conversation_id)
        self.layer = get_channel_layer()
        self.channel = ""

    async def __aenter__(self) -> ConversationNotices:
        self.channel = await self.layer.new_channel()
        await self.layer.group_add(self.group, self.channel)
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.layer.group_discard(self.group, self.channel)

    async def next_started(self, wait: float) -> str | None:
        """The id of the next answer started, or None if `wait` seconds passed."""
        try:
            async with asyncio.timeout(wait):
                while True:
                    notice = await self.layer.receive(self.channel)
                    if notice.get("type") == STARTED:
                        return str(notice["message_id"])
        except TimeoutError:
            return None
