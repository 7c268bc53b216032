"""Which task messages are still waiting in the broker, so the sweeper can tell a backlog from lost work.

A submission waiting behind a long queue sends no heartbeat, exactly like one whose messages were
lost (Redis restarted, a worker died holding them). Re-sending the first kind only lengthens the
backlog and burns its attempts; so before re-dispatching, the sweeper asks the broker which task ids
are still queued. Only the Redis transport is inspected (its queues are plain lists of JSON
messages); for other brokers the answer is "unknown" and the sweeper keeps its timeout rule.
"""
from __future__ import annotations

import json
import logging
from collections.abc import Iterable

logger = logging.getLogger(__name__)

QUEUES = ("validate", "evaluate", "finalize")
# Reading a long backlog costs one LRANGE per page; bound it so the sweeper stays cheap.
MAX_MESSAGES_PER_QUEUE = 100_000
PAGE = 1_000


def _message_task_id(raw: bytes) -> str | None:
    try:
        return json.loads(raw)["headers"]["id"]
    except (ValueError, KeyError, TypeError):
        return None


def _queue_keys(client, queue: str) -> Iterable[bytes]:
    # kombu keeps priority levels in sibling lists named "<queue>\x06\x16<priority>".
    yield queue.encode()
    yield from client.scan_iter(match=f"{queue}\x06\x16*", count=100)


def waiting_task_ids(app, queues: Iterable[str] = QUEUES) -> set[str] | None:
    """Task ids of messages queued but not yet delivered to a worker; None when the broker cannot tell."""
    try:
        with app.connection_for_read() as conn:
            if conn.transport.driver_type != "redis":  # redis:// and rediss:// alike
                return None
            client = conn.default_channel.client
            ids: set[str] = set()
            for queue in queues:
                for key in _queue_keys(client, queue):
                    for start in range(0, MAX_MESSAGES_PER_QUEUE, PAGE):
                        page = client.lrange(key, start, start + PAGE - 1)
                        ids.update(filter(None, map(_message_task_id, page)))
                        if len(page) < PAGE:
                            break
            return ids
    except Exception:  # the broker being down is exactly when the sweeper must still act on timeouts
        logger.warning("Could not inspect broker queues; falling back to heartbeat timeouts", exc_info=True)
        return None
