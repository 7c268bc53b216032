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
PAGE = 2_000  # messages per LRANGE reply
PAGES_PER_ROUND_TRIP = 8  # LRANGEs pipelined together
# The task id of a Celery (protocol 2) message is the first "id" key of its "headers" object, which
# precedes any nested object there. The body is base64 (no quotes) and quotes inside string values are
# escaped, so two bytes.find calls locate it; an id holding a backslash (a JSON escape) is decoded in full.
_HEADERS, _ID = b'"headers": {', b'"id": "'


def _message_task_id(raw: bytes) -> str | None:
    try:
        return json.loads(raw)["headers"]["id"]
    except (ValueError, KeyError, TypeError):
        return None


def _task_id(raw: bytes) -> str | None:
    """The task id of one raw message: located with bytes.find (10x cheaper than decoding the JSON)."""
    start = raw.find(_HEADERS)
    start = raw.find(_ID, start) if start >= 0 else -1
    end = raw.find(b'"', start + len(_ID)) if start >= 0 else -1
    token = raw[start + len(_ID): end] if end >= 0 else b"\\"
    if b"\\" not in token:
        try:
            return token.decode()
        except UnicodeDecodeError:
            pass
    return _message_task_id(raw)


def _page_task_ids(page: list[bytes]) -> Iterable[str]:
    return filter(None, map(_task_id, page))


def _queue_keys(client, queue: str) -> Iterable[bytes]:
    # kombu keeps priority levels in sibling lists named "<queue>\x06\x16<priority>".
    yield queue.encode()
    yield from client.scan_iter(match=f"{queue}\x06\x16*", count=100)


def _pages(client, key: bytes) -> Iterable[list[bytes]]:
    """The pages of one Redis list, PAGES_PER_ROUND_TRIP pipelined LRANGEs at a time."""
    start = 0
    while True:
        pipe = client.pipeline(transaction=False)
        for i in range(PAGES_PER_ROUND_TRIP):
            pipe.lrange(key, start + i * PAGE, start + (i + 1) * PAGE - 1)
        pages = pipe.execute()
        yield from pages
        if len(pages[-1]) < PAGE:
            return
        start += PAGES_PER_ROUND_TRIP * PAGE


def _list_task_ids(client, key: bytes) -> set[str]:
    """Every task id in one Redis list, however long.

    kombu LPUSHes new messages at the head and workers pop from the tail, so reading pages from the head
    never skips a message that is still waiting: a push meanwhile only shifts messages to later pages
    (read twice, harmless) and a pop only removes the oldest, which are no longer waiting.
    """
    ids: set[str] = set()
    for page in _pages(client, key):
        ids.update(_page_task_ids(page))
    return ids


def waiting_task_ids(app, queues: Iterable[str] = QUEUES) -> set[str] | None:
    """Task ids of messages queued but not yet delivered to a worker (all of them, at any backlog);
    None when the broker cannot tell."""
    try:
        with app.connection_for_read() as conn:
            if conn.transport.driver_type != "redis":  # redis:// and rediss:// alike
                return None
            client = conn.default_channel.client
            ids: set[str] = set()
            for queue in queues:
                for key in _queue_keys(client, queue):
                    ids |= _list_task_ids(client, key)
            return ids
    except Exception:  # the broker being down is exactly when the sweeper must still act on timeouts
        logger.warning("Could not inspect broker queues; falling back to heartbeat timeouts", exc_info=True)
        return None
