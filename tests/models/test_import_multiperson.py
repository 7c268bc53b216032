"""manage.py import_benchmark --format agora-multiperson: AGORA GT dataframes (trusted pickle) and our plain npz."""
from __future__ import annotations

import pickle
from io import StringIO

import numpy as np
import pytest
from django.core.management import CommandError, call_command

from evaluator.protocols import get_protocol
from leaderboard.benchmarks.models import Benchmark
from leaderboard.benchmarks.services import public_sample_ids
from tests.evaluator.test_multiperson_import import agora_rows

pytestmark = pytest.mark.django_db


def run(*args: str) -> str:
    out = StringIO()
    call_command("import_benchmark", "--name", "Multi", *args, stdout=out)
    return out.getvalue()


def test_agora_dataframes_become_a_hidden_multiperson_benchmark_outside_mpe(tmp_path):
    (tmp_path / "test_0.pkl").write_bytes(pickle.dumps(agora_rows()))
    out = run("--slug", "agora-mp", "--format", "agora-multiperson", "--source", str(tmp_path))
    b = Benchmark.objects.get(slug="agora-mp")
    assert (b.protocol, b.primary_metric, b.num_samples) == ("agora-multiperson", "fb_nmve", 2)
    assert not b.counts_toward_mpe and not b.counts_toward_hand_mpe
    assert list(public_sample_ids(b)) == ["a.png", "b.png"]  # images, never how many people each holds
    assert "Read 2 rows from " in out and "2 samples kept" in out
    assert "3 people in 2 images: 2 valid, 1 invalid (1 more than 90 % occluded" in out and "1 kids" in out
    assert "MPE: not counted (protocol agora-multiperson is never averaged into MPE" in out
    assert b.splits.get().name == "test" and not b.splits.get().is_revealed
    assert f"protocol agora-multiperson v{get_protocol('agora-multiperson').version}" in out


def test_plain_npz_through_format_npz_and_format_agora_multiperson(tmp_path):
    (tmp_path / "x.pkl").write_bytes(pickle.dumps(agora_rows()))
    run("--slug", "first", "--format", "agora-multiperson", "--source", str(tmp_path / "x.pkl"), "--all-public",
        "--hidden-splits")
    from leaderboard.storage import GROUND_TRUTH, local_path

    gt = local_path(GROUND_TRUTH, Benchmark.objects.get(slug="first").gt_path)
    with np.load(gt) as z:
        arrays = {k: z[k] for k in z.files}
    arrays["splits"] = np.where(arrays["image_ids"] == "a.png", "val", "test")
    np.savez(tmp_path / "mine.npz", **arrays)
    out = run("--slug", "second", "--gt", str(tmp_path / "mine.npz"), "--protocol", "agora-multiperson",
              "--primary-metric", "body_nmje")
    b = Benchmark.objects.get(slug="second")
    assert b.primary_metric == "body_nmje" and {s.name: s.is_revealed for s in b.splits.all()} == {"val": True, "test": False}
    assert "Read 2 samples from mine.npz as npz" in out
    out = run("--slug", "third", "--format", "agora-multiperson", "--source", str(tmp_path / "mine.npz"),
              "--protocol-option", "variant=bedlam")
    assert Benchmark.objects.get(slug="third").protocol_options == {"variant": "bedlam"}


@pytest.mark.parametrize("extra, message", [
    (("--mpe",), "never averaged into MPE or hand MPE; drop --mpe"),
    (("--primary-metric", "f1"), "Unknown primary metric 'f1' for protocol 'agora-multiperson'"),
])
def test_refused_options_name_the_problem(tmp_path, extra, message):
    (tmp_path / "x.pkl").write_bytes(pickle.dumps(agora_rows()))
    with pytest.raises(CommandError, match=message):
        run("--slug", "bad", "--format", "agora-multiperson", "--source", str(tmp_path / "x.pkl"), *extra)
    assert not Benchmark.objects.filter(slug="bad").exists()


def test_a_malformed_npz_names_the_key(tmp_path):
    np.savez(tmp_path / "bad.npz", image_ids=np.array(["a"]), joints2d=np.zeros((1, 20, 2)))
    with pytest.raises(CommandError, match="'joints2d' has shape"):
        run("--slug", "bad", "--format", "agora-multiperson", "--source", str(tmp_path / "bad.npz"))


def test_the_admin_rules_keep_it_out_of_mpe_and_rank_by_an_error_figure():
    from django.core.exceptions import ValidationError

    b = Benchmark(slug="x", protocol="agora-multiperson", primary_metric="recall", gt_parts=["body", "hands", "face"],
                  counts_toward_mpe=True, counts_toward_hand_mpe=True)
    with pytest.raises(ValidationError) as caught:
        b.clean()
    errors = caught.value.message_dict
    assert "never averaged into MPE" in errors["counts_toward_mpe"][0]
    assert "never averaged into hand MPE" in errors["counts_toward_hand_mpe"][0]
    assert "fb_nmve" in errors["primary_metric"][0]
    b.primary_metric, b.counts_toward_mpe, b.counts_toward_hand_mpe = "kid_fb_nmve", False, False
    b.clean()
