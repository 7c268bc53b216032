"""Redis broker options: a dead worker's messages come back soon after the visibility timeout, not ~100 s later.

kombu (transport/redis.py, ``QoS.restore_visible``) sweeps the unacked index every
``unacked_restore_interval * unacked_restore_throttle`` seconds (10 x 10 by default) under a mutex that a worker killed
mid-sweep holds for ``unacked_mutex_expire`` (300 s by default)."""
from __future__ import annotations

import pytest
from kombu.transport.redis import Channel

from workers.celery_app import redis_transport_options


def test_every_option_is_one_kombu_reads():
    assert set(redis_transport_options(5)) <= set(Channel.from_transport_options)


@pytest.mark.parametrize("visibility_timeout_s", [5, 60, 1500])
def test_a_dead_workers_message_is_swept_within_the_timeout_and_ten_seconds(visibility_timeout_s):
    options = redis_transport_options(visibility_timeout_s)
    sweep_period = options["unacked_restore_interval"] * options["unacked_restore_throttle"]
    assert sweep_period <= min(10, visibility_timeout_s)
    assert options["unacked_mutex_expire"] <= max(30, visibility_timeout_s) and options["unacked_mutex_expire"] <= 300
