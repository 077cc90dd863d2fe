"""One Generation per assistant message: relay the provider's stream, then finalise once."""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass
from enum import StrEnum

from django.conf import settings

from chat.engine import event_builder, presence, store
from chat.engine.checkpoints import checkpoints
from chat.engine.store import FinalState, Turn
from chat.errors import ChatError, ErrorCode
from chat.eventlog import EventLog
from chat.events import Event
from chat.models import Status
from chat.providers import stream_function
from chat.providers.base import Finish, ResponseMeta, TextDelta, Usage
from chat.providers.retry import stream_with_retries

logger = logging.getLogger(__name__)


class StopReason(StrEnum):
    USER = "stopped"  # an explicit stop command
    CLIENT_GONE = "client_gone"  # a one-shot stream's client disconnected


@dataclass(frozen=True, slots=True)
class RelayResult:
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
            event_builder.start(
                conversation_id=str(self.turn.conversation_id),
                message_id=self.key,
                user_message_id=str(self.turn.user_message_id),
                model=self.turn.model_name,
            )
        )

    async def run(self) -> None:
        try:
            outcome = await self._relay()
        except asyncio.CancelledError:
            # Cancelled by someone other than stop(): the server is shutting down.
            await self._finalise(
                RelayResult(
                    Status.INTERRUPTED,
                    "error",
                    ChatError(ErrorCode.INTERNAL, "The server stopped during the answer."),
                )
            )
            raise
        await self._finalise(outcome)

    async def _relay(self) -> RelayResult:
        """Pump provider events into the log; every way this ends becomes a RelayResult."""
        if self._stop_reason is not None:
            return RelayResult(Status.STOPPED, self._stop_reason.value)
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
            return RelayResult(Status.COMPLETE, self._finish_reason or "stop")
        except asyncio.CancelledError:
            if self._stop_reason is None:
                raise
            # Our own stop(): the cancel has done its work (the upstream response is closed).
            task = asyncio.current_task()
            assert task is not None  # we are inside the generation's task
            task.uncancel()
            return RelayResult(Status.STOPPED, self._stop_reason.value)
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

    def _failed(self, error: ChatError) -> RelayResult:
        # Text already shown to the user is kept: the answer was interrupted, not lost.
        status = Status.INTERRUPTED if self._parts else Status.ERROR
        return RelayResult(status, "error", error)

    async def _on_text(self, text: str) -> None:
        now = time.monotonic()
        if self._ttft_ms is None:
            self._ttft_ms = round((now - self._started) * 1000)
        self._parts.append(text)
        await self._emit(event_builder.token(text))
        # Saved with the other answers' text at the next checkpoint, never per token.
        checkpoints.get().mark(self.turn.assistant_message_id, self._text)

    def _text(self) -> str:
        return "".join(self._parts)

    async def _finalise(self, outcome: RelayResult) -> None:
        self._finalising = True
        checkpoints.get().forget(self.turn.assistant_message_id)
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
        for payload in event_builder.closing(
            final,
            conversation_id=str(self.turn.conversation_id),
            message_id=self.key,
            saved=saved,
            retry_after=error.retry_after if error else None,
        ):
            await self._emit(payload)
        await self._log.close(self.key)

    async def _emit(self, payload: event_builder.Payload) -> None:
        self._seq += 1
        await self._log.append(self.key, Event(self._seq, *payload))
