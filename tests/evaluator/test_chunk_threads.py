"""Chunks scored on several threads (evaluator.chunk_threads): same results, order kept, bounded, clean stop."""
from __future__ import annotations

import threading
import time

import numpy as np
import pytest
import torch

from evaluator.chunk_threads import LOOKAHEAD, map_chunks
from evaluator.demo import make_demo_benchmark
from evaluator.formats import load_sample_set
from evaluator.protocols import get_protocol


def test_results_keep_their_order_and_torch_threads_come_back():
    before = torch.get_num_threads()
    seen_threads = set()

    def work(i: int) -> int:
        seen_threads.add(torch.get_num_threads())
        time.sleep(0.002 * (i % 3))  # finish out of order
        return i * i

    assert list(map_chunks(work, range(20), threads=3)) == [i * i for i in range(20)]
    assert seen_threads == {1} and torch.get_num_threads() == before


def test_at_most_a_bounded_number_of_chunks_run_ahead():
    started, lock = [], threading.Lock()

    def work(i: int) -> int:
        with lock:
            started.append(i)
        return i

    results = map_chunks(work, range(100), threads=2)
    assert next(results) == 0
    time.sleep(0.05)
    assert len(started) <= 2 * (1 + LOOKAHEAD) + 1
    results.close()  # the consumer stops: nothing more is started
    count = len(started)
    time.sleep(0.05)
    assert len(started) == count < 100


def test_an_error_stops_the_rest():
    started = []

    def work(i: int) -> int:
        started.append(i)
        if i == 3:
            raise ValueError("sample 3 is broken")
        time.sleep(0.01)
        return i

    with pytest.raises(ValueError, match="sample 3"):
        list(map_chunks(work, range(200), threads=2))
    assert len(started) < 200


def test_threads_must_be_positive():
    with pytest.raises(ValueError, match="at least 1"):
        list(map_chunks(lambda i: i, range(3), threads=0))


@pytest.mark.parametrize("variant", ["smpler-x", "smplest-x"])
def test_threaded_scoring_is_bit_identical(body_model, tmp_path, variant):
    gt_path, pred_path = make_demo_benchmark(tmp_path, num_samples=50, seed=4)
    protocol = get_protocol("smplx-generic", {"variant": variant})
    gt, pred = load_sample_set(gt_path, role="gt"), load_sample_set(pred_path)
    done = []
    serial = protocol.per_sample(body_model, gt, pred, chunk_size=8)
    threaded = protocol.per_sample(body_model, gt, pred, chunk_size=8, threads=2,
                                   progress=lambda d, total: done.append((d, total)))
    assert done == [(min(d, 50), 50) for d in range(8, 57, 8)]
    assert serial.keys() == threaded.keys()
    for key, values in serial.items():
        assert np.array_equal(values, threaded[key], equal_nan=values.dtype.kind == "f"), key
