"""History that every provider accepts, whatever a cut or a stop left in it.

Both APIs refuse a tool result without the call it answers, and a call without a result
right after it. A history window can cut between the two, and a stop during a tool call
can leave calls without results; either would break every later request of the
conversation. So before building a request, both providers pair calls with results here.
"""

from __future__ import annotations

from chat.providers.base import ChatMessage

# What the model is told for a call whose result never came.
MISSING_RESULT = "No result: the call did not finish."


def paired_tool_results(messages: tuple[ChatMessage, ...]) -> list[ChatMessage]:
    """The messages with every tool result right after its call, and every call answered.

    A result whose call is not in the assistant message just before it (or that answers a
    call twice) is dropped; a call left without a result gets an error result saying so.
    """
    paired: list[ChatMessage] = []
    waiting: dict[str, None] = {}  # ids of the last assistant message's unanswered calls

    def answer_the_rest() -> None:
        paired.extend(
            ChatMessage("tool", MISSING_RESULT, tool_call_id=call_id, is_error=True)
            for call_id in waiting
        )
        waiting.clear()

    for message in messages:
        if message.role == "tool":
            if message.tool_call_id in waiting:
                del waiting[message.tool_call_id]
                paired.append(message)
            continue
        answer_the_rest()
        paired.append(message)
        if message.role == "assistant":
            waiting.update(dict.fromkeys(call.id for call in message.tool_calls))
    answer_the_rest()
    return paired
