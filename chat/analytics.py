"""Streaming analytics: what happened to the answers generated in a period.

Every number comes from the finished assistant Messages (one per generation), in three
grouped queries that run the same on SQLite and PostgreSQL:

1. counts and token sums per day, model, status, finish reason and error code;
2. how many answers had each TTFT (whole milliseconds);
3. how many had each streaming speed (tenths of a token per second).

Percentiles are read off the histograms 2 and 3 exactly (nearest rank), so no database
needs percentile functions and no row is ever loaded one by one.
"""

from __future__ import annotations

import datetime
import math
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from enum import StrEnum

from django.db.models import (
    BigIntegerField,
    Count,
    DateField,
    F,
    Func,
    IntegerField,
    Q,
    QuerySet,
    Sum,
)
from django.db.models.functions import Cast

from chat.models import UNFINISHED_STATUSES, Message, ModelConfig, Role, Status


class Outcome(StrEnum):
    """How a generation ended, in the words reviewers use."""

    COMPLETE = "complete"
    STOPPED = "stopped"  # the user pressed stop
    CLIENT_GONE = "client_gone"  # the client disconnected, which stopped the answer
    INTERRUPTED = "interrupted"  # the provider failed after some text arrived
    ERROR = "error"  # the provider failed before any text
    RUNNING = "running"  # not finished yet

    @property
    def label(self) -> str:
        return OUTCOME_LABELS[self]


OUTCOME_LABELS = {
    Outcome.COMPLETE: "Complete",
    Outcome.STOPPED: "Stopped by user",
    Outcome.CLIENT_GONE: "Client gone",
    Outcome.INTERRUPTED: "Interrupted",
    Outcome.ERROR: "Error",
    Outcome.RUNNING: "Still running",
}
FINISHED_OUTCOMES = tuple(o for o in Outcome if o is not Outcome.RUNNING)
CLIENT_GONE_REASON = "client_gone"


def outcome_of(status: str, finish_reason: str) -> Outcome:
    if status in UNFINISHED_STATUSES:
        return Outcome.RUNNING
    if status == Status.STOPPED and finish_reason == CLIENT_GONE_REASON:
        return Outcome.CLIENT_GONE
    return Outcome(status)


def tokens_per_second(
    output_tokens: int | None, duration_ms: int | None, ttft_ms: int | None
) -> float | None:
    """Streaming speed: output tokens over the time from the first token to the end.

    None when it cannot be told: fewer than two tokens, or no time after the first one.
    """
    if output_tokens is None or output_tokens < 2 or duration_ms is None or ttft_ms is None:
        return None
    streaming_ms = duration_ms - ttft_ms
    if streaming_ms <= 0:
        return None
    return output_tokens * 1000 / streaming_ms


def percentile(histogram: Iterable[tuple[int, int]], fraction: float) -> int | None:
    """Nearest-rank percentile of (value, count) pairs: the smallest value with at least
    `fraction` of all counts at or below it."""
    pairs = sorted((value, count) for value, count in histogram if count > 0)
    total = sum(count for _value, count in pairs)
    if total == 0:
        return None
    rank = max(1, math.ceil(fraction * total))
    seen = 0
    for value, count in pairs:
        seen += count
        if seen >= rank:
            return value
    return pairs[-1][0]


class Day(Func):
    """The UTC calendar day of a timestamp.

    DATE() exists natively in both SQLite and PostgreSQL (whose sessions Django keeps in
    UTC); Django's TruncDate would call a Python function per row on SQLite.
    """

    function = "DATE"
    output_field = DateField()


def generations(
    start: datetime.datetime, end: datetime.datetime, model_config_id: int | None = None
) -> QuerySet[Message]:
    """Answers whose generation started in [start, end), of one model or all."""
    rows = Message.objects.filter(role=Role.ASSISTANT, created_at__gte=start, created_at__lt=end)
    if model_config_id is not None:
        rows = rows.filter(model_config_id=model_config_id)
    return rows


@dataclass
class DayRow:
    day: datetime.date
    outcomes: dict[Outcome, int] = field(default_factory=lambda: dict.fromkeys(Outcome, 0))
    disconnects: int = 0
    reconnects: int = 0

    @property
    def started(self) -> int:
        return sum(self.outcomes.values())


@dataclass
class TokensRow:
    day: datetime.date
    by_model: dict[str, int]

    @property
    def total(self) -> int:
        return sum(self.by_model.values())


@dataclass
class Report:
    start: datetime.date
    end: datetime.date  # inclusive
    outcomes: dict[Outcome, int]
    errors_by_code: list[tuple[str, int]]
    days: list[DayRow]
    models: list[str]
    tokens_by_day: list[TokensRow]
    ttft_histogram: list[tuple[int, int]]
    speed_histogram_tenths: list[tuple[int, int]]
    disconnects: int
    reconnects: int
    reconnected_generations: int

    @property
    def started(self) -> int:
        return sum(self.outcomes.values())

    @property
    def finished(self) -> int:
        return self.started - self.outcomes[Outcome.RUNNING]

    def rate(self, count: int) -> float | None:
        """A share of the finished generations; None when none finished."""
        return count / self.finished if self.finished else None

    @property
    def success_rate(self) -> float | None:
        return self.rate(self.outcomes[Outcome.COMPLETE])

    @property
    def stop_rate(self) -> float | None:
        return self.rate(self.outcomes[Outcome.STOPPED])

    @property
    def client_gone_rate(self) -> float | None:
        return self.rate(self.outcomes[Outcome.CLIENT_GONE])

    @property
    def error_rate(self) -> float | None:
        return self.rate(self.outcomes[Outcome.ERROR] + self.outcomes[Outcome.INTERRUPTED])

    def ttft_percentile(self, fraction: float) -> int | None:
        return percentile(self.ttft_histogram, fraction)

    @property
    def ttft_count(self) -> int:
        return sum(count for _value, count in self.ttft_histogram)

    @property
    def tokens_per_second_p50(self) -> float | None:
        tenths = percentile(self.speed_histogram_tenths, 0.5)
        return None if tenths is None else tenths / 10

    @property
    def tokens_total_by_model(self) -> dict[str, int]:
        totals: dict[str, int] = dict.fromkeys(self.models, 0)
        for row in self.tokens_by_day:
            for model, tokens in row.by_model.items():
                totals[model] += tokens
        return totals


DELETED_MODEL = "(deleted model)"


def model_labels() -> dict[int | None, str]:
    labels: dict[int | None, str] = dict(ModelConfig.objects.values_list("pk", "display_name"))
    labels[None] = DELETED_MODEL
    return labels


def build_report(
    start: datetime.date, end: datetime.date, model_config_id: int | None = None
) -> Report:
    """Analytics for the UTC days start..end (both included), for one model or all."""
    since = datetime.datetime.combine(start, datetime.time.min, tzinfo=datetime.UTC)
    until = datetime.datetime.combine(
        end + datetime.timedelta(days=1), datetime.time.min, tzinfo=datetime.UTC
    )
    rows = generations(since, until, model_config_id)
    labels = model_labels()

    outcomes = dict.fromkeys(Outcome, 0)
    errors: dict[str, int] = defaultdict(int)
    days = {
        start + datetime.timedelta(days=offset): DayRow(start + datetime.timedelta(days=offset))
        for offset in range((end - start).days + 1)
    }
    tokens: dict[datetime.date, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    used_models: set[str] = set()
    disconnects = reconnects = reconnected = 0

    grouped = (
        rows.values(
            "model_config_id", "status", "finish_reason", "error_code", day=Day("created_at")
        )
        .annotate(
            count=Count("*"),
            input_tokens=Sum("input_tokens"),
            output_tokens=Sum("output_tokens"),
            disconnects=Count("created_at", filter=Q(client_connected=False)),
            reconnects=Sum("reconnect_count"),
            reconnected=Count("created_at", filter=Q(reconnect_count__gt=0)),
        )
        .order_by()
    )
    for group in grouped:
        outcome = outcome_of(group["status"], group["finish_reason"])
        count = group["count"]
        outcomes[outcome] += count
        if group["error_code"]:
            errors[group["error_code"]] += count
        day_row = days.get(group["day"])
        if day_row is None:  # only if the database's idea of a day differs from ours
            day_row = days[group["day"]] = DayRow(group["day"])
        day_row.outcomes[outcome] += count
        day_row.disconnects += group["disconnects"]
        day_row.reconnects += group["reconnects"] or 0
        disconnects += group["disconnects"]
        reconnects += group["reconnects"] or 0
        reconnected += group["reconnected"]
        model = labels.get(group["model_config_id"], DELETED_MODEL)
        used_models.add(model)
        tokens[group["day"]][model] += (group["input_tokens"] or 0) + (group["output_tokens"] or 0)

    models = sorted(used_models)
    return Report(
        start=start,
        end=end,
        outcomes=outcomes,
        errors_by_code=sorted(errors.items(), key=lambda item: (-item[1], item[0])),
        days=[days[day] for day in sorted(days)],
        models=models,
        tokens_by_day=[
            TokensRow(day, {model: tokens[day].get(model, 0) for model in models})
            for day in sorted(days)
        ],
        ttft_histogram=ttft_histogram(rows),
        speed_histogram_tenths=speed_histogram_tenths(rows),
        disconnects=disconnects,
        reconnects=reconnects,
        reconnected_generations=reconnected,
    )


def ttft_histogram(rows: QuerySet[Message]) -> list[tuple[int, int]]:
    """(ttft_ms, how many answers had it), for every answer that got a first token."""
    counted = (
        rows.filter(ttft_ms__isnull=False)
        .values("ttft_ms")
        .annotate(count=Count("*"))
        .order_by("ttft_ms")
    )
    # The filter leaves no None; the comprehension says so to the type checker.
    return [(row["ttft_ms"], row["count"]) for row in counted if row["ttft_ms"] is not None]


def speed_histogram_tenths(rows: QuerySet[Message]) -> list[tuple[int, int]]:
    """(tokens per second in tenths, how many answers), as tokens_per_second() counts them.

    Integer arithmetic, truncated to a tenth, so both databases agree to the digit.
    """
    speed = Cast(F("output_tokens"), BigIntegerField()) * 10_000 / (F("duration_ms") - F("ttft_ms"))
    counted = (
        rows.filter(
            output_tokens__gte=2,
            ttft_ms__isnull=False,
            duration_ms__gt=F("ttft_ms"),
        )
        .annotate(speed_tenths=Cast(speed, IntegerField()))
        .values("speed_tenths")
        .annotate(count=Count("*"))
        .order_by("speed_tenths")
    )
    return [(row["speed_tenths"], row["count"]) for row in counted]
