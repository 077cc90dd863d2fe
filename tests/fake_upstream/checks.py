"""The request rules of the real APIs that tool use and thinking bring, checked like they do.

A client that breaks one gets the 400 the real API would send (worded like it), so a
history that only works against the fake cannot pass a test. Each check returns the
error message, or None when the request is fine.
"""

from __future__ import annotations

import re
from typing import Any

from tests.fake_upstream.scenarios import thinking_signature

OPENAI_REASONING_EFFORTS = frozenset({"none", "minimal", "low", "medium", "high", "xhigh"})
_OPENAI_FUNCTION_NAME = re.compile(r"^[a-zA-Z0-9_-]{1,64}$")
ANTHROPIC_IMAGE_TYPES = frozenset({"image/jpeg", "image/png", "image/gif", "image/webp"})
ANTHROPIC_MIN_THINKING_BUDGET = 1024


def openai_request_error(body: dict[str, Any]) -> str | None:
    return (
        _openai_tools_error(body)
        or _openai_history_error(body["messages"])
        or _openai_effort_error(body)
    )


def _openai_tools_error(body: dict[str, Any]) -> str | None:
    tools = body.get("tools")
    if tools is None:
        if "tool_choice" in body:
            return (
                "Invalid value for 'tool_choice': 'tool_choice' is only allowed when "
                "'tools' are specified."
            )
        return None
    if not isinstance(tools, list):
        return "Invalid type for 'tools': expected an array."
    names = set()
    for index, tool in enumerate(tools):
        function = tool.get("function") if isinstance(tool, dict) else None
        if not isinstance(tool, dict) or tool.get("type") != "function":
            return f"Invalid value for 'tools[{index}].type': expected 'function'."
        name = function.get("name") if isinstance(function, dict) else None
        if not isinstance(name, str) or not _OPENAI_FUNCTION_NAME.match(name):
            return f"Invalid 'tools[{index}].function.name': string does not match pattern."
        names.add(name)
    choice = body.get("tool_choice", "auto")
    if choice in ("auto", "none", "required"):
        return None
    if isinstance(choice, dict) and choice.get("type") == "function":
        name = (choice.get("function") or {}).get("name")
        if name in names:
            return None
        return f"Invalid value for 'tool_choice': function {name!r} is not in 'tools'."
    return "Invalid value for 'tool_choice'."


def _openai_history_error(messages: list[Any]) -> str | None:
    waiting: list[str] = []  # call ids of the last assistant message not yet answered
    for index, message in enumerate(messages):
        if not isinstance(message, dict):
            return f"Invalid type for 'messages[{index}]': expected an object."
        role = message.get("role")
        if role == "tool":
            if message.get("tool_call_id") not in waiting:
                return (
                    "Invalid parameter: messages with role 'tool' must be a response to a "
                    "preceeding message with 'tool_calls'."
                )
            waiting.remove(message["tool_call_id"])
            continue
        if waiting:
            return _openai_unanswered(waiting)
        calls = message.get("tool_calls") if role == "assistant" else None
        for call in calls or ():
            arguments = (call.get("function") or {}).get("arguments")
            if not isinstance(arguments, str):
                return f"Invalid type for 'messages[{index}].tool_calls.function.arguments'."
            waiting.append(call.get("id"))
    return _openai_unanswered(waiting) if waiting else None


def _openai_unanswered(waiting: list[str]) -> str:
    return (
        "An assistant message with 'tool_calls' must be followed by tool messages responding "
        "to each 'tool_call_id'. The following tool_call_ids did not have response messages: "
        + ", ".join(waiting)
    )


def _openai_effort_error(body: dict[str, Any]) -> str | None:
    effort = body.get("reasoning_effort")
    if effort is None or effort in OPENAI_REASONING_EFFORTS:
        return None
    return f"Invalid value for 'reasoning_effort': {effort!r}."


def anthropic_request_error(body: dict[str, Any]) -> str | None:
    return (
        _anthropic_tools_error(body)
        or _anthropic_thinking_error(body)
        or _anthropic_history_error(body)
    )


def _anthropic_tools_error(body: dict[str, Any]) -> str | None:
    tools = body.get("tools")
    for index, tool in enumerate(tools or ()):
        if not isinstance(tool, dict) or not isinstance(tool.get("name"), str):
            return f"tools.{index}.custom.name: Field required"
        if not isinstance(tool.get("input_schema"), dict):
            return f"tools.{index}.custom.input_schema: Field required"
    choice = body.get("tool_choice")
    if choice is None:
        return None
    if not tools:
        return "tool_choice may only be specified while providing tools."
    kind = choice.get("type") if isinstance(choice, dict) else None
    if kind not in ("auto", "any", "tool", "none"):
        return "tool_choice: Input tag does not match any of the expected tags"
    if kind == "tool" and not any(tool["name"] == choice.get("name") for tool in tools):
        return f"Tool '{choice.get('name')}' not found in tools."
    return None


def _anthropic_thinking_error(body: dict[str, Any]) -> str | None:
    thinking = body.get("thinking")
    if thinking is None or (isinstance(thinking, dict) and thinking.get("type") == "disabled"):
        return None
    budget = thinking.get("budget_tokens") if isinstance(thinking, dict) else None
    if not isinstance(thinking, dict) or thinking.get("type") != "enabled":
        return "thinking: Input tag does not match any of the expected tags"
    if not isinstance(budget, int) or budget < ANTHROPIC_MIN_THINKING_BUDGET:
        return "thinking.enabled.budget_tokens: Input should be greater than or equal to 1024"
    if budget >= body["max_tokens"]:
        return "`max_tokens` must be greater than `thinking.budget_tokens`."
    if body.get("temperature", 1) != 1:
        return "`temperature` may only be set to 1 when thinking is enabled."
    if (body.get("tool_choice") or {}).get("type") in ("any", "tool"):
        return "Thinking may not be enabled when tool_choice forces tool use."
    return None


def _blocks(message: dict[str, Any]) -> list[Any]:
    content = message.get("content")
    return content if isinstance(content, list) else []


def _anthropic_history_error(body: dict[str, Any]) -> str | None:
    messages = body["messages"]
    uses_tools = False
    previous_uses: list[str] = []
    for index, message in enumerate(messages):
        if not isinstance(message, dict) or message.get("role") not in ("user", "assistant"):
            return f"messages.{index}.role: Input should be 'user' or 'assistant'"
        content = message.get("content")
        if isinstance(content, str) and not content.strip():
            return "messages: text content blocks must contain non-whitespace text"
        uses: list[str] = []
        answered: set[str] = set()
        for position, block in enumerate(_blocks(message)):
            where = f"messages.{index}.content.{position}"
            error = _anthropic_block_error(block, where)
            if error:
                return error
            kind = block["type"]
            if kind == "tool_use":
                uses.append(block["id"])
            elif kind == "tool_result":
                if block["tool_use_id"] not in previous_uses:
                    return (
                        f"{where}: unexpected `tool_use_id` found in `tool_result` blocks: "
                        f"{block['tool_use_id']}. Each `tool_result` block must have a "
                        "corresponding `tool_use` block in the previous message."
                    )
                answered.add(block["tool_use_id"])
            uses_tools = uses_tools or kind in ("tool_use", "tool_result")
        if missing := [use for use in previous_uses if use not in answered]:
            return (
                f"messages.{index}: `tool_use` ids were found without `tool_result` blocks "
                f"immediately after: {', '.join(missing)}. Each `tool_use` block must have a "
                "corresponding `tool_result` block in the next message."
            )
        previous_uses = uses
    if previous_uses:
        return (
            f"messages.{len(messages) - 1}: `tool_use` ids were found without `tool_result` "
            f"blocks immediately after: {', '.join(previous_uses)}."
        )
    if uses_tools and not body.get("tools"):
        return "Requests which include `tool_use` or `tool_result` blocks must define tools."
    return _anthropic_final_thinking_error(body)


def _anthropic_block_error(block: Any, where: str) -> str | None:
    kind = block.get("type") if isinstance(block, dict) else None
    if kind == "text":
        if not isinstance(block.get("text"), str) or not block["text"].strip():
            return "messages: text content blocks must contain non-whitespace text"
    elif kind == "image":
        source = block.get("source") or {}
        if source.get("type") != "base64" or not source.get("data"):
            return f"{where}.image.source: Input tag does not match any of the expected tags"
        if source.get("media_type") not in ANTHROPIC_IMAGE_TYPES:
            return f"{where}.image.source.base64.media_type: Input should be 'image/jpeg', ..."
    elif kind == "tool_use":
        if not block.get("id") or not block.get("name"):
            return f"{where}.tool_use.id: Field required"
        if not isinstance(block.get("input"), dict):
            return f"{where}.tool_use.input: Input should be a valid dictionary"
    elif kind == "tool_result":
        if not block.get("tool_use_id"):
            return f"{where}.tool_result.tool_use_id: Field required"
    elif kind == "thinking":
        signature = block.get("signature")
        if signature != thinking_signature(str(block.get("thinking", ""))):
            return f"{where}: Invalid `signature` in `thinking` block"
    elif kind == "redacted_thinking":
        if not block.get("data"):
            return f"{where}.redacted_thinking.data: Field required"
    else:
        return f"{where}: Input tag {kind!r} does not match any of the expected tags"
    return None


def _anthropic_final_thinking_error(body: dict[str, Any]) -> str | None:
    """With thinking on, the assistant turn of an open tool loop must open with thinking."""
    if (body.get("thinking") or {}).get("type") != "enabled":
        return None
    messages = body["messages"]
    for index in range(len(messages) - 1, -1, -1):
        if messages[index].get("role") != "assistant":
            continue
        blocks = _blocks(messages[index])
        if not any(block["type"] == "tool_use" for block in blocks):
            return None
        first = blocks[0]["type"]
        if first in ("thinking", "redacted_thinking"):
            return None
        return (
            f"messages.{index}.content.0.type: Expected `thinking` or `redacted_thinking`, "
            f"but found `{first}`. When `thinking` is enabled, a final `assistant` message "
            "must start with a thinking block."
        )
    return None
