"""Streaming analytics in admin: the list of generations and the analytics page.

Both need only `chat.view_generationrecord`: numbers about answers, never their text.
"""

from __future__ import annotations

import datetime
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from django import forms
from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.db.models import Q, QuerySet
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.urls import URLPattern, path, reverse
from django.utils import timezone
from django.utils.html import format_html

from chat.admin import charts
from chat.admin.readonly import ReadOnlyAdmin
from chat.admin.transcripts import ModelFilter
from chat.analytics import (
    CLIENT_GONE_REASON,
    FINISHED_OUTCOMES,
    Outcome,
    Report,
    build_report,
    outcome_of,
    tokens_per_second,
)
from chat.errors import ErrorCode
from chat.models import UNFINISHED_STATUSES, GenerationRecord, ModelConfig, Role, Status

MAX_DAYS = 366
DEFAULT_DAYS = 7
PRESET_DAYS = (1, 7, 30, 90)
OUTCOME_COLOURS = {
    Outcome.COMPLETE: "#009E73",
    Outcome.STOPPED: "#E69F00",
    Outcome.CLIENT_GONE: "#999999",
    Outcome.INTERRUPTED: "#D55E00",
    Outcome.ERROR: "#CC0000",
    Outcome.RUNNING: "#56B4E9",
}
# Upper edges (ms) of the TTFT chart's buckets; the last bucket is open-ended.
TTFT_EDGES_MS = (100, 250, 500, 750, 1000, 1500, 2000, 3000, 5000, 10000)


def outcome_filter(outcome: Outcome) -> Q:
    if outcome is Outcome.RUNNING:
        return Q(status__in=UNFINISHED_STATUSES)
    if outcome is Outcome.CLIENT_GONE:
        return Q(status=Status.STOPPED, finish_reason=CLIENT_GONE_REASON)
    if outcome is Outcome.STOPPED:
        return Q(status=Status.STOPPED) & ~Q(finish_reason=CLIENT_GONE_REASON)
    return Q(status=outcome.value)


class OutcomeFilter(admin.SimpleListFilter):
    title = "outcome"
    parameter_name = "outcome"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [(outcome.value, outcome.label) for outcome in Outcome]

    def queryset(self, request: HttpRequest, queryset: QuerySet[GenerationRecord]) -> Any:
        value = self.value()
        if value in {outcome.value for outcome in Outcome}:
            return queryset.filter(outcome_filter(Outcome(value)))
        return queryset


class ErrorCodeFilter(admin.SimpleListFilter):
    """The shared error vocabulary, so the filter never scans the table for its choices."""

    title = "error code"
    parameter_name = "error_code"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [(code.value, code.value) for code in ErrorCode]

    def queryset(self, request: HttpRequest, queryset: QuerySet[GenerationRecord]) -> Any:
        return queryset.filter(error_code=self.value()) if self.value() else queryset


class AnalyticsForm(forms.Form):
    start = forms.DateField(required=False, widget=forms.DateInput(attrs={"type": "date"}))
    end = forms.DateField(required=False, widget=forms.DateInput(attrs={"type": "date"}))
    model = forms.ModelChoiceField(
        ModelConfig.objects.order_by("display_name"), required=False, empty_label="All models"
    )

    def clean(self) -> dict[str, Any]:
        super().clean()
        data = self.cleaned_data
        today = timezone.now().date()
        end = data.get("end") or today
        start = data.get("start") or end - datetime.timedelta(days=DEFAULT_DAYS - 1)
        if start > end:
            raise forms.ValidationError("The period must start before it ends.")
        if (end - start).days >= MAX_DAYS:
            raise forms.ValidationError(f"Choose at most {MAX_DAYS} days.")
        data["start"], data["end"] = start, end
        return data


def percent(rate: float | None) -> str:
    return "—" if rate is None else f"{rate * 100:.1f} %"


def ttft_buckets(histogram: list[tuple[int, int]]) -> list[tuple[str, int]]:
    counts = [0] * (len(TTFT_EDGES_MS) + 1)
    for value, count in histogram:
        index = next((i for i, edge in enumerate(TTFT_EDGES_MS) if value < edge), -1)
        counts[index] += count
    labels = [f"<{edge:,}" for edge in TTFT_EDGES_MS]
    labels.append(f"≥{TTFT_EDGES_MS[-1]:,}")
    return list(zip(labels, counts, strict=True))


def bucket_index(value: int | None) -> int:
    if value is None:
        return -1
    return next((i for i, edge in enumerate(TTFT_EDGES_MS) if value < edge), len(TTFT_EDGES_MS))


@dataclass(frozen=True, slots=True)
class ErrorRow:
    code: str
    count: int
    share: str
    list_url: str


def period_query(report: Report, model: ModelConfig | None) -> dict[str, str]:
    """Filters for the generation list that match the report's period and model."""
    since = datetime.datetime.combine(report.start, datetime.time.min, tzinfo=datetime.UTC)
    until = datetime.datetime.combine(
        report.end + datetime.timedelta(days=1), datetime.time.min, tzinfo=datetime.UTC
    )
    query = {"created_at__gte": str(since), "created_at__lt": str(until)}
    if model is not None:
        query["model_config__id__exact"] = str(model.pk)
    return query


def analytics_context(report: Report, model: ModelConfig | None) -> dict[str, Any]:
    day_labels = [row.day.strftime("%m-%d") for row in report.days]
    # Every way to finish, and the running ones only when there are any.
    shown_outcomes = [
        *FINISHED_OUTCOMES,
        *([Outcome.RUNNING] if report.outcomes[Outcome.RUNNING] else []),
    ]
    list_url = reverse("admin:chat_generationrecord_changelist")
    base_query = period_query(report, model)
    ttft = {
        name: report.ttft_percentile(q) for name, q in (("p50", 0.5), ("p95", 0.95), ("p99", 0.99))
    }
    return {
        "report": report,
        "summary": [
            ("Streams started", f"{report.started:,}"),
            ("Finished", f"{report.finished:,}"),
            ("Success rate", percent(report.success_rate)),
            ("Stop rate (stopped by user)", percent(report.stop_rate)),
            ("Client gone (disconnected)", percent(report.client_gone_rate)),
            ("Error rate (error or interrupted)", percent(report.error_rate)),
            ("Still running", f"{report.outcomes[Outcome.RUNNING]:,}"),
        ],
        "outcome_columns": [o.label for o in shown_outcomes],
        "outcome_rows": [
            (row.day, [row.outcomes[o] for o in shown_outcomes], row.started) for row in report.days
        ],
        "outcome_chart": charts.stacked_bars(
            "Generations per day by outcome",
            day_labels,
            [
                charts.Series(o.label, [row.outcomes[o] for row in report.days], OUTCOME_COLOURS[o])
                for o in shown_outcomes
            ],
        ),
        "error_rows": [
            ErrorRow(
                code,
                count,
                percent(report.rate(count)),
                f"{list_url}?{urlencode({**base_query, 'error_code': code})}",
            )
            for code, count in report.errors_by_code
        ],
        "error_chart": charts.horizontal_bars(
            "Errors by code", report.errors_by_code, OUTCOME_COLOURS[Outcome.ERROR]
        ),
        "ttft": ttft,
        "ttft_count": report.ttft_count,
        "tokens_per_second_p50": report.tokens_per_second_p50,
        "ttft_buckets": ttft_buckets(report.ttft_histogram),
        "ttft_chart": charts.histogram(
            "Time to first token (ms)",
            ttft_buckets(report.ttft_histogram),
            [(name, bucket_index(value)) for name, value in ttft.items() if value is not None],
            "#0072B2",
        ),
        "models": report.models,
        "tokens_rows": [
            (row.day, list(row.by_model.values()), row.total) for row in report.tokens_by_day
        ],
        "tokens_totals": list(report.tokens_total_by_model.values()),
        "tokens_grand_total": sum(report.tokens_total_by_model.values()),
        "tokens_chart": charts.stacked_bars(
            "Tokens (input + output) per day by model",
            day_labels,
            [
                charts.Series(name, [row.by_model[name] for row in report.tokens_by_day])
                for name in report.models
            ],
        ),
        "connection_rows": [(row.day, row.disconnects, row.reconnects) for row in report.days],
        "connection_chart": charts.grouped_bars(
            "Disconnects and reconnects per day",
            day_labels,
            [
                charts.Series("disconnected at the end", [r.disconnects for r in report.days]),
                charts.Series("reconnects", [r.reconnects for r in report.days], "#E69F00"),
            ],
        ),
        "generations_url": f"{list_url}?{urlencode(base_query)}",
    }


@admin.register(GenerationRecord)
class GenerationRecordAdmin(ReadOnlyAdmin):
    """One row per generation, newest first, with its numbers and no text."""

    list_display = [
        "created_at",
        "model_column",
        "outcome",
        "finish_reason",
        "ttft_ms",
        "duration_ms",
        "input_tokens",
        "output_tokens",
        "speed",
        "error_code",
        "client_connected",
        "reconnect_count",
    ]
    list_filter = [
        OutcomeFilter,
        ("model_config", ModelFilter),
        ErrorCodeFilter,
        ("created_at", admin.DateFieldListFilter),
    ]
    list_select_related = ["model_config"]
    search_fields = ["=upstream_request_id"]
    search_help_text = "Find a generation by its exact upstream request id."
    ordering = ["-created_at"]
    show_full_result_count = False
    show_facets = admin.ShowFacets.NEVER
    fields = (
        "created_at",
        "finished_at",
        "model_column",
        "outcome",
        "status",
        "finish_reason",
        "ttft_ms",
        "duration_ms",
        "input_tokens",
        "output_tokens",
        "speed",
        "error_code",
        "error_message",
        "upstream_request_id",
        "client_connected",
        "reconnect_count",
        "worker_id",
    )
    readonly_fields = fields
    change_list_template = "admin/chat/generationrecord/change_list.html"

    class Media:
        css = {"all": ["admin-chat/admin-chat.css"]}

    def get_queryset(self, request: HttpRequest) -> QuerySet[GenerationRecord]:
        return super().get_queryset(request).filter(role=Role.ASSISTANT)

    def get_list_display(self, request: HttpRequest) -> list[str | Callable[[Any], str | bool]]:
        columns = list(super().get_list_display(request))
        # The link leads to the text: only for those allowed to read transcripts.
        if request.user.has_perm("chat.view_conversation"):
            columns.append("transcript")
        return columns

    @admin.display(description="model", ordering="model_name")
    def model_column(self, record: GenerationRecord) -> str:
        version = f" v{record.model_config_version}" if record.model_config_version else ""
        return f"{record.model_name}{version}"

    @admin.display(description="outcome")
    def outcome(self, record: GenerationRecord) -> str:
        return outcome_of(record.status, record.finish_reason).label

    @admin.display(description="tokens/s")
    def speed(self, record: GenerationRecord) -> str:
        value = tokens_per_second(record.output_tokens, record.duration_ms, record.ttft_ms)
        return "—" if value is None else f"{value:.1f}"

    @admin.display(description="transcript")
    def transcript(self, record: GenerationRecord) -> str:
        url = reverse("admin:chat_conversation_change", args=[record.conversation_id])
        return format_html('<a href="{}#message-{}">open</a>', url, record.pk)

    def get_urls(self) -> list[URLPattern]:
        return [
            path(
                "analytics/",
                self.admin_site.admin_view(self.analytics_view),
                name="chat_generationrecord_analytics",
            ),
            *super().get_urls(),
        ]

    def analytics_view(self, request: HttpRequest) -> HttpResponse:
        if not self.has_view_permission(request):
            raise PermissionDenied
        # Always bound: an empty query is a valid request for the default period.
        form = AnalyticsForm(request.GET)
        context: dict[str, Any] = {
            **self.admin_site.each_context(request),
            "title": "Streaming analytics",
            "opts": self.opts,
        }
        if form.is_valid():
            start, end = form.cleaned_data["start"], form.cleaned_data["end"]
            model = form.cleaned_data["model"]
            report = build_report(start, end, model.pk if model else None)
            context |= analytics_context(report, model)
            context["presets"] = [
                (
                    days,
                    urlencode(
                        {
                            "start": end - datetime.timedelta(days=days - 1),
                            "end": end,
                            **({"model": model.pk} if model else {}),
                        }
                    ),
                )
                for days in PRESET_DAYS
            ]
            # Show the period actually used, defaults included.
            form = AnalyticsForm({"start": start, "end": end, "model": model.pk if model else ""})
        context["form"] = form
        return TemplateResponse(request, "admin/chat/analytics.html", context)
