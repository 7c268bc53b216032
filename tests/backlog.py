"""A long broker backlog of real Celery messages, built in seconds (shared by tests/workers and bench/).

Sending 100k tasks through Celery takes over a minute here, so one message is sent for real and the rest are
byte copies of it with their own task id: same size, same JSON layout, as the sweeper's scan meets them.
"""
from __future__ import annotations

from celery import Celery

BATCH = 1_000  # values per LPUSH


def fill_backlog(app: Celery, queue: str, task_ids: list[str], task: str = "workers.tasks.evaluate_shard") -> None:
    """Queue one ``task`` message per id on ``queue`` (a Redis broker), in order: the first id is the oldest."""
    template_id, scratch = "backlog-template-id", f"{queue}.backlog-template"
    app.send_task(task, args=(1, 1, 0, 0, 64), task_id=template_id, queue=scratch)
    with app.connection_for_write() as conn:
        client = conn.default_channel.client
        template = client.rpop(scratch)  # a queue of its own: whatever is already on ``queue`` stays put
        assert template is not None and template_id.encode() in template
        pipe = client.pipeline(transaction=False)
        for first in range(0, len(task_ids), BATCH):
            # kombu LPUSHes at the head and workers pop the tail: pushing in order keeps the first id oldest.
            pipe.lpush(queue, *(template.replace(template_id.encode(), t.encode())
                                for t in task_ids[first:first + BATCH]))
        pipe.execute()
