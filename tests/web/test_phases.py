"""Phases (issue 21): submissions only while a phase is open, per-phase quotas and boards, and results hidden until
a phase ends shown nowhere before that end (boards, API, CSV, pages, results.json, email, per-sample), then shown
without any write (the leaderboard version folds in the clock). Time is injected by patching ``timezone.now``."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone as dt_timezone
from unittest import mock

import pytest
from django.contrib.auth.models import User
from django.core.exceptions import ValidationError
from django.test import Client
from rest_framework.test import APIClient

from leaderboard.benchmarks.models import Benchmark, Phase
from leaderboard.benchmarks.testing import write_npz
from leaderboard.submissions.models import Submission
from leaderboard.submissions.notifications import compose
from leaderboard.submissions.per_sample import PerSampleUnavailable, revealed_per_sample
from tests.web.test_leaderboards import entry, streamed

START = datetime(2030, 1, 10, 12, 0, tzinfo=dt_timezone.utc)
END = START + timedelta(days=7)


def at(moment: datetime):
    """Time injection: every ``timezone.now()`` (phases, quotas, the version clock) reads ``moment``."""
    return mock.patch("django.utils.timezone.now", return_value=moment)


def set_phase(benchmark: Benchmark, **fields) -> Phase:
    """The benchmark's default phase, changed and saved (a save bumps the leaderboard version, as the admin does)."""
    phase = benchmark.phases.get()
    for name, value in fields.items():
        setattr(phase, name, value)
    phase.full_clean()
    phase.save()
    return phase


def api_submit(user, benchmark: Benchmark, path, **fields):
    client = APIClient()
    client.force_authenticate(user)
    with open(path, "rb") as f:
        return client.post("/api/v1/submissions/", {"file": f, "benchmark": benchmark.slug, "method_name": "M", **fields},
                           format="multipart")


def test_new_benchmarks_get_one_open_ended_phase_and_submissions_record_it(alice, bench, tmp_path, started):
    benchmark, arrays = bench
    phase = benchmark.phases.get()
    assert (phase.name, phase.starts_at, phase.ends_at, phase.results_before_end) == ("main", None, None, True)
    assert api_submit(alice, benchmark, write_npz(tmp_path / "p.npz", arrays)).status_code == 201
    assert list(Submission.objects.get().phases.all()) == [phase]


def test_the_data_migration_gives_each_benchmark_one_open_ended_phase(bench, board_bench):
    from importlib import import_module

    from django.apps import apps

    Phase.objects.all().delete()  # as before migration 0004
    import_module("leaderboard.benchmarks.migrations.0004_phases").default_phases(apps, None)
    assert sorted(Phase.objects.values_list("benchmark__slug", "name", "starts_at", "ends_at", "results_before_end")) == [
        ("bench-w", "main", None, None, True), ("lb-web", "main", None, None, True)]


def test_a_phase_opens_and_closes_around_a_submission(alice, bench, tmp_path, started, logged_in):
    benchmark, arrays = bench
    phase = set_phase(benchmark, name="dev", title="Development", starts_at=START, ends_at=END)
    path = write_npz(tmp_path / "p.npz", arrays)
    with at(START - timedelta(minutes=1)):
        early = api_submit(alice, benchmark, path)
    assert early.status_code == 403 and early.json()["error"] == "phase_closed"
    assert "the next phase, 'Development', opens 2030-01-10 12:00 UTC" in early.json()["detail"]
    with at(START):
        assert api_submit(alice, benchmark, path).status_code == 201
    assert list(Submission.objects.get().phases.all()) == [phase]
    with at(END):  # the end is exclusive
        late = api_submit(alice, benchmark, path)
        with open(path, "rb") as f:
            form = logged_in(alice).post("/submit/", {"kind": "predictions", "benchmarks": [benchmark.slug], "file": f,
                                                       "method_name": "M"})
        page = Client().get(benchmark.get_absolute_url()).content.decode()
    assert late.status_code == 403 and "its last phase has ended" in late.json()["detail"]
    assert "from 2030-01-10 12:00 UTC until 2030-01-17 12:00 UTC" in late.json()["detail"]
    assert form.status_code == 403 and "takes no submissions now" in form.content.decode()
    assert "takes no submissions now" in page and "Submit to" not in page
    assert Submission.objects.count() == 1


def test_the_submit_page_says_before_the_upload_that_a_phase_has_ended(alice, bench, tmp_path, started, logged_in):
    """The quota box names the phase's dates instead of a count that could not be used, and the refusal of an
    upload stands next to the Benchmark choice (it is about the benchmark, not the file)."""
    from leaderboard.submissions.models import Team

    benchmark, arrays = bench
    set_phase(benchmark, name="dev", title="Development", starts_at=START, ends_at=END)
    Team.objects.create(name="Lab P", owner=alice).members.add(alice)
    dates = "from 2030-01-10 12:00 UTC until 2030-01-17 12:00 UTC"
    with at(START):
        box = logged_in(alice).get("/submit/").content.decode()
        assert "left today" in box and dates not in box
    with at(END):
        html = logged_in(alice).get("/submit/").content.decode()
        with open(write_npz(tmp_path / "p.npz", arrays), "rb") as f:
            form = logged_in(alice).post("/submit/", {"kind": "predictions", "benchmarks": [benchmark.slug], "file": f,
                                                       "method_name": "M"}).content.decode()
    box = html[html.index('id="quota"'):]
    box = box[:box.index("<form")]
    assert "left today" not in box and box.count("no submissions now: its last phase has ended") == 2  # own, team
    assert dates in box
    choice = form[form.index("<legend>Benchmark</legend>"):]
    choice = choice[:choice.index("</fieldset>")]
    assert "takes no submissions now" in choice and dates in choice


def test_phases_may_not_overlap_and_name_known_splits(bench):
    benchmark = bench[0]
    set_phase(benchmark, name="dev", starts_at=START, ends_at=END)
    with pytest.raises(ValidationError, match="may not overlap"):
        Phase(benchmark=benchmark, name="test", starts_at=END - timedelta(hours=1)).full_clean()
    with pytest.raises(ValidationError, match="No such split"):
        Phase(benchmark=benchmark, name="test", starts_at=END, splits=["nope"]).full_clean()
    Phase(benchmark=benchmark, name="test", starts_at=END, splits=["test"]).full_clean()


@pytest.mark.parametrize("limit", ["submissions_per_day", "max_submissions"])
def test_a_phase_sets_its_own_quota(alice, bench, tmp_path, started, settings, limit):
    settings.SUBMISSIONS_PER_BENCHMARK_PER_DAY = 5
    benchmark, arrays = bench
    set_phase(benchmark, title="Final", **{limit: 1})
    path = write_npz(tmp_path / "p.npz", arrays)
    assert api_submit(alice, benchmark, path).status_code == 201
    refused = api_submit(alice, benchmark, path)
    assert refused.status_code == 429 and refused.json()["phase"] == "main"
    assert ("1 of 1 submissions today" if limit == "submissions_per_day" else "1 of 1 submissions in phase 'Final'") \
        in refused.json()["detail"]


def test_boards_show_one_phase(alice, bob, board_bench):
    main = board_bench.phases.get()
    set_phase(board_bench, ends_at=START)
    later = Phase.objects.create(benchmark=board_bench, name="final", title="Final", starts_at=START)
    entry(alice, board_bench, "Early", 30.0).phases.add(main)
    entry(bob, board_bench, "Late", 20.0).phases.add(later)
    client = Client()
    every = client.get(board_bench.get_absolute_url()).content.decode()
    final = client.get(board_bench.get_absolute_url() + "?phase=final").content.decode()
    assert "Early" in every and "Late" in every and "All phases" in every and "Final" in every
    assert "Late" in final and "Early" not in final
    api = client.get("/api/v1/leaderboard/lb-web/?phase=main").json()
    assert api["phase"] == "main" and [r["method_name"] for r in api["rows"]] == ["Early"]
    bad = client.get("/api/v1/leaderboard/lb-web/?phase=nope")
    assert bad.status_code == 400 and "phases: main, final" in bad.json()["detail"]
    assert client.get(board_bench.get_absolute_url() + "?phase=nope").status_code == 400
    with at(START):
        phases = client.get("/api/v1/benchmarks/lb-web/").json()["phases"]
    assert [(p["name"], p["is_open"]) for p in phases] == [("main", False), ("final", True)]


def shown_anywhere(owner: User, submission: Submission, needles: tuple[str, ...]) -> list[str]:
    """Every page, API answer, export and email that could show ``submission``'s numbers, as seen by its owner or
    by anyone: the places where one of ``needles`` appears."""
    me = Client()
    me.force_login(owner)
    api = APIClient()
    api.force_authenticate(owner)
    texts = {
        "overall": Client().get("/").content.decode(),
        "board": Client().get("/benchmarks/lb-web/?all=1").content.decode(),
        "board csv": streamed(Client().get("/benchmarks/lb-web/?format=csv")),
        "api board": Client().get("/api/v1/leaderboard/lb-web/").content.decode(),
        "api overall": Client().get("/api/v1/leaderboard/?all=1").content.decode(),
        "api csv": streamed(Client().get("/api/v1/leaderboard/?format=csv")),
        "method": Client().get("/methods/Secret").content.decode(),
        "own page": me.get(submission.get_absolute_url()).content.decode(),
        "own results.json": me.get(f"/submissions/{submission.uuid}/results.json").content.decode(),
        "own list": me.get("/submissions/mine/").content.decode(),
        "own api": api.get(f"/api/v1/submissions/{submission.uuid}/").content.decode(),
        "email": "\n".join(compose(Submission.objects.get(pk=submission.pk))),
    }
    return sorted(name for name, text in texts.items() if any(n in text for n in needles))


def test_results_hidden_until_the_phase_ends_are_shown_nowhere(alice, bob, board_bench, settings):
    settings.LEADERBOARD_VERSION_TTL_S = 600  # the memo would be trusted: only the clock may change the version
    phase = set_phase(board_bench, results_before_end=False, ends_at=END)
    secret = entry(alice, board_bench, "Secret", 12.345, mpe_coverage_key="k")
    secret.phases.add(phase)
    entry(bob, board_bench, "Open", 50.0)
    needles = ("Secret", "12.3", "6.17")
    with at(END - timedelta(minutes=1)):
        leaks = shown_anywhere(alice, secret, needles)
        staff = APIClient()
        staff.force_authenticate(User.objects.create_user("root", is_staff=True))
        staff_view = staff.get(f"/api/v1/submissions/{secret.uuid}/").json()
        page = Client().get("/benchmarks/lb-web/").content.decode()
        with pytest.raises(PerSampleUnavailable, match="after the phase ends"):
            revealed_per_sample(secret, board_bench)
    # The method name is the owner's own: their pages may show it (and /methods/Secret's 404 repeats the name asked
    # for), never a number.
    assert leaks == ["email", "method", "own api", "own list", "own page", "own results.json"]
    assert "Secret" not in page and "Open" in page and "results shown after it ends" in page
    assert staff_view["mpe"] == 12.345 and staff_view["results"][0]["primary_value"] == 12.345
    with at(END - timedelta(minutes=1)):
        assert shown_anywhere(alice, secret, ("12.3", "6.17")) == []
    with at(END + timedelta(minutes=1)):  # no write in between: the boards cached before the end must not stay
        after = shown_anywhere(alice, secret, ("12.3",))
    assert after == ["api board", "api csv", "api overall", "board", "board csv", "email", "method", "overall",
                     "own api", "own list", "own page", "own results.json"]
