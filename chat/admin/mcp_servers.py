"""MCP servers for staff: URL, header variables, which tools are offered and need approval.

'Test connection' connects with the saved settings, lists the server's tools and keeps the
listing: it fills the tool checkboxes and is what models are offered.
"""

from __future__ import annotations

import json
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.http import HttpRequest
from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html, format_html_join
from django.utils.safestring import mark_safe

from chat.admin.test_connection import TestConnectionMixin, on_own_loop
from chat.models import McpServer, ModelConfig
from chat.tools.mcp.errors import McpUnavailable
from chat.tools.mcp.registry import list_tools_once, server_config

NOT_LISTED = "not in the last listing"


class HeaderVariablesField(forms.CharField):
    """One `Header-Name: ENV_VARIABLE` per line, kept as {header: variable}."""

    widget = forms.Textarea(attrs={"rows": 3, "placeholder": "Authorization: GITHUB_MCP_AUTH"})

    def prepare_value(self, value: Any) -> Any:
        if isinstance(value, dict):
            return "\n".join(f"{header}: {variable}" for header, variable in value.items())
        return value

    # The value is a dict of headers, typed in as text: not CharField's str.
    def to_python(self, value: Any) -> dict[str, str]:  # type: ignore[override]
        headers: dict[str, str] = {}
        for number, line in enumerate(str(value or "").splitlines(), start=1):
            if not line.strip():
                continue
            header, colon, variable = line.partition(":")
            if not colon or not header.strip() or not variable.strip():
                raise ValidationError(
                    f"Line {number}: write the header, a colon, then the name of the "
                    "environment variable holding its value, e.g. Authorization: MCP_TOKEN."
                )
            headers[header.strip()] = variable.strip()
        return headers


def tool_choices(server: McpServer, chosen: list[str]) -> list[tuple[str, str]]:
    """The listed tools, and any chosen before that the server no longer lists."""
    listed = [tool["name"] for tool in server.listed_tools]
    gone = [name for name in chosen if name not in listed]
    return [(name, name) for name in listed] + [(name, f"{name} ({NOT_LISTED})") for name in gone]


class McpServerForm(forms.ModelForm):
    header_variables = HeaderVariablesField(
        required=False,
        label="Header variables",
        help_text=McpServer._meta.get_field("header_variables").help_text,
    )
    allowed_tools = forms.MultipleChoiceField(
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text="Offered when “all tools allowed” is unticked. Test connection lists them.",
    )
    approval_tools = forms.MultipleChoiceField(
        required=False,
        label="Tools needing approval",
        widget=forms.CheckboxSelectMultiple,
        help_text=McpServer._meta.get_field("approval_tools").help_text,
    )

    class Meta:
        model = McpServer
        fields = [
            "name",
            "url",
            "enabled",
            "header_variables",
            "timeout_seconds",
            "all_tools_allowed",
            "allowed_tools",
            "approval_tools",
            "max_output_chars",
        ]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        for field in ("allowed_tools", "approval_tools"):
            choices = self.fields[field]
            assert isinstance(choices, forms.MultipleChoiceField)  # declared above
            choices.choices = tool_choices(self.instance, list(getattr(self.instance, field) or []))


def header_status(server: McpServer) -> str:
    """Whether each header's variable is set here; never its value."""
    if not server.header_variables:
        return "No headers"
    unset = set(server.unset_header_variables())
    return format_html_join(
        mark_safe("<br>"),
        "{}: {} {}",
        (
            (header, variable, "is NOT set" if variable in unset else "is set")
            for header, variable in server.header_variables.items()
        ),
    )


@admin.register(McpServer)
class McpServerAdmin(TestConnectionMixin, admin.ModelAdmin):
    form = McpServerForm
    list_display = ["name", "url", "enabled", "tools_offered", "headers_set", "listed_at"]
    list_filter = ["enabled"]
    search_fields = ["name", "url"]
    readonly_fields = ["headers_set", "listed_tools_table", "listed_at", "used_by"]
    actions = ["test_connection"]
    test_connection_help = (
        "Connects with the saved settings and lists the server's tools, which fills the "
        "tool checkboxes."
    )
    fieldsets = [
        (None, {"fields": ["name", "url", "enabled"]}),
        ("Headers", {"fields": ["header_variables", "headers_set"]}),
        (
            "Tools",
            {
                "fields": [
                    "all_tools_allowed",
                    "allowed_tools",
                    "approval_tools",
                    "listed_tools_table",
                    "listed_at",
                ]
            },
        ),
        ("Limits", {"fields": ["timeout_seconds", "max_output_chars"]}),
        ("Models", {"fields": ["used_by"]}),
    ]

    @admin.display(description="Header variables set?")
    def headers_set(self, server: McpServer) -> str:
        return header_status(server)

    @admin.display(description="Tools offered")
    def tools_offered(self, server: McpServer) -> str:
        if server.listed_at is None:
            return "not listed yet"
        return f"{len(server.offered_tools())} of {len(server.listed_tools)}"

    @admin.display(description="Tools the server listed")
    def listed_tools_table(self, server: McpServer) -> str:
        if not server.listed_tools:
            return "None yet: save, then press Test connection."
        return format_html(
            "<table class='mcp-tools'><thead><tr><th>Tool</th><th>Description</th>"
            "<th>Arguments (JSON schema)</th></tr></thead><tbody>{}</tbody></table>",
            format_html_join(
                "",
                "<tr><td>{}</td><td>{}</td><td><pre>{}</pre></td></tr>",
                (
                    (
                        tool["name"],
                        tool.get("description", ""),
                        json.dumps(tool.get("input_schema", {}), indent=2, ensure_ascii=False),
                    )
                    for tool in server.listed_tools
                ),
            ),
        )

    @admin.display(description="Used by")
    def used_by(self, server: McpServer) -> str:
        if server.pk is None:
            return "—"
        configs = ModelConfig.objects.filter(mcp_servers=server)
        if not configs:
            return "No model yet: tick this server under Tools on a model's page."
        return format_html_join(
            ", ",
            "<a href='{}'>{}</a>",
            ((reverse("admin:chat_modelconfig_change", args=[c.pk]), c) for c in configs),
        )

    def run_connection_test(self, request: HttpRequest, objects: list[McpServer]) -> None:
        for server in objects:
            try:
                tools = on_own_loop(list_tools_once(server_config(server)))
            except McpUnavailable as error:
                messages.error(request, f"{server.name}: the connection test failed. {error}")
                continue
            # update(), not save(): a listing is not a change of the staff's settings.
            McpServer.objects.filter(pk=server.pk).update(
                listed_tools=tools, listed_at=timezone.now()
            )
            names = ", ".join(tool["name"] for tool in tools) or "none"
            messages.success(
                request, f"{server.name}: connected. {len(tools)} tools listed: {names}."
            )
