"""Persistent state: model configurations, conversations, messages and API keys."""

from __future__ import annotations

import hashlib
import os
import secrets
import uuid
from collections.abc import Collection
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
    mcp_servers: models.ManyToManyField[McpServer, Any] = models.ManyToManyField(
        "McpServer",
        blank=True,
        related_name="model_configs",
        verbose_name="MCP servers",
        help_text="Servers whose allowed tools this model may call, beside the built-in tools.",
    )
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

    def validate_constraints(self, exclude: Collection[str] | None = None) -> None:
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
            self._version_recorded_by_save = (
                ModelConfigVersion.record(self, previous, changed_by) if changed else None
            )

    def record_related_changes(self, changed_by: Any = None) -> None:
        """Fold a change of the MCP servers into the version history.

        Many-to-many rows are saved after the model row (admin saves them after save()), so
        save() cannot see them change. Called once they are saved: a change amends the version
        that same save recorded, or else records a new one.
        """
        with transaction.atomic():
            latest = self.versions.select_for_update().order_by("-version").first()
            current = config_settings(self)
            if latest is None or all(
                latest.snapshot.get(field, []) == current[field] for field in RELATED_FIELDS
            ):
                return
            just_recorded = getattr(self, "_version_recorded_by_save", None)
            if just_recorded is not None and just_recorded.pk == latest.pk:
                latest.amend(current)
                return
            self.version = latest.version + 1
            ModelConfig.objects.filter(pk=self.pk).update(
                version=self.version, updated_at=timezone.now()
            )
            ModelConfigVersion.objects.create(
                model_config=self,
                version=self.version,
                snapshot=current,
                changes=setting_changes(latest.snapshot, current),
                changed_by=changed_by if getattr(changed_by, "pk", None) else None,
            )


header_name = RegexValidator(r"^[A-Za-z0-9!#$%&'*+.^_`|~-]+$", "Enter an HTTP header name.")


class McpServer(models.Model):
    """An MCP server (Streamable HTTP) whose tools models may call.

    Secret header values are never stored: `header_variables` maps each header to the name
    of the environment variable holding its value, read when a session opens.
    """

    name = models.SlugField(
        unique=True,
        help_text="Short identifier. The model sees each tool as this name, two underscores "
        "and the tool's name, e.g. github__search_issues.",
    )
    url = models.CharField(
        "URL",
        max_length=500,
        help_text="The server's Streamable HTTP endpoint, e.g. http://127.0.0.1:8001/mcp.",
    )
    header_variables = models.JSONField(
        default=dict,
        blank=True,
        help_text="Headers sent with every request, each as the name of the environment variable "
        "holding its value (never the value), e.g. Authorization: GITHUB_MCP_AUTH.",
    )
    enabled = models.BooleanField(
        default=True, help_text="A disabled server's tools are offered to no model."
    )
    timeout_seconds = models.FloatField(
        default=30.0,
        validators=[MinValueValidator(0.1)],
        help_text="Longest a tool call may take before the model is told it timed out.",
    )
    all_tools_allowed = models.BooleanField(
        default=True,
        help_text="Offer every tool the server listed; untick to choose them below.",
    )
    allowed_tools = models.JSONField(
        default=list, blank=True, help_text="The tools offered when not all are."
    )
    approval_tools = models.JSONField(
        "tools needing approval",
        default=list,
        blank=True,
        help_text="Calls to these tools wait for the user's approval before they run.",
    )
    max_output_chars = models.PositiveIntegerField(
        "max output characters",
        null=True,
        blank=True,
        validators=[MinValueValidator(1)],
        help_text="A tool's output is cut after this many characters; empty uses the site "
        "setting CHAT_MCP_MAX_OUTPUT_CHARS.",
    )
    listed_tools = models.JSONField(
        default=list,
        blank=True,
        editable=False,
        help_text="The tools the last successful Test connection listed: "
        "[{name, description, input_schema}].",
    )
    listed_at = models.DateTimeField(null=True, blank=True, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]
        verbose_name = "MCP server"

    def __str__(self) -> str:
        return self.name

    def clean(self) -> None:
        parsed = urlsplit(self.url)
        if parsed.scheme not in ("http", "https") or not parsed.netloc:
            raise ValidationError({"url": "Enter an http:// or https:// URL."})
        errors = []
        for header, variable in (self.header_variables or {}).items():
            for validator, value in ((header_name, header), (env_var_name, variable)):
                try:
                    validator(value)
                except ValidationError as error:
                    errors.append(f"{header}: {error.messages[0]}")
        if errors:
            raise ValidationError({"header_variables": errors})

    def unset_header_variables(self) -> list[str]:
        return [var for var in self.header_variables.values() if not os.environ.get(var)]

    @property
    def output_limit(self) -> int:
        return self.max_output_chars or settings.CHAT_MCP_MAX_OUTPUT_CHARS

    def offered_tools(self) -> list[dict[str, Any]]:
        """The listed tools a model may call: all of them, or the allowed ones."""
        if self.all_tools_allowed:
            return list(self.listed_tools)
        allowed = set(self.allowed_tools)
        return [tool for tool in self.listed_tools if tool.get("name") in allowed]


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
# RELATED_FIELDS are many-to-many: recorded as the sorted names of what is chosen.
RELATED_FIELDS = ("mcp_servers",)
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
    *RELATED_FIELDS,
)


def config_settings(config: ModelConfig) -> dict[str, Any]:
    return {field: setting_value(config, field) for field in VERSIONED_FIELDS}


def setting_value(config: ModelConfig, field: str) -> Any:
    if field not in RELATED_FIELDS:
        return getattr(config, field)
    if config.pk is None:
        return []
    return sorted(getattr(config, field).values_list("name", flat=True))


def setting_changes(before: dict[str, Any], after: dict[str, Any]) -> list[dict[str, Any]]:
    """What changed between two snapshots; a field a snapshot predates counts as empty."""
    return [
        {"field": field, "before": before.get(field), "after": after[field]}
        for field in VERSIONED_FIELDS
        if before.get(field, [] if field in RELATED_FIELDS else None) != after[field]
    ]


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
        changes = setting_changes(before, after) if before else []
        return cls.objects.create(
            model_config=config,
            version=config.version,
            snapshot=after,
            changes=changes,
            changed_by=changed_by if getattr(changed_by, "pk", None) else None,
        )

    def amend(self, snapshot: dict[str, Any]) -> None:
        """Complete this version with settings saved a moment after it (related rows)."""
        earlier = (
            ModelConfigVersion.objects.filter(
                model_config_id=self.model_config_id, version__lt=self.version
            )
            .order_by("-version")
            .first()
        )
        self.snapshot = snapshot
        self.changes = setting_changes(earlier.snapshot, snapshot) if earlier else []
        self.save(update_fields=["snapshot", "changes"])


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
