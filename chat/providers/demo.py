"""The offline demo model: no network and no key, so a fresh install chats at once.

Asked the time or a sum, with the `current_time` or `calculator` tool offered, it reasons
briefly and calls the tool; given the result, it answers with it. Anything else gets a
markdown answer that echoes the question.
"""

from __future__ import annotations

import asyncio
import json
import re
import uuid
from collections.abc import AsyncGenerator, AsyncIterator, Iterable

from django.conf import settings

from chat.providers.base import (
    ChatMessage,
    Finish,
    ProviderEvent,
    ProviderRequest,
    ReasoningBlock,
    ReasoningDelta,
    ReasoningDone,
    ResponseMeta,
    TextDelta,
    ToolCallDelta,
    ToolCallStart,
    Usage,
)
from chat.providers.tool_calls import completed_call

LABEL = "Demo (offline)"

ANSWER = """You asked: *{question}*

I am the **demo model**. I run offline, with no API key, so the site works out of the box. \
Here is what a streamed answer can hold:

1. **Lists**, like this one, render while they stream.
2. `Inline code` and [links](https://docs.djangoproject.com/) work too.
3. So do fenced code blocks and tables:

```python
def greet(name: str) -> str:
    return f"Hello, {{name}}!"
```

| Feature | Demo model | Real model |
|---|---|---|
| Streaming | yes | yes |
| Needs a key | no | usually |

Connect a real model in Django admin, or with `python manage.py configure_model`.
"""

# Words with their trailing space, or runs of whitespace: roughly one token each.
TOKEN_PATTERN = re.compile(r"\S+\s*|\s+")


def answer_tokens(question: str) -> list[str]:
    quoted = " ".join(question.split())
    if len(quoted) > 200:
        quoted = quoted[:200] + "…"
    # Keep the echo from breaking out of the emphasis markers.
    quoted = quoted.replace("*", "\\*") or "(nothing)"
    return TOKEN_PATTERN.findall(ANSWER.format(question=quoted))


CURRENT_TIME = "current_time"
CALCULATOR = "calculator"

TIME_QUESTION = re.compile(
    r"\b(?:what time|the time|time is it|time now|current time|what day|today'?s date)\b",
    re.IGNORECASE,
)
# Numbers joined by operators, with parentheses: "12*7+3", "(2 + 3) * 4".
ARITHMETIC = re.compile(r"-?[\d.(\s]*\d[\d.()\s]*(?:[-+*/^%][-\d.()\s]*\d[\d.()\s]*)+")
# One result, quoted in an answer, at most this long.
RESULT_CHARACTERS = 300


def tool_round(request: ProviderRequest, question: str) -> tuple[str, str, str] | None:
    """(reasoning, tool name, arguments JSON) when a question is for an offered tool."""
    offered = {tool.name for tool in request.tools}
    if request.tool_choice == "none":
        return None
    if CURRENT_TIME in offered and TIME_QUESTION.search(question):
        reasoning = (
            "The user wants the current time. I cannot know it offline, "
            f"so I will ask the {CURRENT_TIME} tool."
        )
        return reasoning, CURRENT_TIME, "{}"
    expression = ARITHMETIC.search(question)
    if CALCULATOR in offered and expression:
        arithmetic = " ".join(expression.group().split())
        reasoning = (
            f"This is arithmetic: {arithmetic}. "
            f"The {CALCULATOR} tool gives the exact result, so I will use it."
        )
        return reasoning, CALCULATOR, json.dumps({"expression": arithmetic})
    return None


def answer_from_results(messages: tuple[ChatMessage, ...]) -> str:
    """The answer after a tool round, from the results that end `messages`."""
    results: list[ChatMessage] = []
    for message in reversed(messages):
        if message.role != "tool":
            break
        results.insert(0, message)
    asked = next((m for m in reversed(messages) if m.role == "assistant"), None)
    calls = {call.id: call for call in asked.tool_calls} if asked else {}
    sentences = []
    for result in results:
        call = calls.get(result.tool_call_id)
        name = call.name if call else "tool"
        output = " ".join(result.text.split())[:RESULT_CHARACTERS]
        if result.is_error:
            sentences.append(f"The `{name}` tool failed ({output}), so I cannot answer that.")
        elif name == CURRENT_TIME:
            sentences.append(f"It is **{output}**, according to the `{name}` tool.")
        elif name == CALCULATOR and call is not None:
            parsed = completed_call(call.id, name, call.arguments).parsed_arguments or {}
            expression = str(parsed.get("expression", call.arguments))
            sentences.append(f"`{expression}` = **{output}**")
        else:
            sentences.append(f"The `{name}` tool answered: {output}")
    return "\n\n".join(sentences)


def words_in(messages: Iterable[ChatMessage], system: str) -> int:
    return sum(len(m.text.split()) for m in messages) + len(system.split())


async def paced(pieces: list[str]) -> AsyncIterator[str]:
    delay = settings.CHAT_DEMO_TOKEN_DELAY_SECONDS
    for piece in pieces:
        if delay:
            await asyncio.sleep(delay)
        yield piece


async def stream(request: ProviderRequest) -> AsyncGenerator[ProviderEvent, None]:
    yield ResponseMeta(request_id=f"demo-{uuid.uuid4().hex[:12]}")
    prompt_words = words_in(request.messages, request.system)
    last = request.messages[-1] if request.messages else None
    question = next((m.text for m in reversed(request.messages) if m.role == "user"), "")
    planned = None if last is None or last.role == "tool" else tool_round(request, question)
    if planned is not None:
        reasoning, name, arguments = planned
        pieces = TOKEN_PATTERN.findall(reasoning)
        async for piece in paced(pieces):
            yield ReasoningDelta(piece)
        yield ReasoningDone(ReasoningBlock(reasoning))
        call_id = f"call_{uuid.uuid4().hex[:24]}"
        yield ToolCallStart(call_id, name)
        fragments = [arguments[i : i + 8] for i in range(0, len(arguments), 8)]
        async for fragment in paced(fragments):
            yield ToolCallDelta(call_id, fragment)
        yield completed_call(call_id, name, arguments)
        yield Usage(input_tokens=prompt_words, output_tokens=len(pieces) + len(fragments))
        yield Finish("tool_calls")
        return
    if last is not None and last.role == "tool":
        tokens = TOKEN_PATTERN.findall(answer_from_results(request.messages))
    else:
        tokens = answer_tokens(question)
    sent = 0
    async for token in paced(tokens[: request.max_tokens]):
        yield TextDelta(token)
        sent += 1
    yield Usage(input_tokens=prompt_words, output_tokens=sent)
    yield Finish("length" if sent < len(tokens) else "stop")
