"""MCP servers in admin: adding, header variables, Test connection, tools offered, who may edit."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import pytest
from django.contrib.messages import get_messages
from django.core import serializers
from django.test import Client
from django.urls import reverse

from chat.models import McpServer, ModelConfigVersion
from chat.tools.mcp.registry import mcp_tools_for
from tests.admin_fixtures import (
    browser_for,
    demo_model,
    make_configurator,
    make_reviewer,
)
from tests.mcp_fixtures import (
    McpTestServer,
    closed_port_url,
    running_mcp_server,
    silent_server,
    web_page_server,
)

pytestmark = pytest.mark.django_db

ADD = reverse("admin:chat_mcpserver_add")
TOKEN = "s3cret-token-value"


@pytest.fixture(scope="module")
def mcp_server() -> Iterator[McpTestServer]:
    with running_mcp_server() as server:
        yield server


def change_url(server: McpServer) -> str:
    return reverse("admin:chat_mcpserver_change", args=[server.pk])


def connection_test_url(server: McpServer) -> str:
    return reverse("admin:chat_mcpserver_test_connection", args=[server.pk])


def form_data(**changes: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "name": "test",
        "url": "http://127.0.0.1:8001/mcp",
        "enabled": True,
        "header_variables": "",
        "timeout_seconds": 30,
        "all_tools_allowed": True,
        "allowed_tools": [],
        "approval_tools": [],
        "max_output_chars": "",
    } | changes
    # Unticked checkboxes are absent from a posted form.
    return {key: value for key, value in data.items() if value is not False}


def press_test_connection(browser: Client, server: McpServer) -> list[tuple[str, str]]:
    response = browser.post(connection_test_url(server))
    assert response.status_code == 302
    return [(m.tags, m.message) for m in get_messages(response.wsgi_request)]


def test_staff_add_a_server_whose_header_values_stay_in_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("MCP_TEST_HEADER", raising=False)
    browser = browser_for(make_configurator())
    added = browser.post(ADD, form_data(header_variables="X-Test-Token: MCP_TEST_HEADER"))
    assert added.status_code == 302
    server = McpServer.objects.get(name="test")
    assert server.header_variables == {"X-Test-Token": "MCP_TEST_HEADER"}
    assert "X-Test-Token: MCP_TEST_HEADER is NOT set" in browser.get(change_url(server)).text

    monkeypatch.setenv("MCP_TEST_HEADER", TOKEN)
    page = browser.get(change_url(server)).text
    assert "X-Test-Token: MCP_TEST_HEADER is set" in page
    assert TOKEN not in page
    assert TOKEN not in serializers.serialize("json", McpServer.objects.all())


@pytest.mark.parametrize(
    ("changes", "error"),
    [
        ({"header_variables": "Authorization: Bearer abc123"}, "not a key"),
        ({"header_variables": "just-a-value"}, "Line 1: write the header, a colon"),
        ({"url": "127.0.0.1:8001/mcp"}, "Enter an http:// or https:// URL."),
        ({"name": "has spaces"}, "Enter a valid “slug”"),
    ],
)
def test_a_bad_setting_is_refused_with_a_reason(changes: dict[str, str], error: str) -> None:
    response = browser_for(make_configurator()).post(ADD, form_data(**changes))
    assert response.status_code == 200
    assert error in response.text
    assert not McpServer.objects.exists()


def test_test_connection_lists_the_tools_and_fills_the_checkboxes(
    mcp_server: McpTestServer,
) -> None:
    server = McpServer.objects.create(name="test", url=mcp_server.url)
    browser = browser_for(make_configurator())
    [(level, text)] = press_test_connection(browser, server)
    assert level == "success"
    assert text.startswith("test: connected. 6 tools listed: add, echo, slow, fails, huge")

    page = browser.get(change_url(server)).text
    for field in ("allowed_tools", "approval_tools"):
        assert f'name="{field}" value="add"' in page
    # The server's description is shown as text, never as HTML.
    assert "Adds two numbers. &lt;b&gt;Bold&lt;/b&gt; in a description" in page
    assert "<b>Bold</b>" not in page
    assert "&quot;properties&quot;" in page  # the input schema


@pytest.mark.parametrize(
    ("where", "fields", "reason"),
    [
        ("down", {}, "could not be reached: nothing answered at its URL"),
        ("wrong path", {}, "has no MCP endpoint at this URL (HTTP 404)"),
        ("a web page", {}, "did not answer like an MCP server"),
        ("silent", {"timeout_seconds": 1}, "did not answer within 1 seconds"),
        (
            "needs a token",
            {"header_variables": {"X-Test-Token": "MCP_TEST_HEADER"}},
            "refused the request (HTTP 401): it wants credentials. "
            "The header variable MCP_TEST_HEADER is not set on this server.",
        ),
    ],
)
def test_test_connection_says_what_went_wrong_in_plain_words(
    mcp_server: McpTestServer,
    monkeypatch: pytest.MonkeyPatch,
    where: str,
    fields: dict[str, Any],
    reason: str,
) -> None:
    monkeypatch.delenv("MCP_TEST_HEADER", raising=False)
    with contextlib.ExitStack() as stack:
        if where == "down":
            url = closed_port_url()
        elif where == "wrong path":
            url = mcp_server.url.replace("/mcp", "/nothing")
        elif where == "a web page":
            url = stack.enter_context(web_page_server())
        elif where == "silent":
            url = stack.enter_context(silent_server())
        else:
            url = stack.enter_context(running_mcp_server(token=TOKEN)).url
        server = McpServer.objects.create(name="test", url=url, **fields)
        [(level, text)] = press_test_connection(browser_for(make_configurator()), server)
    assert level == "error"
    assert text.startswith(f"test: the connection test failed. The MCP server test {reason}")
    server.refresh_from_db()
    assert server.listed_at is None


def test_staff_choose_the_tools_offered_and_those_needing_approval(
    mcp_server: McpTestServer,
) -> None:
    server = McpServer.objects.create(name="test", url=mcp_server.url)
    browser = browser_for(make_configurator())
    press_test_connection(browser, server)
    saved = browser.post(
        change_url(server),
        form_data(
            url=mcp_server.url,
            all_tools_allowed=False,
            allowed_tools=["add", "slow"],
            approval_tools=["slow"],
        ),
    )
    assert saved.status_code == 302

    config = demo_model()
    config.mcp_servers.add(server)
    tools = {tool.name: tool for tool in mcp_tools_for(config)}
    assert set(tools) == {"test__add", "test__slow"}
    assert tools["test__slow"].settings.requires_approval
    assert not tools["test__add"].settings.requires_approval
    assert tools["test__add"].settings.source == "test"
    assert set(tools["test__add"].parameters["properties"]) == {"a", "b"}

    server.enabled = False
    server.save()
    assert mcp_tools_for(config) == []


def test_a_tool_the_server_stopped_listing_stays_visible_until_unticked() -> None:
    server = McpServer.objects.create(
        name="test",
        url="http://127.0.0.1:8001/mcp",
        listed_tools=[{"name": "add", "description": "", "input_schema": {}}],
        approval_tools=["deleted_tool"],
    )
    page = browser_for(make_configurator()).get(change_url(server)).text
    assert 'value="deleted_tool"' in page
    assert "deleted_tool (not in the last listing)" in page


def test_someone_without_the_change_permission_cannot_edit_or_test(
    mcp_server: McpTestServer,
) -> None:
    server = McpServer.objects.create(name="test", url=mcp_server.url)
    reviewer = browser_for(make_reviewer())
    page = reviewer.get(change_url(server))
    assert page.status_code == 200
    assert 'name="url"' not in page.text
    assert "Test connection</button>" not in page.text
    assert reviewer.post(change_url(server), form_data(url="http://evil/mcp")).status_code == 403
    assert reviewer.post(connection_test_url(server)).status_code == 403
    assert reviewer.get(ADD).status_code == 403
    server.refresh_from_db()
    assert (server.url, server.listed_at) == (mcp_server.url, None)

    nobody = browser_for(None)
    assert nobody.post(connection_test_url(server)).status_code == 302  # to the login page
    server.refresh_from_db()
    assert server.listed_at is None


def test_choosing_a_models_servers_is_recorded_as_a_version() -> None:
    server = McpServer.objects.create(name="files", url="http://127.0.0.1:8001/mcp")
    config = demo_model()
    browser = browser_for(make_configurator())
    url = reverse("admin:chat_modelconfig_change", args=[config.pk])
    settings_form = {
        "name": config.name,
        "display_name": config.display_name,
        "provider": config.provider,
        "max_tokens": 100,
        "history_limit": config.history_limit,
        "enabled": "on",
        "is_default": "on",
    }
    # Servers alone: a new version.
    assert browser.post(url, settings_form | {"mcp_servers": [server.pk]}).status_code == 302
    # Servers and another setting in one save: one version with both changes.
    again = settings_form | {"max_tokens": 200, "mcp_servers": []}
    assert browser.post(url, again).status_code == 302

    versions = list(ModelConfigVersion.objects.filter(model_config=config).order_by("version"))
    assert [v.version for v in versions] == [1, 2, 3]
    assert versions[1].snapshot["mcp_servers"] == ["files"]
    assert {c["field"]: (c["before"], c["after"]) for c in versions[1].changes} == {
        "max_tokens": (1024, 100),
        "mcp_servers": ([], ["files"]),
    }
    assert {c["field"]: (c["before"], c["after"]) for c in versions[2].changes} == {
        "max_tokens": (100, 200),
        "mcp_servers": (["files"], []),
    }
    config.refresh_from_db()
    assert config.version == 3
