"""The staff import page (issue 21): who may use it, what it refuses, and the import it runs, in-process (eager).

The same task on a real worker: tests/integration/test_site_import.py; in a browser: tests/e2e/test_host_journey.py.
"""
from __future__ import annotations

import io

import pytest
from django.contrib.auth.models import User

from ehps_client.hashing import file_sha256
from leaderboard.benchmarks.models import Benchmark, BenchmarkImport, Split
from leaderboard.storage import GROUND_TRUTH, PRIVATE, exists, local_path, put_file
from leaderboard.submissions.models import BenchmarkResult, Status, Submission
from tests.host_imports import form_data, gt_file, zip_bundle

pytestmark = pytest.mark.django_db

URLS = ("/host/import/", "/host/imports/{pk}/", "/host/imports/{pk}/status.json")


@pytest.fixture
def staff_client(db):
    from django.test import Client

    client = Client()
    client.force_login(User.objects.create_user("host", password="pw-host-123", is_staff=True))
    return client


@pytest.fixture(scope="module")
def gts(tmp_path_factory):
    folder = tmp_path_factory.mktemp("host-gt")
    return {"a": gt_file(folder), "b": gt_file(folder, betas_shift=0.5, name="b.npz")}


def start(client, capture, data: dict) -> tuple[int, BenchmarkImport | None]:
    """POST the form with the task run in-process at commit; (status, the import row it made)."""
    with capture(execute=True):
        response = client.post("/host/import/", data)
    if response.status_code != 302:
        return response.status_code, None
    return 302, BenchmarkImport.objects.get(pk=int(response["Location"].rstrip("/").rsplit("/", 1)[1]))


def test_non_staff_get_403_and_anonymous_users_the_log_in_page(client, alice, staff_client):
    job = BenchmarkImport.objects.create(slug="x", bundle_name="imports/x/gt.npz")
    for url in URLS:
        assert client.get(url.format(pk=job.pk)).status_code == 302
    client.force_login(alice)
    for url in URLS:
        assert client.get(url.format(pk=job.pk)).status_code == 403
    assert client.post("/host/import/", form_data("evil", stored_name="bundles/x.npz")).status_code == 403
    assert BenchmarkImport.objects.count() == 1
    assert b"Host</a>" not in client.get("/").content  # the nav link is for staff only
    assert b"Host</a>" in staff_client.get("/").content


@pytest.mark.parametrize("fields, message", [
    ({}, "Upload a bundle or name one in storage"),
    ({"stored_name": "uploads/abc/predictions.npz"}, "Name a file under bundles/"),
    ({"stored_name": "bundles/../uploads/x.npz"}, "Name a file under bundles/"),
    ({"stored_name": "bundles/missing.zip"}, "There is no bundles/missing.zip"),
    ({"stored_name": "bundles/gt.npz", "format_options": "model_dir=/etc"}, "model_dir is set by the server"),
    ({"stored_name": "bundles/gt.npz", "protocol_options": "no equals sign"}, "expected KEY=VALUE"),
])
def test_bad_form_input_is_a_400_naming_it(staff_client, gts, fields, message):
    put_file(PRIVATE, "bundles/gt.npz", gts["a"])
    response = staff_client.post("/host/import/", form_data("bad", **fields))
    assert response.status_code == 400 and message in response.content.decode()
    assert not BenchmarkImport.objects.exists()


def test_zip_bundle_import_shows_report_and_earlier_results_re_scored(staff_client, gts, eager,
                                                                      django_capture_on_commit_callbacks):
    bundle = zip_bundle({"release/gt.npz": gts["a"]})
    status, job = start(staff_client, django_capture_on_commit_callbacks,
                        form_data("site", bundle=bundle, source_path="release/gt.npz", ranking_split="dev",
                                  public_gt_splits="dev"))
    assert status == 302 and job.state == "succeeded", job.error
    assert job.progress == 1.0 and not exists(PRIVATE, job.bundle_name)  # an uploaded bundle is removed when done
    benchmark = Benchmark.objects.get(slug="site")
    assert dict(benchmark.splits.values_list("name", "is_revealed")) == {"dev": True, "test": False}
    assert dict(benchmark.splits.values_list("name", "public_ground_truth")) == {"dev": True, "test": False}
    assert "split dev: 6 samples, public, ranking split, public GT (failure pictures may show its GT)" in job.report
    assert 'public GT</span>' in staff_client.get("/benchmarks/site/").content.decode()  # on the split list
    assert not benchmark.counts_toward_mpe and not benchmark.counts_toward_hand_mpe
    assert "Read 12 samples from gt.npz as npz." in job.report and "split test: 6 samples, HIDDEN" in job.report
    # the site's report names the form's fields, not the command's flags
    assert "MPE: not counted ('Counts toward MPE: no'); hand MPE: not counted (follows MPE)" in job.report
    assert "--" not in job.report

    owner = User.objects.create_user("ann")
    submission = Submission.objects.create(owner=owner, method_name="FastBody", status=Status.FINISHED)
    for split, value in (("dev", 40.0), ("test", 50.0)):
        BenchmarkResult.objects.create(submission=submission, benchmark=benchmark, split=split, primary_value=value,
                                       metrics={"mpvpe_all": value, "mpvpe_hand": 9.0, "pa_mpvpe_hand": 4.0})
    # Re-import from a stored bundle: another GT, test revealed and ranking, into MPE -> the numbers it moves.
    put_file(PRIVATE, "bundles/b.npz", gts["b"])
    status, again = start(staff_client, django_capture_on_commit_callbacks,
                          form_data("site", stored_name="bundles/b.npz", hidden="listed", hidden_splits="dev",
                                    ranking_split="test", mpe="yes", hand_mpe="yes"))
    assert again.state == "succeeded", again.error
    assert exists(PRIVATE, "bundles/b.npz")  # a named bundle stays
    moves = {(m["submission_id"], m["metric"]): (m["before"], m["after"]) for m in again.changes["moves"]}
    assert moves == {
        (submission.pk, "MPE"): (None, 50.0), (submission.pk, "hand MPE"): (None, 9.0),
        (submission.pk, "PA hand MPE"): (None, 4.0),
        (submission.pk, "site board (mpvpe_all on dev -> mpvpe_all on test)"): (40.0, 50.0),
    }
    assert f"#{submission.pk} FastBody: MPE none -> 50.00; hand MPE none -> 9.00; PA hand MPE none -> 4.00; site " \
           "board (mpvpe_all on dev -> mpvpe_all on test) 40.00 -> 50.00" in again.report
    assert "GT changed (sha256 " in again.report
    page = staff_client.get(f"/host/imports/{again.pk}/").content.decode()
    assert "Earlier results re-scored" in page and "50.00" in page and "40.00" in page and "Open the board" in page
    assert staff_client.get(f"/host/imports/{again.pk}/status.json").json()["state"] == "succeeded"


def test_a_site_refusal_names_the_form_field_not_the_flag(staff_client, gts, eager, django_capture_on_commit_callbacks):
    put_file(PRIVATE, "bundles/gt.npz", gts["a"])
    status, job = start(staff_client, django_capture_on_commit_callbacks,
                        form_data("open", stored_name="bundles/gt.npz", hidden="listed", hidden_splits=""))
    assert job.state == "failed" and "Every split (dev, test) would be public" in job.error
    assert "Name the held-out split(s) with 'Hidden splits: exactly the splits listed', or say 'Hidden splits: " \
           "none' if the GT of every split is public anyway." in job.error and "--" not in job.error


def test_a_failed_import_changes_nothing(staff_client, gts, eager, django_capture_on_commit_callbacks, monkeypatch):
    status, first = start(staff_client, django_capture_on_commit_callbacks,
                          form_data("keep", bundle=zip_bundle({"gt.npz": gts["a"]}), source_path="gt.npz"))
    assert first.state == "succeeded", first.error
    benchmark = Benchmark.objects.get(slug="keep")
    gt_bytes = local_path(GROUND_TRUTH, benchmark.gt_path).read_bytes()
    splits = list(Split.objects.filter(benchmark=benchmark).values_list("name", "is_revealed", "is_ranking"))

    # Refused by the checks (a hidden split the GT lacks): the page says why.
    status, refused = start(staff_client, django_capture_on_commit_callbacks,
                            form_data("keep", name="Renamed", bundle=zip_bundle({"gt.npz": gts["b"]}),
                                      source_path="gt.npz", hidden="listed", hidden_splits="final"))
    assert refused.state == "failed" and "Hidden split(s) ['final'] not in the GT splits" in refused.error
    page = staff_client.get(f"/host/imports/{refused.pk}/").content.decode()
    assert "Nothing was changed" in page and "final" in page

    # Fails after the new GT was stored (the public id list cannot be written): the old files come back.
    from leaderboard.benchmarks import services

    real_put = services.put_file

    def failing_put(kind, name, source):
        if name.endswith(services.INPUTS_NAME):
            raise OSError("disk full")
        real_put(kind, name, source)

    monkeypatch.setattr(services, "put_file", failing_put)
    status, broken = start(staff_client, django_capture_on_commit_callbacks,
                           form_data("keep", name="Renamed", bundle=zip_bundle({"gt.npz": gts["b"]}), source_path="gt.npz"))
    assert broken.state == "failed" and "disk full" in broken.error
    benchmark.refresh_from_db()
    assert benchmark.name == "Keep" and local_path(GROUND_TRUTH, benchmark.gt_path).read_bytes() == gt_bytes
    assert list(Split.objects.filter(benchmark=benchmark).values_list("name", "is_revealed", "is_ranking")) == splits
    assert file_sha256(local_path(GROUND_TRUTH, benchmark.gt_path)) == benchmark.gt_sha256

    # A corrupt bundle and a path that leaves it: refused by name, nothing imported.
    corrupt = io.BytesIO(b"not a zip at all")
    corrupt.name = "bundle.zip"
    status, bad = start(staff_client, django_capture_on_commit_callbacks, form_data("new", bundle=corrupt))
    assert bad.state == "failed" and "bundle.zip is not a zip archive" in bad.error
    status, escape = start(staff_client, django_capture_on_commit_callbacks,
                           form_data("new", bundle=zip_bundle({"gt.npz": gts["a"]}), source_path="../gt.npz"))
    assert escape.state == "failed" and "leaves the bundle" in escape.error
    assert not Benchmark.objects.filter(slug="new").exists()


def test_bundles_are_size_limited(staff_client, gts, eager, django_capture_on_commit_callbacks, settings):
    bundle = zip_bundle({"gt.npz": gts["a"]})
    settings.MAX_UPLOAD_BYTES = 1000
    response = staff_client.post("/host/import/", form_data("big", bundle=bundle, source_path="gt.npz"))
    assert response.status_code == 400 and "uploads stop at 1000 bytes" in response.content.decode()
    settings.MAX_UPLOAD_BYTES, settings.MAX_GT_BUNDLE_BYTES = 10**8, 1000
    bundle.seek(0)
    status, job = start(staff_client, django_capture_on_commit_callbacks,
                        form_data("big", bundle=bundle, source_path="gt.npz"))
    assert job.state == "failed" and "bundle.zip decompresses to" in job.error and "MAX_GT_BUNDLE_BYTES" in job.error
    settings.MAX_GT_BUNDLE_BYTES, settings.MAX_GT_BUNDLE_MEMBERS = 10**8, 0
    bundle.seek(0)
    status, job = start(staff_client, django_capture_on_commit_callbacks,
                        form_data("big", bundle=bundle, source_path="gt.npz"))
    assert job.state == "failed" and "lists 1 members; the limit is 0" in job.error
    assert not Benchmark.objects.filter(slug="big").exists()


def test_two_imports_of_one_benchmark_never_overlap(staff_client, gts, eager, django_capture_on_commit_callbacks):
    running = BenchmarkImport.objects.create(slug="busy", bundle_name="imports/x/gt.npz", state="running")
    put_file(PRIVATE, "bundles/gt.npz", gts["a"])
    status, job = start(staff_client, django_capture_on_commit_callbacks, form_data("busy", stored_name="bundles/gt.npz"))
    assert job.state == "failed" and f"Import #{running.pk} of busy is running" in job.error
    BenchmarkImport.objects.filter(pk=running.pk).update(state="failed")
    status, job = start(staff_client, django_capture_on_commit_callbacks, form_data("busy", stored_name="bundles/gt.npz"))
    assert job.state == "succeeded", job.error


def test_the_admin_lists_imports_read_only(staff_client, admin_client):
    job = BenchmarkImport.objects.create(slug="listed", bundle_name="imports/x/gt.npz", state="failed", error="no")
    page = admin_client.get("/admin/benchmarks/benchmarkimport/").content.decode()
    assert "listed" in page and f"/host/imports/{job.pk}/" in page
    assert admin_client.get("/admin/benchmarks/benchmarkimport/add/").status_code == 403
