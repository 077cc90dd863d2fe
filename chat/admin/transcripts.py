"""Transcript review: the conversation list, its filters and search, and the transcript page.

Transcripts are records: nobody edits them in admin, and reviewers (view permission only)
cannot delete them either.
"""

from __future__ import annotations

import contextlib
import uuid
from dataclasses import dataclass
from typing import Any

from django.contrib import admin
from django.contrib.admin.views.main import ChangeList
from django.db.models import Count, Exists, OuterRef, Q, QuerySet, Sum
from django.db.models.expressions import Combinable
from django.http import HttpRequest, HttpResponse, HttpResponseBase
from django.urls import reverse
from django.utils.html import format_html_join
from django.utils.safestring import SafeString, mark_safe

from chat.admin.exports import csv_response, json_response
from chat.analytics import Outcome, outcome_of, tokens_per_second
from chat.markdown import render_markdown
from chat.models import (
    UNFINISHED_STATUSES,
    Conversation,
    Message,
    ModelConfigVersion,
    Role,
    Status,
)

FAILED_STATUSES = (Status.ERROR, Status.INTERRUPTED)


@dataclass(frozen=True, slots=True)
class ConversationStats:
    messages: int = 0
    tokens: int = 0
    errored: int = 0
    stopped: int = 0
    running: int = 0


def stats_for(conversation_ids: list[uuid.UUID]) -> dict[uuid.UUID, ConversationStats]:
    """Counts for one page of conversations, in one grouped query over their messages."""
    rows = (
        Message.objects.filter(conversation_id__in=conversation_ids)
        .values("conversation_id")
        .annotate(
            messages=Count("pk"),
            input_tokens=Sum("input_tokens"),
            output_tokens=Sum("output_tokens"),
            errored=Count("pk", filter=Q(status__in=FAILED_STATUSES)),
            stopped=Count("pk", filter=Q(status=Status.STOPPED)),
            running=Count("pk", filter=Q(status__in=UNFINISHED_STATUSES)),
        )
        .order_by()
    )
    return {
        row["conversation_id"]: ConversationStats(
            messages=row["messages"],
            tokens=(row["input_tokens"] or 0) + (row["output_tokens"] or 0),
            errored=row["errored"],
            stopped=row["stopped"],
            running=row["running"],
        )
        for row in rows
    }


class ConversationChangeList(ChangeList):
    """Adds per-conversation counts to the page being shown, and only to it.

    Annotating the whole queryset would make the database count the messages of every
    conversation (a million messages) to show a hundred rows, and again to paginate.
    """

    def get_results(self, request: HttpRequest) -> None:
        super().get_results(request)
        page = list(self.result_list)
        stats = stats_for([conversation.pk for conversation in page])
        for conversation in page:
            conversation.stats = stats.get(conversation.pk, ConversationStats())
        self.result_list = page


class ProblemFilter(admin.SimpleListFilter):
    title = "status"
    parameter_name = "status"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [
            ("errored", "A message errored"),
            ("stopped", "A message was stopped"),
            ("running", "An answer is streaming"),
            ("clean", "No errors or stops"),
        ]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Conversation]) -> Any:
        statuses = {
            "errored": FAILED_STATUSES,
            "stopped": (Status.STOPPED,),
            "running": UNFINISHED_STATUSES,
        }
        value = self.value()
        if value in statuses:
            return queryset.filter(pk__in=conversations_with(statuses[value]))
        if value == "clean":
            return queryset.exclude(pk__in=conversations_with((*FAILED_STATUSES, Status.STOPPED)))
        return queryset


def conversations_with(statuses: tuple[str, ...]) -> QuerySet[Message, Any]:
    # Served by the (status, created_at) index: only the few problem messages are read.
    return Message.objects.filter(status__in=statuses).values("conversation_id")


ANONYMOUS = "(anonymous)"


class UserFilter(admin.SimpleListFilter):
    """A username box rather than a list: a site has too many users to list them all."""

    title = "user"
    parameter_name = "user"
    template = "admin/chat/input_filter.html"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [(ANONYMOUS, "Anonymous visitors")]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Conversation]) -> Any:
        value = (self.value() or "").strip()
        if not value:
            return queryset
        if value == ANONYMOUS:
            return queryset.filter(owner__isnull=True)
        return queryset.filter(owner__username=value)

    def choices(self, changelist: ChangeList) -> Any:
        yield {
            "selected": self.value() is None,
            "query_string": changelist.get_query_string(remove=[self.parameter_name]),
            "display": "All",
        }
        yield {
            "selected": self.value() == ANONYMOUS,
            "query_string": changelist.get_query_string({self.parameter_name: ANONYMOUS}),
            "display": "Anonymous visitors",
        }
        # The box submits the other filters again as hidden fields.
        yield {
            "input": True,
            "value": "" if self.value() == ANONYMOUS else self.value() or "",
            "hidden": [
                (key, value)
                for key, value in changelist.params.items()
                if key not in (self.parameter_name, "p")
            ],
        }


class ModelFilter(admin.RelatedFieldListFilter):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.title = "model"


class LastActivityFilter(admin.DateFieldListFilter):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.title = "last activity"


@dataclass(frozen=True, slots=True)
class TranscriptEntry:
    message: Message
    html: SafeString | str
    outcome: Outcome | None
    tokens_per_second: float | None
    version_url: str

    @property
    def is_assistant(self) -> bool:
        return self.message.role == Role.ASSISTANT


def transcript(conversation: Conversation) -> list[TranscriptEntry]:
    messages = list(conversation.messages.order_by("position"))
    versions: dict[tuple[int | None, int | None], int] = {
        (config_id, version): pk
        for pk, config_id, version in ModelConfigVersion.objects.filter(
            model_config_id__in={m.model_config_id for m in messages if m.model_config_id}
        ).values_list("pk", "model_config_id", "version")
    }
    entries = []
    for message in messages:
        assistant = message.role == Role.ASSISTANT
        version_pk = versions.get((message.model_config_id, message.model_config_version))
        entries.append(
            TranscriptEntry(
                message=message,
                # Model output is markdown, sanitised by render_markdown; people type plain
                # text, shown as written (and escaped by the template).
                html=mark_safe(render_markdown(message.content)) if assistant else message.content,
                outcome=outcome_of(message.status, message.finish_reason) if assistant else None,
                tokens_per_second=tokens_per_second(
                    message.output_tokens, message.duration_ms, message.ttft_ms
                ),
                version_url=(
                    reverse("admin:chat_modelconfigversion_change", args=[version_pk])
                    if version_pk
                    else ""
                ),
            )
        )
    return entries


@admin.register(Conversation)
class ConversationAdmin(admin.ModelAdmin):
    list_display = [
        "title_or_id",
        "user",
        "model_column",
        "message_count",
        "last_activity",
        "tokens",
        "problems",
    ]
    list_display_links = ["title_or_id"]
    list_filter = [
        ("model_config", ModelFilter),
        ProblemFilter,
        ("updated_at", LastActivityFilter),
        UserFilter,
    ]
    list_select_related = ["owner", "model_config"]
    search_fields = ["title"]
    search_help_text = "Searches titles and the text of every message (and exact ids)."
    # One count of the filtered list is enough; the unfiltered total costs another.
    show_full_result_count = False
    show_facets = admin.ShowFacets.NEVER
    ordering = ["-updated_at"]
    actions = ["export_json", "export_csv"]
    fields = ("title", "user", "model_column", "created_at", "updated_at")
    readonly_fields = fields
    change_form_template = "admin/chat/conversation/change_form.html"

    class Media:
        css = {"all": ["admin-chat/admin-chat.css"]}

    def get_changelist(self, request: HttpRequest, **kwargs: Any) -> type[ChangeList]:
        return ConversationChangeList

    def get_search_results(
        self, request: HttpRequest, queryset: QuerySet[Conversation], search_term: str
    ) -> tuple[QuerySet[Conversation], bool]:
        term = search_term.strip()
        if not term:
            return queryset, False
        # Text search reads every message's text (no index helps a substring match): see
        # docs/analytics-performance.md for what that costs with a million messages.
        matches: Q | Combinable = Q(title__icontains=term) | Exists(
            Message.objects.filter(conversation=OuterRef("pk"), content__icontains=term)
        )
        with contextlib.suppress(ValueError):  # not an id: search the text only
            matches |= Q(pk=uuid.UUID(term))
        # Exists instead of a join: a conversation matching twice is still listed once.
        return queryset.filter(matches), False

    @admin.display(description="title", ordering="title")
    def title_or_id(self, conversation: Conversation) -> str:
        return conversation.title or f"(untitled {str(conversation.pk)[:8]})"

    @admin.display(description="user", ordering="owner__username")
    def user(self, conversation: Conversation) -> str:
        return conversation.owner.get_username() if conversation.owner else ANONYMOUS

    @admin.display(description="model")
    def model_column(self, conversation: Conversation) -> str:
        return str(conversation.model_config) if conversation.model_config else "—"

    @admin.display(description="last activity", ordering="updated_at")
    def last_activity(self, conversation: Conversation) -> Any:
        return conversation.updated_at

    @admin.display(description="messages")
    def message_count(self, conversation: Conversation) -> int:
        return self._stats(conversation).messages

    @admin.display(description="tokens")
    def tokens(self, conversation: Conversation) -> int:
        return self._stats(conversation).tokens

    @admin.display(description="errors / stops")
    def problems(self, conversation: Conversation) -> str:
        stats = self._stats(conversation)
        badges = [
            (css, label)
            for count, css, label in (
                (stats.errored, "error", "errored"),
                (stats.stopped, "stopped", "stopped"),
                (stats.running, "running", "streaming"),
            )
            if count
        ]
        return format_html_join(" ", '<span class="badge badge-{}">{}</span>', badges) or "—"

    @staticmethod
    def _stats(conversation: Conversation) -> ConversationStats:
        # Set by ConversationChangeList for the rows of the page being shown.
        return getattr(conversation, "stats", None) or ConversationStats()

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def change_view(
        self,
        request: HttpRequest,
        object_id: str,
        form_url: str = "",
        extra_context: dict[str, Any] | None = None,
    ) -> HttpResponse:
        conversation = self.get_object(request, object_id)
        context = dict(extra_context or {})
        if conversation is not None and self.has_view_permission(request, conversation):
            context["transcript"] = transcript(conversation)
        return super().change_view(request, object_id, form_url, context)

    @admin.action(description="Export selected conversations as JSON", permissions=["view"])
    def export_json(
        self, request: HttpRequest, queryset: QuerySet[Conversation]
    ) -> HttpResponseBase:
        return json_response(queryset)

    @admin.action(description="Export selected conversations as CSV", permissions=["view"])
    def export_csv(
        self, request: HttpRequest, queryset: QuerySet[Conversation]
    ) -> HttpResponseBase:
        return csv_response(queryset)
