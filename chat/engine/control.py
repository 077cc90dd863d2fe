"""Stop commands that reach the answer on whichever worker runs it.

One process: a direct call. Several workers (REDIS_URL): a Redis pub/sub message that
every worker running answers listens to; the one that has the answer cancels it.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable

from chat.redis import redis_client, redis_enabled, redis_key

logger = logging.getLogger(__name__)

StopLocal = Callable[[str, str], bool]


def control_channel() -> str:
    return redis_key("control")


async def publish_stop(message_id: str, reason: str) -> None:
    await redis_client().publish(
        control_channel(), json.dumps({"stop": message_id, "reason": reason})
    )


async def request_stop(message_id: str, reason: str, stop_local: StopLocal) -> bool:
    """Stop an answer here, or ask the other workers. True if the command went out."""
    if stop_local(message_id, reason):
        return True
    if not redis_enabled():
        return False
    await publish_stop(message_id, reason)
    return True


async def listen(stop_local: StopLocal, subscribed: asyncio.Event | None = None) -> None:
    """Carry out stop commands for this worker's answers, for as long as the worker lives."""
    while True:
        try:
            async with redis_client().pubsub() as pubsub:
                await pubsub.subscribe(control_channel())
                if subscribed is not None:
                    subscribed.set()
                async for message in pubsub.listen():
                    if message.get("type") != "message":
                        continue
                    command = json.loads(message["data"])
                    stop_local(command["stop"], command["reason"])
        except asyncio.CancelledError:
            raise
        except Exception:
            logger.exception("Control channel failed; listening again in a second")
            await asyncio.sleep(1.0)
