"""Where does my method fail (issue 22 §4): worst samples and error distributions, revealed splits only, never for a
model run, visible to the owner and to everyone once published."""
from __future__ import annotations

import re

import numpy as np
import pytest
from django.test import Client

from leaderboard.benchmarks.models import Benchmark, Split
from leaderboard.submissions.models import BenchmarkResult, ShardResult, Status, Submission, SubmissionKind
from leaderboard.submissions.per_sample import store_shard
from leaderboard.web.failures import BINS, histogram_svg

pytestmark = pytest.mark.django_db
N_DEV, N_TEST, OUTLIER = 30, 10, 17


@pytest.fixture
def mixed(db) -> Benchmark:
    benchmark = Benchmark.objects.create(slug="fail-b", name="Fail B", gt_path="gt/fail-b/gt.npz")
    Split.objects.create(benchmark=benchmark, name="dev", is_ranking=True, is_revealed=True, num_samples=N_DEV)
    Split.objects.create(benchmark=benchmark, name="test", is_revealed=False, num_samples=N_TEST)
    return benchmark


def evaluated(owner, benchmark, kind=SubmissionKind.PREDICTIONS, public=False) -> Submission:
    """A finished submission whose per-sample errors (one shard) hold an outlier on the revealed split and larger
    errors still on the hidden one."""
    submission = Submission.objects.create(owner=owner, method_name="Fails-Net", kind=kind, status=Status.FINISHED,
                                           is_public=public)
    rng = np.random.default_rng(0)
    errors = rng.uniform(40, 60, N_DEV + N_TEST)
    errors[OUTLIER] = 500.0
    errors[N_DEV:] = 9000 + np.arange(N_TEST)  # hidden: worse than anything revealed
    ids = np.array([f"dev-{i}" for i in range(N_DEV)] + [f"secret-{i}" for i in range(N_TEST)])
    splits = np.array(["dev"] * N_DEV + ["test"] * N_TEST)
    store_shard(submission, benchmark.slug, 0, {"sample_id": ids, "split": splits, "mpvpe_all": errors,
                                                "mpvpe_hand": errors / 2, "mpvpe_face": np.full(errors.shape, np.nan)})
    ShardResult.objects.create(submission=submission, benchmark=benchmark, shard_index=0, sample_start=0,
                               sample_stop=N_DEV + N_TEST, sums={})
    BenchmarkResult.objects.create(submission=submission, benchmark=benchmark, split="dev", num_samples=N_DEV,
                                   primary_value=float(errors[:N_DEV].mean()), metrics={"mpvpe_all": 1.0})
    return submission


def url(submission, benchmark) -> str:
    return f"/submissions/{submission.uuid}/failures/{benchmark.slug}/"


def test_the_injected_outlier_ranks_first_and_hidden_samples_never_show(mixed, alice):
    submission = evaluated(alice, mixed)
    client = Client()
    client.force_login(alice)
    page = client.get(url(submission, mixed)).content.decode()
    ids = re.findall(r"<code>([^<]+)</code>", page)
    assert len(ids) == 12 and ids[0] == f"dev-{OUTLIER}"
    assert "secret" not in page and "9000" not in page and "test" not in re.findall(r"<td>(\w+)</td>", page)
    assert page.count('class="chart histogram"') == 2  # all and hands; the face has no value anywhere
    assert url(submission, mixed) in client.get(submission.get_absolute_url()).content.decode()


def test_shown_to_everyone_once_published_never_for_a_model_run(mixed, alice, bob):
    submission = evaluated(alice, mixed)
    assert Client().get(url(submission, mixed)).status_code == 404
    Submission.objects.filter(pk=submission.pk).update(is_public=True)
    assert Client().get(url(submission, mixed)).status_code == 200
    model = evaluated(bob, mixed, kind=SubmissionKind.CONTAINER, public=True)
    client = Client()
    client.force_login(bob)
    response = client.get(url(model, mixed))
    assert response.status_code == 404 and b"dev-" not in response.content
    assert url(model, mixed) not in client.get(model.get_absolute_url()).content.decode()


def test_histogram_counts_every_valued_sample_and_is_the_same_bytes_each_time():
    values = np.concatenate([np.linspace(1, 99, 97), [np.nan, np.inf, 250.0]])
    svg = histogram_svg(values, "PVE (all)")
    assert svg == histogram_svg(values.copy(), "PVE (all)")
    counts = [int(c) for c in re.findall(r"mm: (\d+) samples</title>", svg)]
    assert len(counts) == BINS and sum(counts) == 98 and counts[-1] == 1  # the 250 mm sample alone in the top bin
    assert histogram_svg(np.array([np.nan]), "x") == ""
