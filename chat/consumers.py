"""The WebSocket transport: one conversation's feed out, `send`/`stop`/`resume` in.

A thin adapter like the SSE views: the engine runs the answers, the event log carries
them; this sends the same events (JSON text frames with message_id and seq).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import uuid
from collections.abc import Coroutine
from typing import Any

from channels.generic.websocket import AsyncWebsocketConsumer
from django.conf import settings

from chat import conversations
from chat.engine import runtime, stopping
from chat.engine.event_builder import stream_failure
from chat.engine.subscribe import answer_events, conversation_feed, event_batches
from chat.errors import ChatError, ErrorCode
from chat.events import event_json
from chat.owners import Owner
from chat.ownership import aowner_for
from chat.ratelimit import enforce_rate_limit
from chat.validation import checked_seq, message_text, model_name, required_uuid

logger = logging.getLogger(__name__)

NEW_CONVERSATION = "new"
# Close codes in the 4000 range are the application's own (RFC 6455).
CLOSE_UNAUTHORISED = 4401
CLOSE_NOT_FOUND = 4404
CLOSE_SERVER_ERROR = 1011


class ConversationConsumer(AsyncWebsocketConsumer):
    owner: Owner
    conversation_id: uuid.UUID | None

    async def connect(self) -> None:
        owner = await aowner_for(self.scope.get("user"), self.scope.get("session"))
        if owner is None:
            await self.close(code=CLOSE_UNAUTHORISED)
            return
        self.owner = owner
        self.tasks: set[asyncio.Task[None]] = set()
        # Answers this socket already forwards (shared with the feed: nothing twice).
        self.followed: set[str] = set()
        requested = self.scope["url_route"]["kwargs"]["conversation_id"]
        self.conversation_id = None
        if requested != NEW_CONVERSATION:
            try:
                self.conversation_id = uuid.UUID(requested)
                await conversations.aowned_conversation(owner, self.conversation_id)
            except (ValueError, ChatError):
                await self.close(code=CLOSE_NOT_FOUND)
                return
        await self.accept()
        if self.conversation_id is not None:
            self.spawn(self.send_feed(self.conversation_id))

    async def disconnect(self, code: int) -> None:
        # Leaving never stops an answer: only the forwarding tasks end.
        for task in getattr(self, "tasks", ()):
            task.cancel()

    def spawn(self, forwarding: Coroutine[Any, Any, None], message_id: str | None = None) -> None:
        task = asyncio.create_task(self.guarded(forwarding, message_id))
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    async def guarded(self, forwarding: Coroutine[Any, Any, None], message_id: str | None) -> None:
        """Forward events; if that fails on our side, an `error` event and a clean close
        (the answer goes on: a client that reconnects resumes it), never silence."""
        try:
            await forwarding
        except Exception:
            logger.exception("WebSocket forwarding failed (answer %s)", message_id)
            with contextlib.suppress(Exception):
                await self.send(text_data=event_json(*stream_failure(message_id)))
                await self.close(code=CLOSE_SERVER_ERROR)

    async def send_feed(self, conversation_id: uuid.UUID) -> None:
        async def unfinished() -> list[str]:
            return await conversations.aunfinished_answer_ids(self.owner, conversation_id)

        heartbeat = settings.CHAT_HEARTBEAT_SECONDS
        feed = conversation_feed(
            str(conversation_id),
            unfinished,
            None,
            heartbeat,
            event_batches(heartbeat),
            followed=self.followed,
        )
        async for item in feed:
            if item is not None:
                message_id, batch = item
                for event in batch:
                    await self.send(text_data=event.tagged_json(message_id))

    async def send_answer(self, message_id: str, after: int) -> None:
        async for batch in answer_events(message_id, after, settings.CHAT_HEARTBEAT_SECONDS):
            for event in batch:
                await self.send(text_data=event.tagged_json(message_id))

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        try:
            command = json.loads(text_data or "")
            if not isinstance(command, dict):
                raise ValueError
        except ValueError:
            await self.command_error(ChatError(ErrorCode.BAD_REQUEST, "Send JSON objects."))
            return
        handlers = {"send": self.on_send, "stop": self.on_stop, "resume": self.on_resume}
        handler = handlers.get(str(command.get("type")))
        if handler is None:
            await self.command_error(
                ChatError(ErrorCode.BAD_REQUEST, "type must be send, stop or resume.")
            )
            return
        try:
            await handler(command)
        except ChatError as error:
            await self.command_error(error)
        except Exception:
            logger.exception("WebSocket command failed")
            await self.command_error(ChatError(ErrorCode.INTERNAL, "Internal server error."))

    async def command_error(self, error: ChatError) -> None:
        await self.send(
            text_data=json.dumps(
                {"type": "command_error", "error_code": error.code.value, "error": error.message}
            )
        )

    async def on_send(self, command: dict[str, Any]) -> None:
        text = message_text(command)
        model = model_name(command)
        await enforce_rate_limit(self.owner)
        generation = await runtime.start_generation(
            owner=self.owner, text=text, conversation_id=self.conversation_id, model_name=model
        )
        # Follow our own answer directly: the feed may learn of it too late (a fast
        # answer can end before a new feed subscribes), or, on a new conversation, not at all.
        if generation.key not in self.followed:
            self.followed.add(generation.key)
            self.spawn(self.send_answer(generation.key, 0), generation.key)
        if self.conversation_id is None:
            # The first message made the conversation: watch it for other tabs' answers.
            self.conversation_id = generation.turn.conversation_id
            self.spawn(self.send_feed(self.conversation_id))

    async def on_stop(self, command: dict[str, Any]) -> None:
        await stopping.stop_and_wait(self.owner, required_uuid(command, "message_id"))

    async def on_resume(self, command: dict[str, Any]) -> None:
        message_id = required_uuid(command, "message_id")
        after = checked_seq(command.get("after", 0), "after")
        # Only an answer of this socket's conversation: anything else is not found.
        if self.conversation_id is None:
            raise ChatError(ErrorCode.NOT_FOUND, "Answer not found.")
        await conversations.aowned_answer(self.owner, message_id, self.conversation_id)
        self.spawn(self.send_answer(str(message_id), after), str(message_id))
