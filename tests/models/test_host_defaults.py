"""Hosts' defaults: test splits hidden on import (and the command says so), demo benchmarks kept as the host left
them on every start and never silently part of a real deployment's MPE."""
from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
from django.conf import settings
from django.core.management import CommandError, call_command

from leaderboard.benchmarks.demo import DEMO_SLUGS, REFERENCE_METHOD, create_demo_benchmarks
from leaderboard.benchmarks.models import Benchmark, Split
from leaderboard.submissions.models import Submission


def _import(*args: str) -> str:
    out = io.StringIO()
    call_command("import_benchmark", *args, stdout=out)
    return out.getvalue()


def _gt_with_splits(tmp_path, name: str = "gt.npz"):
    from evaluator.demo import make_demo_benchmark

    gt_path, _ = make_demo_benchmark(tmp_path / name.removesuffix(".npz"), num_samples=20, seed=3)
    with np.load(gt_path) as gt:
        assert set(gt["splits"].tolist()) == {"dev", "test"}
    return gt_path


def test_import_hides_test_splits_by_default_and_says_so(db, tmp_path):
    output = _import("--slug", "real", "--name", "Real", "--gt", str(_gt_with_splits(tmp_path)))
    splits = {s.name: s for s in Split.objects.filter(benchmark__slug="real")}
    assert not splits["test"].is_revealed and splits["dev"].is_revealed and splits["dev"].is_ranking
    assert "split test:" in output and "HIDDEN" in output and "ranking split" in output and "Reveal a split" in output
    assert "MPE: counts" in output


def test_an_import_that_hides_nothing_needs_all_public(db, tmp_path):
    gt = str(_gt_with_splits(tmp_path))
    with pytest.raises(CommandError, match="Every split \\(dev, test\\) would be public.*--all-public"):
        _import("--slug", "open", "--name", "Open", "--gt", gt, "--hidden-splits")
    assert not Benchmark.objects.filter(slug="open").exists()
    output = _import("--slug", "open", "--name", "Open", "--gt", gt, "--hidden-splits", "--all-public")
    assert all(s.is_revealed for s in Split.objects.filter(benchmark__slug="open"))
    assert "HIDDEN" not in output


def test_single_test_split_is_hidden_and_the_command_warns_nothing_shows(db, tmp_path):
    from leaderboard.benchmarks.testing import make_benchmark

    benchmark, _ = make_benchmark("tmp", num_samples=6)
    gt = tmp_path / "single.npz"
    from leaderboard.storage import private_path

    gt.write_bytes(private_path(benchmark.gt_path).read_bytes())  # one 'test' split (no splits array)
    output = _import("--slug", "single", "--name", "Single", "--gt", str(gt))
    assert not Split.objects.get(benchmark__slug="single", name="test").is_revealed
    assert "show nothing for it until its ranking split is revealed" in output


def test_demo_benchmarks_keep_the_hosts_split_flags_on_every_start(db, tmp_path):
    create_demo_benchmarks(tmp_path)
    test = Split.objects.get(benchmark__slug="demo-3dpw", name="test")
    assert not test.is_revealed
    Split.objects.filter(pk=test.pk).update(is_revealed=True)  # the host revealed it
    Benchmark.objects.filter(slug="demo-ehf").update(description="edited by the host")
    create_demo_benchmarks(tmp_path)  # scripts/serve runs this on every start
    assert Split.objects.get(pk=test.pk).is_revealed
    assert Benchmark.objects.get(slug="demo-ehf").description == "edited by the host"
    create_demo_benchmarks(tmp_path, refresh=True)  # explicit reset
    assert not Split.objects.get(benchmark__slug="demo-3dpw", name="test").is_revealed


def test_demo_benchmarks_leave_mpe_once_a_real_benchmark_counts(db, tmp_path):
    create_demo_benchmarks(tmp_path / "preds")
    in_mpe = set(Benchmark.objects.filter(counts_toward_mpe=True).values_list("slug", flat=True))
    assert in_mpe and in_mpe <= DEMO_SLUGS  # alone, the demo keeps its MPE (the demo site shows one)
    output = _import("--slug", "agora", "--name", "AGORA", "--gt", str(_gt_with_splits(tmp_path)))
    assert set(Benchmark.objects.filter(counts_toward_mpe=True).values_list("slug", flat=True)) == {"agora"}
    assert set(Benchmark.objects.filter(counts_toward_hand_mpe=True).values_list("slug", flat=True)) == {"agora"}
    assert "no longer count toward MPE" in output and all(s in output for s in sorted(in_mpe))
    # ... and they are listed after the real one, which the import says, naming the way to remove them
    assert list(Benchmark.objects.values_list("slug", flat=True))[0] == "agora"
    assert "listed after the real ones" in output and "create_demo_benchmarks --remove" in output
    demo_gt = Path(settings.PRIVATE_STORAGE_ROOT) / Benchmark.objects.get(slug="demo-ehf").gt_path
    assert demo_gt.is_file()
    out = io.StringIO()
    call_command("create_demo_benchmarks", "--remove", stdout=out)
    assert "Removed demo-3dpw, demo-agora, demo-ehf, demo-images, demo-multiperson, demo-ubody" in out.getvalue()
    assert list(Benchmark.objects.values_list("slug", flat=True)) == ["agora"] and not demo_gt.exists()
    assert not Submission.objects.filter(method_name=REFERENCE_METHOD).exists()  # the demo's computed row went too


def test_demo_benchmarks_created_after_a_real_one_are_not_in_mpe(db, tmp_path):
    _import("--slug", "agora", "--name", "AGORA", "--gt", str(_gt_with_splits(tmp_path)))
    create_demo_benchmarks(tmp_path / "preds")
    assert not Benchmark.objects.filter(slug__in=DEMO_SLUGS, counts_toward_mpe=True).exists()
    assert not Benchmark.objects.filter(slug__in=DEMO_SLUGS, counts_toward_hand_mpe=True).exists()
    slugs = list(Benchmark.objects.values_list("slug", flat=True))
    assert slugs[0] == "agora" and set(slugs[1:]) == DEMO_SLUGS  # listed after the real one
