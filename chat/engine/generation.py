"""One Generation per assistant message: relay the provider's stream, then finalise once."""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from django.conf import settings

from chat.engine import presence, store
from chat.engine.checkpoints import checkpoints
from chat.engine.store import FinalState, Turn
from chat.errors import ChatError, ErrorCode
from chat.eventlog import EventLog
from chat.events import Event, EventType
from chat.models import Status
from chat.providers import stream_function
from chat.providers.base import Finish, ResponseMeta, TextDelta, Usage
from chat.providers.retry import stream_with_retries

logger = logging.getLogger(__name__)


class StopReason(StrEnum):
    USER = "stopped"  # an explicit stop command
    CLIENT_GONE = "client_gone"  # a one-shot stream's client disconnected


@dataclass(frozen=True, slots=True)
class Outcome:
    status: Status
    finish_reason: str
    error: ChatError | None = None


class Generation:
    """Runs as its own task; transports only subscribe to its event log or ask it to stop."""

    def __init__(self, turn: Turn, log: EventLog) -> None:
        self.turn = turn
        self.key = str(turn.assistant_message_id)
        self.task: asyncio.Task[None] | None = None
        self._log = log
        self._seq = 0
        self._parts: list[str] = []
        self._started = time.monotonic()
        self._ttft_ms: int | None = None
        self._input_tokens: int | None = None
        self._output_tokens: int | None = None
        self._finish_reason = ""
        self._request_id = ""
        self._stop_reason: StopReason | None = None
        self._relaying = False
        self._finalising = False

    def stop(self, reason: StopReason) -> bool:
        """Cancel the upstream request; the partial answer is kept. False if already ending."""
        if self._finalising or self.task is None or self.task.done():
            return False
        if self._stop_reason is None:
            self._stop_reason = reason
            # Cancel only inside the relay: before it, the relay sees the reason and does not
            # start; after it, a cancel would break the final write.
            if self._relaying:
                self.task.cancel()
        return True

    async def announce(self) -> None:
        """Open the log with the start event, before the task runs.

        Whoever gets the Generation back can subscribe at once and find the log there.
        """
        await self._emit(
            EventType.START,
            {
                "conversation_id": str(self.turn.conversation_id),
                "message_id": self.key,
                "user_message_id": str(self.turn.user_message_id),
                "model": self.turn.model_name,
            },
        )

    async def run(self) -> None:
        try:
            outcome = await self._relay()
        except asyncio.CancelledError:
            # Cancelled by someone other than stop(): the server is shutting down.
            await self._finalise(
                Outcome(
                    Status.INTERRUPTED,
                    "error",
                    ChatError(ErrorCode.INTERNAL, "The server stopped during the answer."),
                )
            )
            raise
        await self._finalise(outcome)

    async def _relay(self) -> Outcome:
        """Pump provider events into the log; every way this ends becomes an Outcome."""
        if self._stop_reason is not None:
            return Outcome(Status.STOPPED, self._stop_reason.value)
        provider_stream = stream_function(self.turn.provider)
        self._relaying = True
        try:
            async with asyncio.timeout(settings.CHAT_GENERATION_TIMEOUT_SECONDS):
                async for event in stream_with_retries(provider_stream, self.turn.request):
                    if isinstance(event, TextDelta):
                        await self._on_text(event.text)
                    elif isinstance(event, Usage):
                        if event.input_tokens is not None:
                            self._input_tokens = event.input_tokens
                        if event.output_tokens is not None:
                            self._output_tokens = event.output_tokens
                    elif isinstance(event, Finish):
                        self._finish_reason = event.reason
                    elif isinstance(event, ResponseMeta):
                        self._request_id = event.request_id
            return Outcome(Status.COMPLETE, self._finish_reason or "stop")
        except asyncio.CancelledError:
            if self._stop_reason is None:
                raise
            # Our own stop(): the cancel has done its work (the upstream response is closed).
            asyncio.current_task().uncancel()  # type: ignore[union-attr]
            return Outcome(Status.STOPPED, self._stop_reason.value)
        except ChatError as error:
            return self._failed(error)
        except TimeoutError:
            limit = settings.CHAT_GENERATION_TIMEOUT_SECONDS
            return self._failed(
                ChatError(ErrorCode.UPSTREAM_TIMEOUT, f"The answer took longer than {limit:g}s.")
            )
        except Exception:
            logger.exception("Generation %s crashed", self.key)
            return self._failed(ChatError(ErrorCode.INTERNAL, "The server failed mid-answer."))
        finally:
            self._relaying = False

    def _failed(self, error: ChatError) -> Outcome:
        # Text already shown to the user is kept: the answer was interrupted, not lost.
        status = Status.INTERRUPTED if self._parts else Status.ERROR
        return Outcome(status, "error", error)

    async def _on_text(self, text: str) -> None:
        now = time.monotonic()
        if self._ttft_ms is None:
            self._ttft_ms = round((now - self._started) * 1000)
        self._parts.append(text)
        await self._emit(EventType.TOKEN, {"token": text, "done": False})
        # Saved with the other answers' text at the next checkpoint, never per token.
        checkpoints.mark(self.turn.assistant_message_id, self._text)

    def _text(self) -> str:
        return "".join(self._parts)

    async def _finalise(self, outcome: Outcome) -> None:
        self._finalising = True
        checkpoints.forget(self.turn.assistant_message_id)
        content = self._text()
        duration_ms = round((time.monotonic() - self._started) * 1000)
        error = outcome.error
        final = FinalState(
            status=outcome.status,
            content=content,
            finish_reason=outcome.finish_reason,
            input_tokens=self._input_tokens,
            # Providers report usage at the end; a stopped or cut answer gets none. Each text
            # chunk is about one token with every provider we speak, so count those instead.
            output_tokens=(
                self._output_tokens if self._output_tokens is not None else len(self._parts) or None
            ),
            ttft_ms=self._ttft_ms,
            duration_ms=duration_ms,
            error_code=error.code.value if error else "",
            error_message=error.message if error else "",
            upstream_request_id=self._request_id,
            client_connected=await presence.anyone_watching(self.key),
        )
        saved = False
        try:
            saved = await store.finalise_message(self.turn.assistant_message_id, final)
        except Exception:
            logger.exception("Final write of %s failed", self.key)
        await self._emit(
            EventType.MESSAGE,
            {"message_id": self.key, "content": content, "status": outcome.status.value},
        )
        if error is None:
            await self._emit(EventType.DONE, self._done_data(final))
        else:
            data: dict[str, Any] = {
                "done": True,
                "error": error.message,
                "error_code": error.code.value,
                "message_id": self.key,
                "partial_content_saved": saved and bool(content),
            }
            if error.retry_after is not None:
                data["retry_after"] = error.retry_after
            await self._emit(EventType.ERROR, data)
        await self._log.close(self.key)

    def _done_data(self, final: FinalState) -> dict[str, Any]:
        total = None
        if final.input_tokens is not None or final.output_tokens is not None:
            total = (final.input_tokens or 0) + (final.output_tokens or 0)
        return {
            "done": True,
            "finish_reason": final.finish_reason,
            "usage": {"input_tokens": final.input_tokens, "output_tokens": final.output_tokens},
            "total_tokens": total,
            "response_time": round(final.duration_ms / 1000, 3),
            "ttft_ms": final.ttft_ms,
            "conversation_id": str(self.turn.conversation_id),
            "message_id": self.key,
        }

    async def _emit(self, event_type: EventType, data: dict[str, Any]) -> None:
        self._seq += 1
        await self._log.append(self.key, Event(self._seq, event_type, data))
