"""The offline demo model: no network and no key, so a fresh install chats at once."""

from __future__ import annotations

import asyncio
import re
import uuid
from collections.abc import AsyncIterator

from django.conf import settings

from chat.providers.base import (
    Finish,
    ProviderEvent,
    ProviderRequest,
    ResponseMeta,
    TextDelta,
    Usage,
)

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


async def stream(request: ProviderRequest) -> AsyncIterator[ProviderEvent]:
    yield ResponseMeta(request_id=f"demo-{uuid.uuid4().hex[:12]}")
    question = next((m.content for m in reversed(request.messages) if m.role == "user"), "")
    tokens = answer_tokens(question)
    delay = settings.CHAT_DEMO_TOKEN_DELAY_SECONDS
    sent = 0
    for token in tokens:
        if sent >= request.max_tokens:
            break
        if delay:
            await asyncio.sleep(delay)
        yield TextDelta(token)
        sent += 1
    prompt_words = sum(len(m.content.split()) for m in request.messages) + len(
        request.system.split()
    )
    yield Usage(input_tokens=prompt_words, output_tokens=sent)
    yield Finish("length" if sent < len(tokens) else "stop")
