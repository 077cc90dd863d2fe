"""Persistent state: model configurations, conversations, messages and API keys."""

from __future__ import annotations

import hashlib
import os
import secrets
import uuid
from urllib.parse import urlsplit

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MinValueValidator, RegexValidator
from django.db import models, transaction


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

    def save(self, *args: object, **kwargs: object) -> None:
        with transaction.atomic():
            if self.pk is not None:
                self.version = (
                    ModelConfig.objects.filter(pk=self.pk).values_list("version", flat=True).first()
                    or 0
                ) + 1
            if self.is_default:
                ModelConfig.objects.filter(is_default=True).exclude(pk=self.pk).update(
                    is_default=False
                )
            super().save(*args, **kwargs)  # type: ignore[arg-type]


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
        indexes = [models.Index(fields=["owner", "-updated_at"])]
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
        indexes = [models.Index(fields=["status", "created_at"])]

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

    @classmethod
    def issue(cls, user: models.Model, name: str = "") -> tuple[ApiKey, str]:
        """Create a key; the plain key is returned once and only its hash is stored."""
        plain = API_KEY_PREFIX + secrets.token_urlsafe(32)
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
