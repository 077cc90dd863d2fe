"""A provider-neutral plan of what a streaming response sends, and when.

The wire modules know what each event looks like; `build_plan` knows the scenario's
choreography (ttft, pacing, empty deltas, comments, cut/hang/error points). Building the
whole plan up front keeps the sending loop in the server tiny and fast.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Protocol

from tests.fake_upstream.scenarios import Scenario
from tests.fake_upstream.sse import SseFramer


class EventSource(Protocol):
    """The provider-specific events of one streaming response, already SSE-framed."""

    def prelude(self) -> list[bytes]: ...

    def body(self) -> list[tuple[bytes, bool]]:
        """The events after the prelude, each flagged True if it is a streamed piece
        (a text token, a reasoning delta, an argument fragment)."""
        ...

    def empty_delta(self) -> bytes: ...

    def finish(self) -> list[bytes]: ...

    def midstream_error(self) -> list[bytes]: ...


class Ending(enum.Enum):
    TERMINATE = "terminate"  # zero-length chunk: the HTTP body ends properly
    CUT = "cut"  # close the TCP connection with the chunked body unfinished
    HANG = "hang"  # send nothing more; wait for the client to go away


@dataclass
class Batch:
    """Events written back to back after waiting `pause_before` seconds."""

    pause_before: float
    events: list[bytes] = field(default_factory=list)
    token_flags: list[bool] = field(default_factory=list)


@dataclass
class Plan:
    batches: list[Batch]
    ending: Ending


class _PlanBuilder:
    def __init__(self, framer: SseFramer, with_comments: bool) -> None:
        self._framer = framer
        self._with_comments = with_comments
        self.batches: list[Batch] = [Batch(pause_before=0.0)]

    def pause(self, seconds: float) -> None:
        if seconds > 0:
            self.batches.append(Batch(pause_before=seconds))

    def add(self, event: bytes, *, is_token: bool = False) -> None:
        batch = self.batches[-1]
        if self._with_comments:
            batch.events.append(self._framer.comment)
            batch.token_flags.append(False)
        batch.events.append(event)
        batch.token_flags.append(is_token)

    def build(self, ending: Ending) -> Plan:
        return Plan(
            batches=[batch for batch in self.batches if batch.events or batch.pause_before],
            ending=ending,
        )


def _fault_at(scenario: Scenario, tokens_sent: int) -> str | None:
    """The fault firing once `tokens_sent` pieces are out; cut beats hang beats error."""
    if scenario.cut_after is not None and tokens_sent == scenario.cut_after:
        return "cut"
    if scenario.hang_after is not None and tokens_sent == scenario.hang_after:
        return "hang"
    if scenario.error_after is not None and tokens_sent == scenario.error_after:
        return "error"
    return None


def build_plan(source: EventSource, scenario: Scenario, framer: SseFramer) -> Plan:
    builder = _PlanBuilder(framer, with_comments=scenario.comments)

    def faulted(pieces_sent: int) -> Plan | None:
        fault = _fault_at(scenario, pieces_sent)
        if fault == "cut":
            return builder.build(Ending.CUT)
        if fault == "hang":
            return builder.build(Ending.HANG)
        if fault == "error":
            for event in source.midstream_error():
                builder.add(event)
            return builder.build(Ending.TERMINATE)
        return None

    for event in source.prelude():
        builder.add(event)
    builder.pause(scenario.ttft)
    body = source.body()
    total = sum(is_piece for _, is_piece in body)
    if total == 0 and (plan := faulted(0)):
        return plan
    sent = 0
    for event, is_piece in body:
        if not is_piece:
            builder.add(event)
            continue
        if plan := faulted(sent):
            return plan
        if sent > 0:
            builder.pause(scenario.token_delay)
        if scenario.empty_deltas:
            builder.add(source.empty_delta())
        builder.add(event, is_token=True)
        sent += 1
        # After the last piece, before the events that close its block.
        if sent == total and (plan := faulted(sent)):
            return plan
    for event in source.finish():
        builder.add(event)
    return builder.build(Ending.TERMINATE)
