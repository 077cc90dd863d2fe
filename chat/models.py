"""Persistent state: model configurations, conversations, messages and API keys."""

from __future__ import annotations

import hashlib
import os
import secrets
import uuid
from typing import Any
from urllib.parse import urlsplit

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MinValueValidator, RegexValidator
from django.db import models, transaction
from django.utils import timezone


class Provider(models.TextChoices):
    OPENAI = "openai", "OpenAI-compatible"
    ANTHROPIC = "anthropic", "Anthropic"
    DEMO = "demo", "Demo (offline)"


env_var_name = RegexValidator(
    r"^[A-Za-z_][A-Za-z0-9_]*$", "Enter the name of an environment variable, not a key."
)


class ModelConfig(models.Model):
    """A model users can pick. The API key is never stored: only the env variable's name."""

    name = models.SlugField(
        unique=True, help_text="Identifier users and the API pick the model by, e.g. gpt-4o-mini."
    )
    display_name = models.CharField(max_length=100, help_text="Name shown in the model picker.")
    provider = models.CharField(
        max_length=20,
        choices=Provider.choices,
        help_text="Wire protocol: OpenAI-compatible (OpenAI, Ollama, vLLM, llama.cpp, "
        "LM Studio, OpenRouter), Anthropic, or the offline demo.",
    )
    base_url = models.CharField(
        max_length=500,
        blank=True,
        help_text="Upstream base URL, e.g. https://api.openai.com/v1 or https://api.anthropic.com.",
    )
    upstream_model = models.CharField(
        max_length=200, blank=True, help_text="Model id sent upstream, e.g. gpt-4o-mini."
    )
    api_key_env = models.CharField(
        max_length=100,
        blank=True,
        validators=[env_var_name],
        help_text="Name of the environment variable holding the API key (never the key).",
    )
    max_tokens = models.PositiveIntegerField(
        default=1024,
        validators=[MinValueValidator(1)],
        help_text="Most tokens the model may generate per answer.",
    )
    temperature = models.FloatField(
        null=True, blank=True, help_text="Sampling temperature; empty uses the provider default."
    )
    system_prompt = models.TextField(blank=True, help_text="Sent before every conversation.")
    history_limit = models.PositiveIntegerField(
        default=20, help_text="How many earlier messages are sent upstream with a new one."
    )
    enabled = models.BooleanField(default=True, help_text="Disabled models are hidden from users.")
    version = models.PositiveIntegerField(
        default=1, editable=False, help_text="Counts saves; each answer records the one it used."
    )
    is_default = models.BooleanField(default=False, help_text="Used when a request names no model.")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["display_name"]
        constraints = [
            models.UniqueConstraint(
                fields=["is_default"],
                condition=models.Q(is_default=True),
                name="one_default_model",
            )
        ]

    def __str__(self) -> str:
        return self.display_name

    def clean(self) -> None:
        errors: dict[str, str] = {}
        if self.provider != Provider.DEMO:
            parsed = urlsplit(self.base_url)
            if parsed.scheme not in ("http", "https") or not parsed.netloc:
                errors["base_url"] = "Enter an http:// or https:// URL."
        if self.temperature is not None and not 0.0 <= self.temperature <= 2.0:
            errors["temperature"] = "Temperature must be between 0 and 2."
        if errors:
            raise ValidationError(errors)

    def validate_constraints(self, exclude: set[str] | None = None) -> None:
        # save() hands the default flag over from the old default, so marking a second model
        # default is not a conflict; skipping constraints on is_default skips only that one.
        super().validate_constraints(exclude={*(exclude or ()), "is_default"})

    @property
    def api_key_is_set(self) -> bool:
        return bool(self.api_key_env and os.environ.get(self.api_key_env))

    def api_key(self) -> str:
        """The key itself, read from the environment at call time."""
        return os.environ.get(self.api_key_env, "") if self.api_key_env else ""

    def save(self, *args: object, changed_by: Any = None, **kwargs: Any) -> None:
        """Save, and keep the settings as a new ModelConfigVersion when any of them changed.

        `changed_by` is the user making the change (None from the command line). A save that
        changes nothing keeps the version, so redeploys that re-apply the same settings do
        not pile up empty versions.
        """
        with transaction.atomic():
            previous = None
            if self.pk is not None:
                previous = ModelConfig.objects.select_for_update().filter(pk=self.pk).first()
            changed = previous is None or config_settings(previous) != config_settings(self)
            if previous is not None:
                self.version = previous.version + 1 if changed else previous.version
                if kwargs.get("update_fields") is not None:
                    kwargs["update_fields"] = {*kwargs["update_fields"], "version", "updated_at"}
            if self.is_default:
                # Hand the default flag over through save(), so the old default's history
                # records who took it away.
                for old_default in ModelConfig.objects.filter(is_default=True).exclude(pk=self.pk):
                    old_default.is_default = False
                    old_default.save(changed_by=changed_by)
            super().save(*args, **kwargs)
            if changed:
                ModelConfigVersion.record(self, previous, changed_by)


class Conversation(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    # A signed-in user, or an anonymous browser session (an id kept in its session data).
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="conversations",
    )
    anonymous_id = models.CharField(max_length=64, blank=True, db_index=True)
    title = models.CharField(max_length=200, blank=True)
    model_config = models.ForeignKey(
        ModelConfig, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-updated_at"]
        indexes = [
            models.Index(fields=["owner", "-updated_at"]),
            # The admin's conversation list: newest activity first, and its date filter.
            models.Index(fields=["updated_at"], name="conversation_updated"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=(
                    models.Q(owner__isnull=False, anonymous_id="")
                    | models.Q(owner__isnull=True) & ~models.Q(anonymous_id="")
                ),
                name="conversation_has_one_owner",
            )
        ]

    def __str__(self) -> str:
        return self.title or str(self.id)


class Role(models.TextChoices):
    USER = "user", "User"
    ASSISTANT = "assistant", "Assistant"


class Status(models.TextChoices):
    PENDING = "pending", "Pending"
    STREAMING = "streaming", "Streaming"
    COMPLETE = "complete", "Complete"
    STOPPED = "stopped", "Stopped"
    INTERRUPTED = "interrupted", "Interrupted"
    ERROR = "error", "Error"


UNFINISHED_STATUSES = (Status.PENDING, Status.STREAMING)


# Everything chat/analytics.py reads, led by what it filters on (role, then the period).
ANALYTICS_COLUMNS = [
    "role",
    "created_at",
    "model_config",
    "status",
    "finish_reason",
    "error_code",
    "ttft_ms",
    "duration_ms",
    "input_tokens",
    "output_tokens",
    "client_connected",
    "reconnect_count",
]


class Message(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    conversation = models.ForeignKey(
        Conversation, on_delete=models.CASCADE, related_name="messages"
    )
    role = models.CharField(max_length=20, choices=Role.choices)
    content = models.TextField(blank=True)
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.COMPLETE)
    position = models.PositiveIntegerField()
    model_config = models.ForeignKey(
        ModelConfig, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    # The model's name at generation time, kept if the config is renamed or deleted.
    model_name = models.CharField(max_length=100, blank=True)
    finish_reason = models.CharField(max_length=40, blank=True)
    input_tokens = models.PositiveIntegerField(null=True, blank=True)
    output_tokens = models.PositiveIntegerField(null=True, blank=True)
    ttft_ms = models.PositiveIntegerField(null=True, blank=True)
    duration_ms = models.PositiveIntegerField(null=True, blank=True)
    error_code = models.CharField(max_length=40, blank=True)
    error_message = models.TextField(blank=True)
    upstream_request_id = models.CharField(max_length=200, blank=True)
    model_config_version = models.PositiveIntegerField(null=True, blank=True)
    # The worker running the generation: if it dies, its answers are finalised for it.
    worker_id = models.CharField(max_length=64, blank=True)
    # Whether a subscriber was connected when the answer ended, and how many times
    # clients reconnected to follow it (resumes).
    client_connected = models.BooleanField(null=True, blank=True)
    reconnect_count = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["position"]
        constraints = [
            models.UniqueConstraint(
                fields=["conversation", "position"], name="message_position_unique"
            )
        ]
        indexes = [
            models.Index(fields=["status", "created_at"]),
            # Analytics and the generation list read answers by period. Every column they
            # read is in the index, so neither database touches the rows themselves (which
            # hold the text: a scan of those reads every answer ever written).
            models.Index(fields=ANALYTICS_COLUMNS, name="message_analytics"),
        ]

    def __str__(self) -> str:
        return f"{self.role} #{self.position}"

    @property
    def total_tokens(self) -> int | None:
        if self.input_tokens is None and self.output_tokens is None:
            return None
        return (self.input_tokens or 0) + (self.output_tokens or 0)


API_KEY_PREFIX = "sk-chat-"


def hash_api_key(key: str) -> str:
    # Keys carry 256 bits of randomness, so a fast hash is enough (no password stretching).
    return hashlib.sha256(key.encode()).hexdigest()


class ApiKey(models.Model):
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_keys"
    )
    name = models.CharField(max_length=100, blank=True)
    prefix = models.CharField(max_length=20, help_text="First characters, to recognise a key.")
    key_hash = models.CharField(max_length=64, unique=True, editable=False)
    is_active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = "API key"

    def __str__(self) -> str:
        return f"{self.prefix}… ({self.user})"

    @staticmethod
    def new_secret() -> str:
        return secrets.token_urlsafe(32)

    @classmethod
    def issue(cls, user: models.Model, name: str = "") -> tuple[ApiKey, str]:
        """Create a key; the plain key is returned once and only its hash is stored."""
        plain = API_KEY_PREFIX + cls.new_secret()
        key = cls.objects.create(
            user=user,
            name=name,
            prefix=plain[: len(API_KEY_PREFIX) + 6],
            key_hash=hash_api_key(plain),
        )
        return key, plain


class Worker(models.Model):
    """A server process running generations; it proves it is alive by its heartbeat."""

    id = models.CharField(primary_key=True, max_length=64)
    hostname = models.CharField(max_length=255)
    pid = models.PositiveIntegerField()
    started_at = models.DateTimeField(auto_now_add=True)
    last_seen = models.DateTimeField(db_index=True)

    def __str__(self) -> str:
        return f"{self.hostname}:{self.pid}"


# The settings a version records: everything staff can edit (the key's value is never here).
VERSIONED_FIELDS = (
    "name",
    "display_name",
    "provider",
    "base_url",
    "upstream_model",
    "api_key_env",
    "max_tokens",
    "temperature",
    "system_prompt",
    "history_limit",
    "enabled",
    "is_default",
)


def config_settings(config: ModelConfig) -> dict[str, Any]:
    return {field: getattr(config, field) for field in VERSIONED_FIELDS}


class ModelConfigVersion(models.Model):
    """A model's settings as of one version: who saved them, when, and what they changed.

    Answers record the version they were generated with (Message.model_config_version), so a
    reviewer can see the exact settings behind any answer.
    """

    model_config = models.ForeignKey(ModelConfig, on_delete=models.CASCADE, related_name="versions")
    version = models.PositiveIntegerField()
    snapshot = models.JSONField(
        verbose_name="settings", help_text="Every setting as of this version."
    )
    changes = models.JSONField(
        default=list,
        blank=True,
        help_text="What this version changed: [{field, before, after}]; empty for the first.",
    )
    changed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        help_text="Empty when the change came from the command line or a migration.",
    )
    changed_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["model_config", "-version"]
        constraints = [
            models.UniqueConstraint(
                fields=["model_config", "version"], name="model_config_version_unique"
            )
        ]

    def __str__(self) -> str:
        return f"{self.model_config} v{self.version}"

    @classmethod
    def record(
        cls, config: ModelConfig, previous: ModelConfig | None, changed_by: Any
    ) -> ModelConfigVersion:
        before: dict[str, Any] = {}
        if previous is not None:
            before = config_settings(previous)
            # Rows saved before versioning existed (or written around save()) get their
            # previous settings kept now, so the history never starts mid-air.
            cls.objects.get_or_create(
                model_config=config,
                version=previous.version,
                defaults={"snapshot": before, "changed_at": previous.updated_at},
            )
        after = config_settings(config)
        changes = [
            {"field": field, "before": before[field], "after": after[field]}
            for field in VERSIONED_FIELDS
            if before and before[field] != after[field]
        ]
        return cls.objects.create(
            model_config=config,
            version=config.version,
            snapshot=after,
            changes=changes,
            changed_by=changed_by if getattr(changed_by, "pk", None) else None,
        )


class GenerationRecord(Message):
    """One record per generation, for analytics: an assistant message seen by its metrics.

    A proxy, not a table: the Message row already holds every number the analytics need.
    It gives admin a list of generations and a permission of its own (view_generationrecord)
    that opens the analytics page without opening transcripts.
    """

    class Meta:
        proxy = True
        verbose_name = "generation"
        default_permissions = ("view",)
