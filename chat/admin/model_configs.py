"""Model configuration for staff: settings, validation, version history, 'Test connection'."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.http import HttpRequest
from django.urls import reverse
from django.utils.html import format_html, format_html_join

from chat.admin.connection_check import ConnectionReport, check_connections
from chat.admin.readonly import ReadOnlyAdmin
from chat.admin.test_connection import TestConnectionMixin
from chat.models import VERSIONED_FIELDS, ModelConfig, ModelConfigVersion, Provider

RECENT_VERSIONS = 10
ANTHROPIC_MAX_TEMPERATURE = 1.0


class ModelConfigForm(forms.ModelForm):
    """Checks the model's own clean() cannot: the site must keep exactly one default."""

    class Meta:
        model = ModelConfig
        fields = list(VERSIONED_FIELDS)
        labels = {"base_url": "Base URL", "api_key_env": "API key variable"}
        widgets = {"mcp_servers": forms.CheckboxSelectMultiple}

    def clean(self) -> dict[str, Any]:
        super().clean()
        data = self.cleaned_data
        is_default = data.get("is_default", False)
        was_default = bool(self.instance.pk) and (
            ModelConfig.objects.filter(pk=self.instance.pk, is_default=True).exists()
        )
        other_default = ModelConfig.objects.filter(is_default=True).exclude(pk=self.instance.pk)
        if was_default and not is_default:
            self.add_error(
                "is_default",
                "This is the default model. To change the default, mark another model as "
                "the default instead.",
            )
        elif not is_default and not other_default.exists():
            self.add_error("is_default", "There is no default model yet: make this one it.")
        if is_default and not data.get("enabled", True):
            self.add_error("enabled", "The default model must be enabled.")
        temperature = data.get("temperature")
        if (
            data.get("provider") == Provider.ANTHROPIC
            and temperature is not None
            and temperature > ANTHROPIC_MAX_TEMPERATURE
        ):
            self.add_error("temperature", "Anthropic accepts a temperature between 0 and 1.")
        return data


def key_status(config: ModelConfig) -> str:
    """Whether the key's variable is set; never the key."""
    if not config.api_key_env:
        return "No key needed" if config.provider == Provider.DEMO else "No key configured"
    state = "is set" if config.api_key_is_set else "is NOT set"
    return f"{config.api_key_env} {state} on this server"


def describe_change(change: dict[str, Any]) -> str:
    return f"{change['field']}: {change['before']!r} → {change['after']!r}"


def report_to_user(request: HttpRequest, reports: list[ConnectionReport]) -> None:
    for report in reports:
        level = messages.SUCCESS if report.ok else messages.ERROR
        messages.add_message(request, level, report.summary)


@admin.register(ModelConfig)
class ModelConfigAdmin(TestConnectionMixin, admin.ModelAdmin):
    form = ModelConfigForm
    list_display = [
        "display_name",
        "name",
        "provider",
        "upstream_model",
        "enabled",
        "is_default",
        "version",
        "api_key_status",
    ]
    list_filter = ["provider", "enabled"]
    search_fields = ["name", "display_name", "upstream_model"]
    readonly_fields = ["api_key_status", "version", "created_at", "updated_at", "recent_changes"]
    actions = ["test_connection"]
    test_connection_help = (
        "Sends a short streamed request with the saved settings and reports the time to "
        "first token."
    )
    fieldsets = [
        (None, {"fields": ["display_name", "name", "enabled", "is_default"]}),
        (
            "Upstream",
            {"fields": ["provider", "base_url", "upstream_model", "api_key_env", "api_key_status"]},
        ),
        (
            "Generation",
            {"fields": ["max_tokens", "temperature", "system_prompt", "history_limit"]},
        ),
        ("Tools", {"fields": ["mcp_servers"]}),
        ("History", {"fields": ["version", "created_at", "updated_at", "recent_changes"]}),
    ]

    @admin.display(description="API key set?")
    def api_key_status(self, config: ModelConfig) -> str:
        return key_status(config)

    @admin.display(description="Recent changes")
    def recent_changes(self, config: ModelConfig) -> str:
        if config.pk is None:
            return "—"
        versions = list(config.versions.select_related("changed_by")[:RECENT_VERSIONS])
        rows = format_html_join(
            "",
            "<tr><td><a href='{}'>v{}</a></td><td>{}</td><td>{}</td><td>{}</td></tr>",
            (
                (
                    reverse("admin:chat_modelconfigversion_change", args=[version.pk]),
                    version.version,
                    version.changed_at.strftime("%Y-%m-%d %H:%M:%S UTC"),
                    version.changed_by or "—",
                    "; ".join(describe_change(c) for c in version.changes) or "first version",
                )
                for version in versions
            ),
        )
        history = reverse("admin:chat_modelconfigversion_changelist")
        return format_html(
            "<table class='version-history'><thead><tr><th>Version</th><th>When</th>"
            "<th>Who</th><th>What changed</th></tr></thead><tbody>{}</tbody></table>"
            "<p><a href='{}?model_config__id__exact={}'>Every version</a></p>",
            rows,
            history,
            config.pk,
        )

    def get_actions(self, request: HttpRequest) -> dict[str, Any]:
        # Deleting the default model in bulk would leave the site without one; the change
        # page deletes one model at a time, and refuses the default.
        actions = super().get_actions(request)
        actions.pop("delete_selected", None)
        return actions

    def has_delete_permission(self, request: HttpRequest, obj: ModelConfig | None = None) -> bool:
        if obj is not None and obj.is_default:
            return False
        return super().has_delete_permission(request, obj)

    def save_model(
        self, request: HttpRequest, obj: ModelConfig, form: forms.ModelForm, change: bool
    ) -> None:
        obj.save(changed_by=request.user)

    def save_related(
        self, request: HttpRequest, form: forms.ModelForm, formsets: Any, change: bool
    ) -> None:
        super().save_related(request, form, formsets, change)
        form.instance.record_related_changes(changed_by=request.user)

    def run_connection_test(self, request: HttpRequest, objects: list[ModelConfig]) -> None:
        report_to_user(request, check_connections(objects))


@admin.register(ModelConfigVersion)
class ModelConfigVersionAdmin(ReadOnlyAdmin):
    """The history of every model's settings. Records, so nobody edits them."""

    list_display = ["model_config", "version", "changed_at", "changed_by", "what_changed"]
    list_filter = ["model_config"]
    list_select_related = ["model_config", "changed_by"]
    fields = ("model_config", "version", "changed_at", "changed_by", "what_changed", "settings")
    readonly_fields = fields

    @admin.display(description="What changed")
    def what_changed(self, version: ModelConfigVersion) -> str:
        return "; ".join(describe_change(c) for c in version.changes) or "first version"

    @admin.display(description="Settings")
    def settings(self, version: ModelConfigVersion) -> str:
        return format_html(
            "<table>{}</table>",
            format_html_join(
                "", "<tr><th>{}</th><td>{}</td></tr>", sorted(version.snapshot.items())
            ),
        )
