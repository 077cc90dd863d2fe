"""Fill the database with made-up conversations, to measure admin pages at scale.

    python manage.py generate_sample_data --messages 1000000 --days 30
    python manage.py generate_sample_data --delete

Everything it makes is recognisable and removable: users are named sample-user-N, models
sample-* (disabled, so users never see them). Numbers follow rough real-world shapes:
log-normal TTFT and answer length, a few percent of stops, disconnects and errors.
"""

from __future__ import annotations

import datetime
import random
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from django.contrib.auth.models import User
from django.core.management.base import BaseCommand, CommandParser
from django.db import transaction
from django.utils import timezone

from chat.errors import ErrorCode
from chat.models import Conversation, Message, ModelConfig, Provider, Role, Status

USER_PREFIX = "sample-user-"
MODEL_PREFIX = "sample-"
SAMPLE_MODELS = (
    ("sample-fast", "Sample fast", 350, 90.0),  # name, display name, TTFT median ms, tok/s
    ("sample-smart", "Sample smart", 900, 45.0),
    ("sample-local", "Sample local", 150, 25.0),
)
# (status, finish_reason, weight): how answers end.
OUTCOMES = (
    (Status.COMPLETE, "stop", 880),
    (Status.COMPLETE, "length", 30),
    (Status.STOPPED, "stopped", 30),
    (Status.STOPPED, "client_gone", 20),
    (Status.INTERRUPTED, "error", 15),
    (Status.ERROR, "error", 25),
)
ERROR_CODES = (
    (ErrorCode.RATE_LIMIT, 40),
    (ErrorCode.UPSTREAM_ERROR, 25),
    (ErrorCode.UPSTREAM_TIMEOUT, 15),
    (ErrorCode.UPSTREAM_CLOSED, 15),
    (ErrorCode.AUTH, 5),
)
WORDS = (
    "the",
    "model",
    "answer",
    "stream",
    "token",
    "latency",
    "django",
    "admin",
    "python",
    "database",
    "index",
    "query",
    "cache",
    "error",
    "retry",
    "upstream",
    "provider",
    "conversation",
    "message",
    "review",
    "export",
    "analytics",
    "chart",
    "percentile",
    "throughput",
    "markdown",
    "table",
    "code",
    "function",
    "request",
    "response",
    "server",
    "client",
)
QUESTIONS = (
    "How do I add an index to a Django model?",
    "Explain time to first token in one paragraph.",
    "Write a Python function that reverses a list.",
    "What is the difference between p50 and p99 latency?",
    "Summarise this conversation so far.",
    "Why does my stream stop after a minute?",
)


def words(rng: random.Random, count: int) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(count))


def answer_text(rng: random.Random, length: int) -> str:
    # A little markdown, so transcripts render as they would for real answers.
    body = words(rng, max(3, length // 6))
    return f"**Answer.** {body}\n\n- {words(rng, 6)}\n- {words(rng, 5)}\n"


@contextmanager
def explicit_timestamps() -> Iterator[None]:
    """Let bulk_create keep the timestamps we give (auto_now would overwrite them)."""
    fields = [
        Conversation._meta.get_field("created_at"),
        Conversation._meta.get_field("updated_at"),
        Message._meta.get_field("created_at"),
    ]
    saved = [(field, field.auto_now, field.auto_now_add) for field in fields]
    for field in fields:
        field.auto_now = field.auto_now_add = False
    try:
        yield
    finally:
        for field, auto_now, auto_now_add in saved:
            field.auto_now, field.auto_now_add = auto_now, auto_now_add


class Command(BaseCommand):
    help = "Generate made-up conversations (or --delete them) to measure admin at scale."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--messages", type=int, default=10_000)
        parser.add_argument("--days", type=int, default=30, help="spread over the last N days")
        parser.add_argument("--users", type=int, default=500)
        parser.add_argument("--seed", type=int, default=1)
        parser.add_argument("--batch", type=int, default=5_000, help="rows per insert")
        parser.add_argument("--delete", action="store_true", help="remove all sample data")

    def handle(self, *args: Any, **options: Any) -> None:
        if options["delete"]:
            self.delete()
            return
        rng = random.Random(options["seed"])
        users = self.sample_users(options["users"])
        models = self.sample_models()
        started = time.monotonic()
        written = 0
        with explicit_timestamps():
            for conversations, messages in self.batches(rng, users, models, options):
                with transaction.atomic():
                    Conversation.objects.bulk_create(conversations)
                    Message.objects.bulk_create(messages)
                written += len(messages)
                self.stdout.write(f"\r{written:,} messages", ending="")
                self.stdout.flush()
        self.stdout.write(f"\nDone in {time.monotonic() - started:.0f}s.")

    def delete(self) -> None:
        conversations = Conversation.objects.filter(owner__username__startswith=USER_PREFIX)
        deleted, _ = Message.objects.filter(conversation__in=conversations).delete()
        conversations.delete()
        User.objects.filter(username__startswith=USER_PREFIX).delete()
        ModelConfig.objects.filter(name__startswith=MODEL_PREFIX, is_default=False).delete()
        self.stdout.write(f"Deleted the sample data ({deleted:,} rows with messages).")

    def sample_users(self, count: int) -> list[User]:
        existing = set(
            User.objects.filter(username__startswith=USER_PREFIX).values_list("username", flat=True)
        )
        User.objects.bulk_create(
            [
                User(username=f"{USER_PREFIX}{index}")
                for index in range(count)
                if f"{USER_PREFIX}{index}" not in existing
            ]
        )
        return list(User.objects.filter(username__startswith=USER_PREFIX)[:count])

    def sample_models(self) -> list[tuple[ModelConfig, int, float]]:
        models = []
        for name, display_name, ttft_ms, speed in SAMPLE_MODELS:
            config, created = ModelConfig.objects.get_or_create(
                name=name,
                defaults={
                    "display_name": display_name,
                    "provider": Provider.OPENAI,
                    "base_url": "http://127.0.0.1:9/v1",
                    "enabled": False,
                },
            )
            if created:  # a second version, so answers carry different config versions
                config.temperature = 0.7
                config.save()
            models.append((config, ttft_ms, speed))
        return models

    def batches(
        self,
        rng: random.Random,
        users: list[User],
        models: list[tuple[ModelConfig, int, float]],
        options: dict[str, Any],
    ) -> Iterator[tuple[list[Conversation], list[Message]]]:
        now = timezone.now()
        span = options["days"] * 86_400
        remaining = options["messages"]
        conversations: list[Conversation] = []
        messages: list[Message] = []
        while remaining > 0:
            pairs = min(rng.randint(1, 10), max(1, remaining // 2))
            config, ttft_ms, speed = rng.choice(models)
            moment = now - datetime.timedelta(seconds=rng.uniform(0, span))
            conversation = Conversation(
                id=uuid.uuid4(),
                owner=rng.choice(users),
                title=rng.choice(QUESTIONS)[:60],
                model_config=config,
                created_at=moment,
            )
            for pair in range(pairs):
                question = rng.choice(QUESTIONS) + " " + words(rng, rng.randint(2, 25))
                messages.append(
                    Message(
                        conversation=conversation,
                        role=Role.USER,
                        content=question,
                        position=pair * 2,
                        created_at=moment,
                    )
                )
                answer = self.answer(rng, conversation, pair * 2 + 1, config, ttft_ms, speed)
                answer.created_at = moment + datetime.timedelta(milliseconds=5)
                answer.finished_at = answer.created_at + datetime.timedelta(
                    milliseconds=answer.duration_ms or 0
                )
                messages.append(answer)
                moment = answer.created_at + datetime.timedelta(
                    milliseconds=(answer.duration_ms or 0) + rng.randint(5_000, 120_000)
                )
            conversation.updated_at = min(moment, now)
            conversations.append(conversation)
            remaining -= pairs * 2
            if len(messages) >= options["batch"]:
                yield conversations, messages
                conversations, messages = [], []
        if messages:
            yield conversations, messages

    def answer(
        self,
        rng: random.Random,
        conversation: Conversation,
        position: int,
        config: ModelConfig,
        ttft_median_ms: int,
        speed: float,
    ) -> Message:
        status, finish_reason = rng.choices(
            [(s, f) for s, f, _w in OUTCOMES], weights=[w for _s, _f, w in OUTCOMES]
        )[0]
        answer = Message(
            conversation=conversation,
            role=Role.ASSISTANT,
            position=position,
            status=status,
            finish_reason=finish_reason,
            model_config=config,
            model_name=config.name,
            model_config_version=rng.randint(1, config.version),
            input_tokens=rng.randint(20, 4_000),
            upstream_request_id=f"sample-{uuid.uuid4().hex[:16]}",
            client_connected=finish_reason != "client_gone" and rng.random() > 0.01,
            reconnect_count=rng.choice((1, 1, 2, 3)) if rng.random() < 0.02 else 0,
        )
        if status == Status.ERROR:
            answer.error_code = rng.choices(
                [c for c, _w in ERROR_CODES], weights=[w for _c, w in ERROR_CODES]
            )[0]
            answer.error_message = "Sample failure."
            answer.duration_ms = rng.randint(50, 3_000)
            answer.output_tokens = None
        else:
            answer.ttft_ms = max(20, round(rng.lognormvariate(0, 0.6) * ttft_median_ms))
            tokens = max(2, round(rng.lognormvariate(0, 0.8) * 250))
            if status != Status.COMPLETE:
                tokens = max(2, tokens // 3)
            answer.output_tokens = tokens
            tokens_per_second = max(1.0, rng.gauss(speed, speed / 5))
            answer.duration_ms = answer.ttft_ms + round(tokens / tokens_per_second * 1000)
            answer.content = answer_text(rng, tokens * 4)
            if status == Status.INTERRUPTED:
                answer.error_code = ErrorCode.UPSTREAM_CLOSED
                answer.error_message = "Sample cut-off."
        return answer
