"""Streaming analytics: the numbers, checked against generations with known values."""

from __future__ import annotations

import datetime
import re
from io import StringIO
from typing import Any

import pytest
from django.core.management import call_command
from django.urls import reverse

from chat.analytics import Outcome, build_report, percentile, tokens_per_second
from chat.models import Conversation, Message, ModelConfig, Role, Status
from tests.admin_fixtures import add_message, browser_for, demo_model, make_reviewer

pytestmark = pytest.mark.django_db

DAY_ONE = datetime.date(2026, 3, 1)
DAY_TWO = datetime.date(2026, 3, 2)
ANALYTICS = reverse("admin:chat_generationrecord_analytics")
GENERATIONS = reverse("admin:chat_generationrecord_changelist")


def at(day: datetime.date, hour: int = 12, minute: int = 0, second: int = 0) -> datetime.datetime:
    return datetime.datetime.combine(day, datetime.time(hour, minute, second), tzinfo=datetime.UTC)


def answer(
    conversation: Conversation,
    config: ModelConfig,
    created_at: datetime.datetime,
    status: str = Status.COMPLETE,
    **fields: Any,
) -> Message:
    defaults: dict[str, Any] = {"input_tokens": 10, "client_connected": True}
    return add_message(
        conversation,
        Role.ASSISTANT,
        "text",
        created_at=created_at,
        status=status,
        model_config=config,
        model_name=config.name,
        model_config_version=config.version,
        **(defaults | fields),
    )


@pytest.fixture
def known_generations() -> tuple[ModelConfig, ModelConfig]:
    """Thirteen generations over two days, two models, every outcome, plus noise outside.

    Day one, model A: six complete answers with TTFT 100..600 ms and 10..60 tokens streamed
    in the second after the first token (10..60 tok/s); one stopped by the user (TTFT 700,
    2 tok/s); one whose client went away (TTFT 800, 2 tok/s, disconnected).
    Day two, model B: one interrupted (TTFT 900, 5 tok/s, 2 reconnects); two RATE_LIMIT
    errors (one with the client gone); one AUTH error; one still streaming (TTFT 1000).
    """
    model_a = demo_model("model-a", display_name="Model A")
    model_b = demo_model("model-b", display_name="Model B", is_default=False)
    conversation = Conversation.objects.create(owner=None, anonymous_id="x", title="Known")
    add_message(conversation, Role.USER, "not a generation", created_at=at(DAY_ONE))
    for index in range(6):
        ttft = 100 * (index + 1)
        answer(
            conversation,
            model_a,
            at(DAY_ONE, minute=index),
            finish_reason="stop",
            ttft_ms=ttft,
            duration_ms=ttft + 1000,
            output_tokens=10 * (index + 1),
            reconnect_count=1 if index == 0 else 0,
        )
    answer(
        conversation,
        model_a,
        at(DAY_ONE, 13),
        Status.STOPPED,
        finish_reason="stopped",
        ttft_ms=700,
        duration_ms=1700,
        output_tokens=2,
    )
    answer(
        conversation,
        model_a,
        at(DAY_ONE, 14),
        Status.STOPPED,
        finish_reason="client_gone",
        ttft_ms=800,
        duration_ms=2800,
        output_tokens=4,
        client_connected=False,
    )
    answer(
        conversation,
        model_b,
        at(DAY_TWO, 0, 0, 0),
        Status.INTERRUPTED,
        finish_reason="error",
        ttft_ms=900,
        duration_ms=1900,
        output_tokens=5,
        error_code="UPSTREAM_CLOSED",
        reconnect_count=2,
    )
    for connected in (True, False):
        answer(
            conversation,
            model_b,
            at(DAY_TWO, 1),
            Status.ERROR,
            finish_reason="error",
            duration_ms=50,
            error_code="RATE_LIMIT",
            client_connected=connected,
        )
    answer(
        conversation,
        model_b,
        at(DAY_TWO, 2),
        Status.ERROR,
        finish_reason="error",
        duration_ms=40,
        error_code="AUTH",
    )
    answer(
        conversation,
        model_b,
        at(DAY_TWO, 23, 59, 59),
        Status.STREAMING,
        ttft_ms=1000,
        client_connected=None,
    )
    # Just outside the period on both sides.
    answer(
        conversation,
        model_a,
        at(DAY_ONE, 0) - datetime.timedelta(microseconds=1),
        ttft_ms=5,
        duration_ms=100,
        output_tokens=50,
    )
    answer(
        conversation,
        model_a,
        at(DAY_TWO + datetime.timedelta(days=1), 0),
        ttft_ms=5,
        duration_ms=100,
        output_tokens=50,
    )
    return model_a, model_b


def test_outcome_counts_and_rates(known_generations: Any) -> None:
    report = build_report(DAY_ONE, DAY_TWO)
    assert report.started == 13
    assert report.finished == 12
    assert report.outcomes == {
        Outcome.COMPLETE: 6,
        Outcome.STOPPED: 1,
        Outcome.CLIENT_GONE: 1,
        Outcome.INTERRUPTED: 1,
        Outcome.ERROR: 3,
        Outcome.RUNNING: 1,
    }
    assert report.success_rate == 6 / 12
    assert report.stop_rate == 1 / 12
    assert report.client_gone_rate == 1 / 12
    assert report.error_rate == 4 / 12
    assert report.errors_by_code == [("RATE_LIMIT", 2), ("AUTH", 1), ("UPSTREAM_CLOSED", 1)]


def test_ttft_percentiles_and_median_speed(known_generations: Any) -> None:
    report = build_report(DAY_ONE, DAY_TWO)
    # TTFTs 100, 200, ..., 1000: nearest rank 5, 10 and 10 of 10.
    assert report.ttft_count == 10
    assert (report.ttft_percentile(0.5), report.ttft_percentile(0.95)) == (500, 1000)
    assert report.ttft_percentile(0.99) == 1000
    # Speeds 2, 2, 5, 10, 20, 30, 40, 50, 60 tok/s (the running one has no duration yet).
    assert report.tokens_per_second_p50 == 20.0


def test_tokens_by_model_per_day_and_connections(known_generations: Any) -> None:
    report = build_report(DAY_ONE, DAY_TWO)
    assert report.models == ["Model A", "Model B"]
    tokens = {row.day: row.by_model for row in report.tokens_by_day}
    # Day one: 8 inputs of 10, outputs 10+20+...+60 = 210, 2 and 4.
    assert tokens[DAY_ONE] == {"Model A": 80 + 210 + 2 + 4, "Model B": 0}
    # Day two: 5 inputs of 10 and the interrupted answer's 5 output tokens.
    assert tokens[DAY_TWO] == {"Model A": 0, "Model B": 55}
    assert (report.disconnects, report.reconnects, report.reconnected_generations) == (2, 3, 2)
    days = {row.day: row for row in report.days}
    assert (days[DAY_ONE].started, days[DAY_TWO].started) == (8, 5)
    assert (days[DAY_ONE].disconnects, days[DAY_TWO].disconnects) == (1, 1)
    assert (days[DAY_ONE].reconnects, days[DAY_TWO].reconnects) == (1, 2)


def test_one_model_and_one_day(known_generations: Any) -> None:
    _model_a, model_b = known_generations
    only_b = build_report(DAY_ONE, DAY_TWO, model_b.pk)
    assert only_b.started == 5
    assert only_b.errors_by_code == [("RATE_LIMIT", 2), ("AUTH", 1), ("UPSTREAM_CLOSED", 1)]
    day_one = build_report(DAY_ONE, DAY_ONE)
    assert (day_one.started, day_one.outcomes[Outcome.COMPLETE]) == (8, 6)
    assert [row.day for row in day_one.days] == [DAY_ONE]


def test_an_empty_period_has_no_rates_rather_than_zero_division() -> None:
    report = build_report(DAY_ONE, DAY_TWO)
    assert (report.started, report.success_rate, report.ttft_percentile(0.5)) == (0, None, None)
    assert report.tokens_per_second_p50 is None


def test_percentile_is_nearest_rank_and_speed_needs_time_after_the_first_token() -> None:
    assert percentile([(10, 1), (20, 1), (30, 1), (40, 1)], 0.5) == 20
    assert percentile([(10, 1), (20, 1), (30, 1), (40, 1)], 0.51) == 30
    assert percentile([(7, 100)], 0.99) == 7
    assert tokens_per_second(100, 2100, 100) == 50.0
    assert tokens_per_second(1, 2100, 100) is None
    assert tokens_per_second(100, 100, 100) is None


def table_after(page: str, heading: str) -> dict[str, list[str]]:
    """The rows of the first table after a heading: first cell -> the other cells."""
    section = page[page.index(heading) :]
    table = section[: section.index("</table>")]
    rows = {}
    for row in re.findall(r"<tr>(.*?)</tr>", table, re.S):
        found = [
            re.sub(r"<[^>]+>", "", c).strip()
            for c in re.findall(r"<t[hd][^>]*>(.*?)</t[hd]>", row, re.S)
        ]
        rows[found[0]] = found[1:]
    return rows


def test_analytics_page_shows_the_numbers_with_a_chart_beside_each_table(
    known_generations: Any,
) -> None:
    model_a, _model_b = known_generations
    browser = browser_for(make_reviewer())
    page = browser.get(ANALYTICS, {"start": DAY_ONE, "end": DAY_TWO}).text

    summary = table_after(page, "Summary")
    assert summary["Streams started"] == ["13"]
    assert summary["Success rate"] == ["50.0 %"]
    assert summary["Stop rate (stopped by user)"] == ["8.3 %"]
    assert summary["Error rate (error or interrupted)"] == ["33.3 %"]
    speed = table_after(page, "Time to first token and speed")
    assert speed["TTFT p50"] == ["500 ms"]
    assert speed["TTFT p95"] == ["1000 ms"]
    assert speed["TTFT p99"] == ["1000 ms"]
    assert speed["Tokens/s p50"] == ["20.0"]
    assert speed["Disconnected at the end"] == ["2"]
    assert speed["Reconnects"] == ["3 (in 2 generations)"]
    errors = table_after(page, 'id="errors-heading"')
    assert errors["RATE_LIMIT"] == ["2", "16.7 %"]
    tokens = table_after(page, 'id="tokens-heading"')
    assert tokens["2026-03-01"] == ["296", "0", "296"]
    assert tokens["2026-03-02"] == ["0", "55", "55"]
    # Five charts, each an inline SVG with its table beside it; no script anywhere.
    assert page.count('<svg class="chart"') == 5
    assert page.count('<div class="chart-with-table">') == 5
    assert '<script src="http' not in page

    only_a = browser.get(ANALYTICS, {"start": DAY_ONE, "end": DAY_TWO, "model": model_a.pk}).text
    assert table_after(only_a, "Summary")["Streams started"] == ["8"]


def test_analytics_links_each_error_code_to_its_generations(known_generations: Any) -> None:
    browser = browser_for(make_reviewer())
    page = browser.get(ANALYTICS, {"start": DAY_ONE, "end": DAY_TWO}).text
    link = re.search(r'<a href="([^"]+error_code=RATE_LIMIT[^"]*)">RATE_LIMIT</a>', page)
    assert link is not None
    listing = browser.get(link.group(1).replace("&amp;", "&"))
    assert listing.status_code == 200
    assert [r.error_code for r in listing.context["cl"].result_list] == ["RATE_LIMIT"] * 2


def test_generation_list_filters_by_outcome_and_hides_the_text(known_generations: Any) -> None:
    browser = browser_for(make_reviewer())
    gone = browser.get(GENERATIONS, {"outcome": "client_gone"})
    [record] = gone.context["cl"].result_list
    assert record.finish_reason == "client_gone"
    everything = browser.get(GENERATIONS)
    assert len(everything.context["cl"].result_list) == 15  # assistant messages only
    detail = browser.get(reverse("admin:chat_generationrecord_change", args=[record.pk])).text
    assert "Client gone" in detail and ">text<" not in detail


def test_invalid_period_is_explained() -> None:
    page = browser_for(make_reviewer()).get(ANALYTICS, {"start": DAY_TWO, "end": DAY_ONE})
    assert "The period must start before it ends." in page.text


def test_sample_data_command_fills_the_pages_and_cleans_up() -> None:
    out = StringIO()
    call_command("generate_sample_data", messages=400, days=3, users=5, stdout=out)
    assert Message.objects.count() == 400
    browser = browser_for(make_reviewer())
    summary = table_after(browser.get(ANALYTICS).text, "Summary")
    assert summary["Streams started"] == ["200"]
    assert browser.get(reverse("admin:chat_conversation_changelist")).status_code == 200
    call_command("generate_sample_data", delete=True, stdout=out)
    assert Message.objects.count() == 0
    assert not ModelConfig.objects.filter(name__startswith="sample-").exists()
