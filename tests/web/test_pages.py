import re

import pytest
from django.test import Client

from leaderboard.benchmarks.testing import write_npz
from leaderboard.submissions.models import BenchmarkResult, Status, Submission


def finished(owner, benchmark, name, value, public=True, **extra) -> Submission:
    s = Submission.objects.create(owner=owner, method_name=name, status=Status.FINISHED, is_public=public, mpe=value, **extra)
    s.benchmarks.add(benchmark)
    BenchmarkResult.objects.create(submission=s, benchmark=benchmark, split="test", primary_value=value,
                                   metrics={"mpvpe_all": value, "pa_mpvpe_all": value / 2, "mpvpe_hand": 40.0, "pa_mpvpe_hand": 12.0})
    return s


def rows_in_order(html: str, names: list[str]) -> list[str]:
    return sorted(names, key=lambda n: html.index(f">{n}<"))


def test_home_lists_published_by_mpe_with_baseline_badge(alice, bench):
    benchmark = bench[0]
    finished(alice, benchmark, "Second", 60.0)
    finished(alice, benchmark, "First", 50.0, baseline_source="reported", citation="Cai et al. 2023")
    finished(alice, benchmark, "Hidden", 1.0, public=False)
    html = Client().get("/").content.decode()
    assert rows_in_order(html, ["Second", "First"]) == ["First", "Second"]
    assert "Hidden" not in html
    assert 'class="badge reported"' in html and "Cai et al. 2023" in html
    assert "50.0" in html and "Bench W" in html


def test_benchmark_page_sorts_by_clicked_column(alice, bob, bench):
    benchmark = bench[0]
    finished(alice, benchmark, "Low", 10.0)
    finished(bob, benchmark, "High", 30.0)
    page = Client().get(f"/benchmarks/{benchmark.slug}/").content.decode()
    assert rows_in_order(page, ["Low", "High"]) == ["Low", "High"]
    assert "PA-PVE (all)" in page and "?split=test&amp;sort=mpvpe_all&amp;dir=desc" in page  # click again reverses
    page = Client().get(f"/benchmarks/{benchmark.slug}/?sort=mpvpe_all&dir=desc").content.decode()
    assert rows_in_order(page, ["Low", "High"]) == ["High", "Low"]
    csv = Client().get(f"/benchmarks/{benchmark.slug}/?format=csv")
    assert csv["Content-Type"].startswith("text/csv") and "High" in b"".join(csv.streaming_content).decode()


def test_submit_requires_login(bench):
    response = Client().get("/submit/")
    assert response.status_code == 302 and "/accounts/login/" in response["Location"]


def test_submit_shows_validation_error_in_form(alice, bench, logged_in, tmp_path, started):
    preds = dict(bench[1])
    preds["betas"] = preds["betas"].astype("int64")
    path = write_npz(tmp_path / "p.npz", preds)
    with open(path, "rb") as f:
        response = logged_in(alice).post("/submit/", {"kind": "predictions", "benchmarks": [bench[0].slug], "file": f, "method_name": "x"})
    assert response.status_code == 400
    html = response.content.decode()
    assert "key &#x27;betas&#x27;: expected a floating-point array" in html and 'class="error-text"' in html
    assert not Submission.objects.exists()


def test_submit_then_follow_the_submission_page(alice, bob, bench, logged_in, tmp_path, started, django_capture_on_commit_callbacks):
    path = write_npz(tmp_path / "p.npz", bench[1])
    client = logged_in(alice)
    with django_capture_on_commit_callbacks(execute=True), open(path, "rb") as f:
        response = client.post("/submit/", {"kind": "predictions", "benchmarks": [bench[0].slug], "file": f, "method_name": "Mine"})
    assert response.status_code == 302
    submission = Submission.objects.get()
    started.assert_called_once_with(submission.pk)
    page = client.get(response["Location"]).content.decode()
    assert "Mine" in page and "Cancel" in page and "data-status-url" in page
    status = client.get(f"/submissions/{submission.uuid}/status.json").json()
    assert status["status"] == "submitted" and status["progress_percent"] == 0
    assert client.get(f"/submissions/{submission.uuid}/upload").status_code == 200
    other = logged_in(bob)
    for suffix in ("", "status.json", "results.json", "upload"):
        assert other.get(f"/submissions/{submission.uuid}/{suffix}").status_code == 404
    assert other.post(f"/submissions/{submission.uuid}/cancel").status_code == 404
    assert client.post(f"/submissions/{submission.uuid}/cancel").status_code == 302
    assert Submission.objects.get().status == Status.CANCELLED
    assert "Mine" in client.get("/submissions/mine/").content.decode()
    assert "Mine" not in other.get("/submissions/mine/").content.decode()


def test_finished_submission_page_has_table_chart_and_publish(alice, bench, logged_in):
    s = finished(alice, bench[0], "Charted", 50.0, public=False, log="model said hi")
    client = logged_in(alice)
    html = client.get(s.get_absolute_url()).content.decode()
    assert "<svg" in html and "PA-PVE (hands): 12.00 mm" in html and "Whole body" in html
    assert "Publish to the leaderboard" in html
    assert "model said hi" not in html  # a model's log may carry held-out images: staff only (issue 12)
    assert client.get(f"/submissions/{s.uuid}/results.json").json()["results"][0]["metrics"]["mpvpe_all"] == 50.0
    assert client.post(f"/submissions/{s.uuid}/publish").status_code == 302
    s.refresh_from_db()
    assert s.is_public
    public_html = Client().get(s.get_absolute_url()).content.decode()
    assert "Charted" in public_html and "model said hi" not in public_html and "Cancel" not in public_html


def test_state_changes_need_post_with_csrf(alice, bench):
    s = finished(alice, bench[0], "C", 50.0, public=False)
    client = Client(enforce_csrf_checks=True)
    client.force_login(alice)
    assert client.get(f"/submissions/{s.uuid}/publish").status_code == 405
    assert client.post(f"/submissions/{s.uuid}/publish").status_code == 403


def test_signup_login_token(db):
    client = Client()
    response = client.post("/accounts/signup/", {"username": "carol", "password1": "a-long-pass-9917", "password2": "a-long-pass-9917"})
    assert response.status_code == 302
    assert "no API token yet" in client.get("/accounts/token/").content.decode()
    created = client.post("/accounts/token/", follow=True).content.decode()
    assert "API token created." in created and "previous one" not in created
    first = re.search(r'id="token">(\w+)<', created).group(1)
    replaced = client.post("/accounts/token/", follow=True).content.decode()
    assert "the previous one no longer works" in replaced
    second = re.search(r'id="token">(\w+)<', replaced).group(1)
    assert first != second
    assert client.post("/accounts/logout/").status_code == 302
    assert Client().post("/accounts/login/", {"username": "carol", "password": "a-long-pass-9917"}).status_code == 302


@pytest.mark.parametrize("url", ["/", "/api/", "/accounts/login/", "/accounts/signup/", "/benchmarks/bench-w/"])
def test_public_pages_render(url, bench):
    assert Client().get(url).status_code == 200


def test_oversized_upload_in_the_form_is_413_with_the_limit(alice, bench, logged_in, tmp_path, settings):
    settings.MAX_UPLOAD_BYTES = 1000
    path = write_npz(tmp_path / "p.npz", bench[1])
    with open(path, "rb") as f:
        response = logged_in(alice).post("/submit/", {"kind": "predictions", "benchmarks": [bench[0].slug], "file": f, "method_name": "x"})
    assert response.status_code == 413 and "the limit is 1000 bytes" in response.content.decode()
    assert not Submission.objects.exists()


def test_quota_error_in_the_form_is_429(alice, bench, logged_in, tmp_path, settings, started):
    settings.MAX_SUBMISSIONS_IN_PROGRESS = 0
    path = write_npz(tmp_path / "p.npz", bench[1])
    with open(path, "rb") as f:
        response = logged_in(alice).post("/submit/", {"kind": "predictions", "benchmarks": [bench[0].slug], "file": f, "method_name": "x"})
    assert response.status_code == 429 and "in progress (the limit is 0)" in response.content.decode()


def test_reported_baseline_page_says_it_was_not_computed_here(alice):
    """A paper's headline MPE with no per-benchmark figures: no upload kind, progress bar or "hidden splits" text."""
    s = Submission.objects.create(owner=alice, method_name="Paper method", status=Status.FINISHED, is_public=True,
                                  mpe=59.7, baseline_source="reported", citation="Cai et al. 2023")
    html = Client().get(s.get_absolute_url()).content.decode()
    assert "Reported in a paper (not computed here)" in html and "imported " in html
    assert "Predictions file" not in html and 'role="progressbar"' not in html
    assert "hidden splits only" not in html and "the source publishes only the numbers above" in html
