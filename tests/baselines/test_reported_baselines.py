"""import_reported_baselines: idempotent rows with the published figures, ranked by MPE among computed rows."""
from __future__ import annotations

import pytest
from django.core.management import CommandError, call_command
from django.test import Client
from django.utils.html import escape

from leaderboard.benchmarks.testing import make_benchmark
from leaderboard.submissions.baselines import SYSTEM_USERNAME, reported_method_name
from leaderboard.submissions.leaderboard import benchmark_leaderboard, overall_leaderboard
from leaderboard.submissions.models import BaselineSource, BenchmarkResult, ShardResult, Status, Submission
from leaderboard.submissions.scores import Coverage, CoverageEntry, coverage_groups, recompute_scores, submission_coverage
from reference_models.baselines import SMPLER_X_README, UBODY_TABLE, baseline_rows

pytestmark = pytest.mark.django_db

MPE_ROWS = {reported_method_name(r): r.metrics["mpe"] for r in baseline_rows("mpe")}
UBODY_ROWS = {reported_method_name(r): r for r in baseline_rows("ubody")}


def run_import(*args: str) -> str:
    from io import StringIO

    out = StringIO()
    call_command("import_reported_baselines", *args, stdout=out)
    return out.getvalue()


def reported() -> dict[str, Submission]:
    return {s.method_name: s for s in Submission.objects.filter(baseline_source=BaselineSource.REPORTED)}


def computed_row(owner, name: str, mpe: float) -> Submission:
    """A finished row whose MPE covers bench-r/test (as scores.recompute_scores would record it)."""
    coverage = Coverage.of([CoverageEntry("bench-r", "test", "smplx-generic", "1")])
    return Submission.objects.create(owner=owner, method_name=name, status=Status.FINISHED, is_public=True, mpe=mpe,
                                     score_coverage={"mpe": coverage.to_json()}, mpe_coverage_key=coverage.key)


def test_mpe_rows_carry_the_readme_figures_and_are_idempotent():
    out = run_import()
    assert "skipped published 'ubody' figures: no benchmark with slug 'ubody'" in out
    rows = reported()
    assert {name: s.mpe for name, s in rows.items()} == MPE_ROWS  # no UBody rows without a 'ubody' benchmark
    assert set(MPE_ROWS) == {"SMPLer-X-S32", "SMPLer-X-B32", "SMPLer-X-L32", "SMPLer-X-H32",
                             "SMPLer-X-H32* [3DPW camera fix (2024-03)]"}
    for s in rows.values():
        assert (s.status, s.is_public, s.citation, s.owner.username) == (Status.FINISHED, True, SMPLER_X_README, SYSTEM_USERNAME)
        assert not s.owner.has_usable_password()
        assert not s.upload and not s.results.exists() and not s.benchmarks.exists()

    Submission.objects.filter(pk=rows["SMPLer-X-S32"].pk).update(mpe=1.0, is_public=False)  # drifted by hand
    assert "updated: SMPLer-X-S32" in run_import()
    again = reported()
    assert {n: s.pk for n, s in again.items()} == {n: s.pk for n, s in rows.items()}
    assert again["SMPLer-X-S32"].mpe == 82.6 and again["SMPLer-X-S32"].is_public


def test_ubody_figures_go_to_the_mapped_benchmark_on_its_ranking_split():
    ubody, _ = make_benchmark("ubody-test", num_samples=6, seed=3, with_splits=True)
    ranking = ubody.splits.get(is_ranking=True).name
    run_import("--benchmark-map", "ubody=ubody-test")
    run_import("--benchmark-map", "ubody=ubody-test")
    rows = reported()
    assert set(rows) == set(MPE_ROWS) | set(UBODY_ROWS)
    assert "SMPLest-X-H40" in rows and "SMPLest-X-H40 [finetuned on UBody]" in rows  # same method, two rows
    for name, row in UBODY_ROWS.items():
        (result,) = BenchmarkResult.objects.filter(submission=rows[name])
        assert (result.benchmark, result.split, result.metrics) == (ubody, ranking, row.metrics)
        assert result.primary_value == row.metrics["mpvpe_all"]
        assert rows[name].citation == UBODY_TABLE and rows[name].mpe is None
        assert "third-party" in rows[name].description.lower()
    assert not ShardResult.objects.exists()

    page = Client().get(rows["OSX [finetuned on UBody]"].get_absolute_url()).content.decode()
    assert 'class="badge reported">reported baseline' in page and escape(UBODY_TABLE) in page
    assert "copied from the source, not computed here" in page and "0 samples" not in page

    table, _, _ = benchmark_leaderboard(ubody, ubody.splits.get(name=ranking))
    assert [r.submission.method_name for r in table] == sorted(UBODY_ROWS, key=lambda n: UBODY_ROWS[n].metrics["mpvpe_all"])
    assert table[0].rank == 1

    # copied figures never turn into a server-computed MPE, even when scores are recomputed
    for s in reported().values():
        recompute_scores(s)
    assert {n: s.mpe for n, s in reported().items() if n in MPE_ROWS} == MPE_ROWS
    assert all(reported()[n].mpe is None for n in UBODY_ROWS)


def test_a_later_mapping_moves_the_figures():
    first, _ = make_benchmark("ubody", num_samples=4, seed=4)
    run_import()
    second, _ = make_benchmark("ubody-v2", num_samples=4, seed=5)
    run_import("--benchmark-map", "ubody=ubody-v2")
    results = BenchmarkResult.objects.filter(submission__baseline_source=BaselineSource.REPORTED)
    assert results.count() == len(UBODY_ROWS) and set(results.values_list("benchmark", flat=True)) == {second.pk}


def test_bad_mapping_is_refused():
    with pytest.raises(CommandError, match="expects PUBLISHED=SLUG.*got .ubody."):
        run_import("--benchmark-map", "ubody")
    with pytest.raises(CommandError, match="No published per-benchmark figures for agora; known: ubody"):
        run_import("--benchmark-map", "agora=demo-agora")
    assert not Submission.objects.exists()


def test_reported_rows_rank_in_their_own_section_with_badge_and_citation(django_user_model):
    """Published figures cover other test sets than this server's MPE: ranked among themselves, after the computed rows."""
    alice = django_user_model.objects.create_user("alice", password="pw-alice-123")
    make_benchmark("bench-r", num_samples=4, seed=1)
    computed_row(alice, "Ours-60", 60.0)
    computed_row(alice, "Ours-70", 70.0)
    run_import()

    rows = overall_leaderboard()
    names = [r.submission.method_name for r in rows]
    assert names == ["Ours-60", "Ours-70", "SMPLer-X-H32* [3DPW camera fix (2024-03)]", "SMPLer-X-H32", "SMPLer-X-L32",
                     "SMPLer-X-B32", "SMPLer-X-S32"]
    assert [r.rank for r in rows] == [1, 2, 1, 2, 3, 4, 5]
    assert rows[0].section_title == "Computed here: MPE on bench-r/test (smplx-generic v1)"
    assert rows[2].section_title.startswith("Reported in papers: MPE on 3dpw/")
    assert [r.primary for r in rows if r.submission.is_baseline] == [{}] * 5  # no per-benchmark numbers of their own

    html = Client().get("/").content.decode()
    assert html.index("Ours-60") < html.index("Reported in papers: MPE") < html.index("SMPLer-X-H32*") < html.index("SMPLer-X-S32")
    assert html.count('class="badge reported"') == 5 and 'class="badge computed"' not in html
    assert SMPLER_X_README in html
    assert html.count(">from paper</td>") == 5  # reported rows show no submission date of their own


def test_reported_mpe_rows_record_what_they_were_reported_on():
    """A published MPE covers the five SMPLer-X test sets under the source's protocol: never a server coverage."""
    run_import()
    coverages = {name: submission_coverage(s) for name, s in reported().items()}
    assert set(coverages) == set(MPE_ROWS)
    for name, coverage in coverages.items():
        assert coverage.benchmarks == ("3dpw", "agora", "egobody", "ehf", "ubody")
        assert coverage.label.endswith(f"(as published in {SMPLER_X_README})")
        assert reported()[name].mpe_coverage_key == coverage.key
    assert len({c.key for c in coverages.values()}) == 1  # same source: ranked together
    groups = coverage_groups(reported().values())
    assert len(groups) == 1 and groups[0].is_reported
