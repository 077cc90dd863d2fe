"""What the model sees of MCP tools: names that never collide, and output as capped plain text."""

from __future__ import annotations

import random
import re

from hypothesis import given
from hypothesis import strategies as st
from mcp import types

from chat.tools.mcp.names import exposed_names
from chat.tools.mcp.output import result_output

PROVIDER_NAME = re.compile(r"^[a-zA-Z0-9_-]{1,64}$")

server_names = st.from_regex(r"[a-z0-9][a-z0-9_-]{0,40}", fullmatch=True)
tool_names = st.text(min_size=1, max_size=80)


def test_a_tool_is_named_after_its_server_and_itself() -> None:
    names = exposed_names([("github", "search_issues"), ("files", "read file.txt")])
    assert names == {
        ("github", "search_issues"): "github__search_issues",
        ("files", "read file.txt"): "files__read_file_txt",
    }


def test_the_same_tool_on_two_servers_gets_two_names() -> None:
    names = exposed_names([("a", "search"), ("b", "search")])
    assert names[("a", "search")] != names[("b", "search")]


def test_names_cut_to_the_same_64_characters_are_told_apart_the_same_way_every_time() -> None:
    long_tools = [("server", "x" * 70 + "one"), ("server", "x" * 70 + "two")]
    names = exposed_names(long_tools)
    assert len(set(names.values())) == 2
    assert all(PROVIDER_NAME.match(name) for name in names.values())
    assert exposed_names(list(reversed(long_tools))) == names


def test_a_built_in_tools_name_is_never_taken() -> None:
    names = exposed_names([("calc", "x")], reserved={"calc__x"})
    assert names[("calc", "x")] != "calc__x"
    assert names[("calc", "x")].startswith("calc__x_")


@given(st.lists(st.tuples(server_names, tool_names), max_size=30), st.randoms())
def test_any_tools_get_unique_valid_names_whatever_their_order(
    tools: list[tuple[str, str]], shuffle: random.Random
) -> None:
    names = exposed_names(tools, reserved={"current_time", "calculator"})
    assert set(names) == set(tools)
    assert len(set(names.values())) == len(names)
    assert not {"current_time", "calculator"} & set(names.values())
    assert all(PROVIDER_NAME.match(name) for name in names.values())
    shuffled = list(tools)
    shuffle.shuffle(shuffled)
    assert exposed_names(shuffled, reserved={"current_time", "calculator"}) == names


def result(*content: types.ContentBlock, **fields: object) -> types.CallToolResult:
    return types.CallToolResult(content=list(content), **fields)


def test_text_is_joined_and_other_content_is_described_in_words() -> None:
    output = result_output(
        result(
            types.TextContent(type="text", text="first"),
            types.ImageContent(type="image", data="aGVsbG8=", mimeType="image/png"),
            types.EmbeddedResource(
                type="resource",
                resource=types.TextResourceContents(uri="file:///notes.txt", text="notes"),
            ),
            types.EmbeddedResource(
                type="resource",
                resource=types.BlobResourceContents(
                    uri="file:///a.bin", blob="AAAA", mimeType="application/octet-stream"
                ),
            ),
        ),
        limit=10_000,
    )
    assert output.text == (
        "first\n\n[an image (image/png), not shown]\n\n[resource file:///notes.txt]\nnotes"
        "\n\n[a binary resource (application/octet-stream): file:///a.bin]"
    )
    assert "aGVsbG8=" not in output.text and not output.is_error


def test_output_keeps_the_error_flag_drops_nul_and_is_cut() -> None:
    output = result_output(
        result(types.TextContent(type="text", text="bad\0" + "y" * 50), isError=True), limit=10
    )
    assert output.is_error
    assert output.text.startswith("badyyyyyyy\n[output cut: 53 characters")


def test_structured_content_alone_is_shown_as_json() -> None:
    output = result_output(result(structuredContent={"temperature": 21}), limit=100)
    assert output.text == '{"temperature": 21}'


def test_no_output_at_all_is_said_so() -> None:
    assert result_output(result(), limit=100).text == "(the tool returned no output)"
