"""Thread-safe bookkeeping shared by the server loop thread and the test thread."""

from __future__ import annotations

import copy
import threading
import time
import uuid
from typing import Any

from tests.fake_upstream.scenarios import Failure, RecordedRequest, Scenario


class Registry:
    """Scenarios by id, failure consumption, and the log of recorded requests.

    Every mutation happens under one Condition and wakes all waiters, so tests can block
    on "N requests arrived" or "the latest request closed" instead of sleeping.
    """

    def __init__(self) -> None:
        self._condition = threading.Condition()
        self._scenarios: dict[str, Scenario] = {}
        self._failures_consumed: dict[str, int] = {}
        self._records: list[RecordedRequest] = []

    def add(self, scenario: Scenario, scenario_id: str | None = None) -> str:
        scenario_id = scenario_id or uuid.uuid4().hex
        with self._condition:
            self._scenarios[scenario_id] = scenario
            self._failures_consumed[scenario_id] = 0
        return scenario_id

    def scenario(self, scenario_id: str) -> Scenario | None:
        with self._condition:
            return self._scenarios.get(scenario_id)

    def take_failure(self, scenario_id: str) -> Failure | None:
        """Consume and return the next failure of the scenario; None once exhausted."""
        with self._condition:
            scenario = self._scenarios[scenario_id]
            index = self._failures_consumed[scenario_id]
            if index >= len(scenario.failures):
                return None
            self._failures_consumed[scenario_id] = index + 1
            return scenario.failures[index]

    def record(self, recorded: RecordedRequest) -> None:
        with self._condition:
            self._records.append(recorded)
            self._condition.notify_all()

    def update(self, recorded: RecordedRequest, **changes: Any) -> None:
        with self._condition:
            for name, value in changes.items():
                setattr(recorded, name, value)
            self._condition.notify_all()

    def close(
        self,
        recorded: RecordedRequest,
        *,
        closed_at: float | None = None,
        **changes: Any,
    ) -> None:
        """Mark the request finished (once); later calls keep the first closed_at."""
        with self._condition:
            if recorded.closed_at is None:
                for name, value in changes.items():
                    setattr(recorded, name, value)
                recorded.closed_at = closed_at if closed_at is not None else time.monotonic()
            self._condition.notify_all()

    def _matching(self, scenario_id: str | None) -> list[RecordedRequest]:
        return [r for r in self._records if scenario_id is None or r.scenario_id == scenario_id]

    def snapshot(self, scenario_id: str | None = None) -> list[RecordedRequest]:
        with self._condition:
            return [copy.copy(r) for r in self._matching(scenario_id)]

    def wait_for_requests(
        self, scenario_id: str, count: int, timeout: float
    ) -> list[RecordedRequest]:
        with self._condition:
            if not self._condition.wait_for(
                lambda: len(self._matching(scenario_id)) >= count, timeout
            ):
                seen = len(self._matching(scenario_id))
                raise TimeoutError(
                    f"scenario {scenario_id!r}: {seen} of {count} requests after {timeout}s"
                )
            return [copy.copy(r) for r in self._matching(scenario_id)]

    def wait_closed(self, scenario_id: str, timeout: float) -> RecordedRequest:
        def latest_closed() -> bool:
            matching = self._matching(scenario_id)
            return bool(matching) and matching[-1].closed_at is not None

        with self._condition:
            if not self._condition.wait_for(latest_closed, timeout):
                raise TimeoutError(
                    f"scenario {scenario_id!r}: latest request not closed after {timeout}s"
                )
            return copy.copy(self._matching(scenario_id)[-1])
