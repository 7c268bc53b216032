"""Issue 12, High 6: with the broker down an upload is kept (201, files stored, the sweeper re-sends it later),
and API errors are JSON, never Django's HTML page."""
from __future__ import annotations

from datetime import timedelta
from unittest import mock

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from leaderboard.storage import private_path
from leaderboard.submissions.models import Status, Submission
from tests.fixtures_live import celery_pointed_at, free_port


@pytest.fixture
def dead_broker():
    """Celery pointed at a loopback port where nothing listens, as with Redis stopped."""
    url = f"redis://127.0.0.1:{free_port()}"
    with celery_pointed_at(f"{url}/0", f"{url}/1"):
        yield


def upload(client: APIClient, bench, pred_file):
    with open(pred_file, "rb") as handle:
        return client.post("/api/v1/submissions/", {"kind": "predictions", "benchmark": bench[0].slug,
                                                    "method_name": "offline-net", "file": handle})


def test_upload_with_the_broker_down_is_accepted_and_kept(transactional_db, bench, pred_file, alice, dead_broker,
                                                          caplog):
    client = APIClient(raise_request_exception=False)
    client.force_authenticate(alice)
    response = upload(client, bench, pred_file)
    assert response.status_code == 201, response.content[:300]
    submission = Submission.objects.get(uuid=response.json()["id"])
    assert submission.status == Status.SUBMITTED
    assert private_path(submission.upload.name).is_file()  # committed, so never discarded
    assert "sweeper will retry" in caplog.text

    # Later, the broker is back: the sweeper finds the stalled submission and sends its validation again.
    Submission.objects.filter(pk=submission.pk).update(heartbeat_at=timezone.now() - timedelta(hours=1))
    from workers.pipeline import redispatch, stuck_submissions

    assert submission.pk in [s.pk for s in stuck_submissions()]
    with mock.patch("workers.tasks.validate_submission.apply_async") as send:
        assert redispatch(submission.pk) == "revalidate"
    send.assert_called_once()
    assert private_path(submission.upload.name).is_file()


def test_unexpected_api_errors_are_json_500(db, bench, pred_file, alice, monkeypatch):
    monkeypatch.setattr("leaderboard.api.views.create_submission", mock.Mock(side_effect=RuntimeError("boom")))
    client = APIClient(raise_request_exception=False)
    client.force_authenticate(alice)
    response = upload(client, bench, pred_file)
    assert response.status_code == 500
    assert response["Content-Type"].startswith("application/json")
    assert response.json()["error"] == "server_error" and "boom" not in response.content.decode()


def test_unknown_api_urls_are_json_404(db):
    response = APIClient().get("/api/v1/no-such-endpoint/")
    assert response.status_code == 404
    assert response["Content-Type"].startswith("application/json")
    assert response.json()["error"] == "not_found"


def test_site_pages_keep_html_errors(db):
    response = APIClient().get("/no-such-page/")
    assert response.status_code == 404 and response["Content-Type"].startswith("text/html")


def test_a_body_django_refuses_to_parse_is_a_json_400(db, alice, settings):
    """Too many files: Django refuses it while the upload guard parses the body, outside any API view."""
    from django.core.files.uploadedfile import SimpleUploadedFile
    from rest_framework.authtoken.models import Token

    settings.DATA_UPLOAD_MAX_NUMBER_FILES = 1
    settings.MAX_ANONYMOUS_BODY_BYTES = 10  # so the guard parses this small body itself
    key = Token.objects.create(user=alice).key
    files = [SimpleUploadedFile(f"p{i}.npz", b"x" * 100) for i in range(3)]
    response = APIClient(raise_request_exception=False).post(
        "/api/v1/submissions/", {"file": files, "kind": "predictions"}, HTTP_AUTHORIZATION=f"Token {key}")
    assert response.status_code == 400
    assert response["Content-Type"].startswith("application/json") and response.json()["error"] == "bad_request"
