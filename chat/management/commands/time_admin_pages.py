"""Time the admin's list, transcript and analytics pages on the current database.

    python manage.py generate_sample_data --messages 1000000
    python manage.py time_admin_pages

Prints a Markdown table (the one in docs/analytics-performance.md): for each page, the
first request (cold caches) and the median of the next runs, and how many SQL queries it
made. Requests go through Django's test client, so no server or network is involved.
"""

from __future__ import annotations

import datetime
import statistics
import time
from typing import Any

from django.contrib.auth.models import User
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext, override_settings
from django.urls import reverse
from django.utils import timezone

from chat.models import Conversation, Message, ModelConfig

TIMER_USERNAME = "sample-timer"


class Command(BaseCommand):
    help = "Time admin pages (lists, transcript, analytics) against the current database."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--runs", type=int, default=5, help="timed runs after the first")

    def handle(self, *args: Any, runs: int, **options: Any) -> None:
        conversation = Conversation.objects.order_by("-updated_at").first()
        model = ModelConfig.objects.filter(name__startswith="sample-").first()
        if conversation is None or model is None:
            raise CommandError("No sample data: run generate_sample_data first.")
        timer, _created = User.objects.get_or_create(
            username=TIMER_USERNAME, defaults={"is_staff": True, "is_superuser": True}
        )
        self.stdout.write(
            f"{Message.objects.count():,} messages in {Conversation.objects.count():,} "
            f"conversations ({connection.vendor})\n"
        )
        self.stdout.write("| page | first (ms) | median (ms) | queries |\n|---|---:|---:|---:|")
        try:
            with override_settings(ALLOWED_HOSTS=["testserver"], DEBUG=False):
                browser = Client()
                browser.force_login(timer)
                for label, url in self.pages(conversation, model):
                    self.time_page(browser, label, url, runs)
        finally:
            timer.delete()

    def pages(self, conversation: Conversation, model: ModelConfig) -> list[tuple[str, str]]:
        conversations = reverse("admin:chat_conversation_changelist")
        generations = reverse("admin:chat_generationrecord_changelist")
        analytics = reverse("admin:chat_generationrecord_analytics")
        today = timezone.now().date()
        week = f"start={today - datetime.timedelta(days=6)}&end={today}"
        month = f"start={today - datetime.timedelta(days=29)}&end={today}"
        since = str(timezone.now() - datetime.timedelta(days=7)).replace("+", "%2B")
        return [
            ("Conversations: first page", conversations),
            ("Conversations: page 100", f"{conversations}?p=100"),
            ("Conversations: a message errored", f"{conversations}?status=errored"),
            ("Conversations: one model", f"{conversations}?model_config__id__exact={model.pk}"),
            ("Conversations: one user", f"{conversations}?user=sample-user-7"),
            ("Conversations: last 7 days", f"{conversations}?updated_at__gte={since}"),
            ("Conversations: search, common word", f"{conversations}?q=percentile"),
            ("Conversations: search, no match", f"{conversations}?q=zzz-no-such-text"),
            ("Transcript page", reverse("admin:chat_conversation_change", args=[conversation.pk])),
            ("Generations: first page", generations),
            ("Generations: errors only", f"{generations}?outcome=error"),
            ("Generations: RATE_LIMIT", f"{generations}?error_code=RATE_LIMIT"),
            ("Analytics: 7 days, all models", f"{analytics}?{week}"),
            ("Analytics: 30 days, all models", f"{analytics}?{month}"),
            ("Analytics: 30 days, one model", f"{analytics}?{month}&model={model.pk}"),
        ]

    def time_page(self, browser: Client, label: str, url: str, runs: int) -> None:
        timings = []
        queries = 0
        for _run in range(runs + 1):
            with CaptureQueriesContext(connection) as captured:
                started = time.perf_counter()
                response = browser.get(url)
                timings.append((time.perf_counter() - started) * 1000)
            if response.status_code != 200:
                raise CommandError(f"{url} answered {response.status_code}")
            queries = len(captured.captured_queries)
        first, rest = timings[0], timings[1:] or timings
        self.stdout.write(f"| {label} | {first:.0f} | {statistics.median(rest):.0f} | {queries} |")
