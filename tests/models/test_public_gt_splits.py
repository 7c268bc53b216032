"""Split.public_ground_truth (issue 22 §4): off unless the host names the split at import, refused for a split the
GT does not have, kept per split."""
from __future__ import annotations

import io

import pytest
from django.core.management import CommandError, call_command

from leaderboard.benchmarks.models import Split
from workers.synthetic import synthetic_gt, write_npz


def test_import_marks_only_the_named_splits_as_public_gt(db, tmp_path):
    gt = write_npz(tmp_path / "gt.npz", synthetic_gt(9, splits=("val", "dev", "test")))
    call_command("import_benchmark", "--slug", "pub", "--name", "Pub", "--gt", str(gt), "--hidden-splits", "test",
                 "--public-gt-splits", "val", stdout=io.StringIO())
    flags = dict(Split.objects.filter(benchmark__slug="pub").values_list("name", "public_ground_truth"))
    assert flags == {"val": True, "dev": False, "test": False}
    call_command("import_benchmark", "--slug", "pub", "--name", "Pub", "--gt", str(gt), "--hidden-splits", "test",
                 stdout=io.StringIO())  # a re-import without the option: the GT is secret again
    assert not Split.objects.filter(benchmark__slug="pub", public_ground_truth=True).exists()
    with pytest.raises(CommandError, match=r"Public-GT split\(s\) \['nope'\]"):
        call_command("import_benchmark", "--slug", "pub", "--name", "Pub", "--gt", str(gt), "--hidden-splits", "test",
                     "--public-gt-splits", "nope", stdout=io.StringIO())
