"""The admin: every registered model's changelist, add and change pages open; hosts cannot bypass the state machine.

Regression: the submission change page answered 500 ("Private files have no URL.") for every submission with an
upload, because the admin rendered the FileField through its storage URL.
"""
from __future__ import annotations

import numpy as np
import pytest
from django.contrib import admin
from django.contrib.auth.models import Group, User
from django.test import Client
from django.urls import reverse
from rest_framework.authtoken.models import Token

from leaderboard.benchmarks.models import Benchmark, BenchmarkImport
from leaderboard.benchmarks.testing import write_npz
from leaderboard.submissions.actions import create_submission
from leaderboard.submissions.models import BenchmarkResult, ModerationAction, ShardResult, Status, Submission, Team


class Upload:
    """The subset of UploadedFile that stage_upload reads."""

    def __init__(self, path) -> None:
        self.name = path.name
        self.size = path.stat().st_size
        self._path = path

    def chunks(self, chunk_size: int = 1 << 20):
        with open(self._path, "rb") as f:
            while block := f.read(chunk_size):
                yield block


@pytest.fixture
def staff(db) -> User:
    return User.objects.create_superuser("host", "host@example.org", "pw-host-123")


@pytest.fixture
def admin_client(staff) -> Client:
    client = Client()
    client.force_login(staff)
    return client


@pytest.fixture
def populated(bench, alice, started, tmp_path):
    """One row of every registered model, the submission with a stored upload."""
    benchmark, predictions = bench
    path = write_npz(tmp_path / "pred.npz", predictions)
    Group.objects.create(name="hosts")
    Token.objects.create(user=alice)
    team = Team.objects.create(name="Lab")
    team.members.add(alice)
    submission = create_submission(alice, Upload(path), "predictions", [benchmark.slug], {"method_name": "Net"}, team=team)
    assert submission.upload.name
    BenchmarkResult.objects.create(submission=submission, benchmark=benchmark, metrics={"mpvpe_all": 50.0},
                                   primary_value=50.0, num_samples=10)
    ShardResult.objects.create(submission=submission, benchmark=benchmark, shard_index=0, sample_start=0,
                               sample_stop=10, sums={})
    ModerationAction.objects.create(submission=submission, actor=None, action="unpublish", reason="test row")
    BenchmarkImport.objects.create(slug=benchmark.slug, bundle_name="bundles/gt.npz", state="succeeded")
    return submission


def registered_models() -> list[type]:
    return list(admin.site._registry)


def admin_url(model: type, view: str, *args) -> str:
    return reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_{view}", args=args)


def test_every_registered_model_has_a_row(populated):
    missing = [m.__name__ for m in registered_models() if not m.objects.exists()]
    assert not missing, f"the fixture must create a row of {missing} so its change page is opened"


@pytest.mark.parametrize("model", registered_models(), ids=lambda m: f"{m._meta.app_label}.{m.__name__}")
def test_changelist_and_change_pages_open(admin_client, populated, model):
    response = admin_client.get(admin_url(model, "changelist"))
    assert response.status_code == 200, response.content[:2000]
    obj = model.objects.first()
    response = admin_client.get(admin_url(model, "change", obj.pk))
    assert response.status_code == 200, response.content[:2000]


@pytest.mark.parametrize("model", registered_models(), ids=lambda m: f"{m._meta.app_label}.{m.__name__}")
def test_add_page_opens_or_is_refused_clearly(admin_client, populated, model):
    response = admin_client.get(admin_url(model, "add"))
    if admin.site._registry[model].has_add_permission(response.wsgi_request):
        assert response.status_code == 200, response.content[:2000]
    else:
        assert response.status_code == 403


def test_submission_change_page_shows_the_upload_without_a_public_url(admin_client, populated):
    response = admin_client.get(admin_url(Submission, "change", populated.pk))
    html = response.content.decode()
    assert f"{populated.benchmarks.get().slug}.npz" in html  # a single .npz is stored as predictions/<slug>.npz
    # The only link to the file is the permission-checked download view, never a storage URL.
    assert reverse("submission-upload", args=[populated.uuid]) in html


def test_status_and_eval_plan_are_read_only(admin_client, populated):
    admin_view = admin.site._registry[Submission]
    readonly = admin_view.get_readonly_fields(None, populated)
    assert {"status", "eval_plan", "stored_upload"} <= set(readonly)
    response = admin_client.get(admin_url(Submission, "change", populated.pk))
    assert 'name="status"' not in response.content.decode()
    assert 'name="eval_plan"' not in response.content.decode()


def test_rerun_action_creates_a_fresh_evaluation_of_the_stored_upload(admin_client, populated, started,
                                                                     django_capture_on_commit_callbacks):
    Submission.objects.filter(pk=populated.pk).update(status=Status.FAILED, error_message="worker lost")
    started.reset_mock()
    with django_capture_on_commit_callbacks(execute=True):
        response = admin_client.post(admin_url(Submission, "changelist"), {
            "action": "rerun_selected", "_selected_action": [populated.pk],
        }, follow=True)
    assert response.status_code == 200
    fresh = Submission.objects.exclude(pk=populated.pk).get()
    assert fresh.status == Status.SUBMITTED and fresh.owner == populated.owner and fresh.team == populated.team
    assert fresh.method_name == populated.method_name and fresh.upload_sha256 == populated.upload_sha256
    assert list(fresh.benchmarks.all()) == list(populated.benchmarks.all())
    assert fresh.upload.name.startswith(f"uploads/{fresh.uuid}/")
    from leaderboard.storage import private_path

    stored = private_path(fresh.predictions_name(populated.benchmarks.get().slug))
    original = private_path(populated.predictions_name(populated.benchmarks.get().slug))
    with np.load(stored) as a, np.load(original) as b:
        assert (a["sample_ids"] == b["sample_ids"]).all()
    started.assert_called_once_with(fresh.pk)
    assert "1 fresh evaluation" in response.content.decode()
    # The original row is left as it was: its history stays readable.
    assert Submission.objects.get(pk=populated.pk).status == Status.FAILED


def test_add_benchmark_is_replaced_by_the_import_command(admin_client, populated):
    response = admin_client.get(admin_url(Benchmark, "changelist"))
    html = response.content.decode()
    assert admin_url(Benchmark, "add") not in html
    assert "import_benchmark" in html


def test_adding_a_submission_in_the_admin_makes_a_finished_reported_baseline(admin_client, populated, bench):
    benchmark = bench[0]
    response = admin_client.post(admin_url(Submission, "add"), {
        "owner": populated.owner.pk, "method_name": "Paper-Net", "kind": "predictions", "benchmarks": [benchmark.pk],
        "baseline_source": "reported", "citation": "Someone et al. 2025", "is_public": "on", "mpe": "61.5",
        "results-TOTAL_FORMS": "1", "results-INITIAL_FORMS": "0", "results-MIN_NUM_FORMS": "0", "results-MAX_NUM_FORMS": "1000",
        "results-0-benchmark": benchmark.pk, "results-0-split": "test", "results-0-primary_value": "61.5",
        "results-0-metrics": '{"mpvpe_all": 61.5}', "results-0-num_samples": "10",
    })
    assert response.status_code == 302, response.content.decode()[:3000]
    added = Submission.objects.get(method_name="Paper-Net")
    assert added.status == Status.FINISHED and added.baseline_source == "reported" and not added.upload.name
    assert added.results.get().primary_value == 61.5
