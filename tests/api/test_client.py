"""The stdlib command-line client against a live server (evaluation itself is mocked out)."""
import pytest
from rest_framework.authtoken.models import Token

from leaderboard import client
from leaderboard.submissions.models import BenchmarkResult, Status, Submission


@pytest.mark.django_db(transaction=True)
def test_submit_and_status(live_server, alice, bench, pred_file, started, capsys):
    token = Token.objects.create(user=alice).key
    code = client.main(["--url", live_server.url, "--token", token, "submit", "--benchmark", "bench-a",
                        "--file", str(pred_file), "--method", "CLI method"])
    assert code == 0
    submission = Submission.objects.get()
    assert submission.method_name == "CLI method" and started.call_count == 1
    assert f"submitted {submission.uuid} (bench-a)" in capsys.readouterr().out

    Submission.objects.filter(pk=submission.pk).update(status=Status.FINISHED, mpe=12.5)
    BenchmarkResult.objects.create(submission=submission, benchmark=bench[0], split="test", metrics={"mpvpe_all": 12.5}, num_samples=12)
    assert client.main(["status", str(submission.uuid), "--url", live_server.url, "--token", token]) == 0
    out = capsys.readouterr().out
    assert "MPE: 12.50 mm" in out and "*mpvpe_all" in out and "bench-a / test (12 samples)" in out


@pytest.mark.django_db(transaction=True)
def test_errors_are_printed_not_raised(live_server, alice, bench, tmp_path, capsys):
    token = Token.objects.create(user=alice).key
    bad = tmp_path / "bad.npz"
    bad.write_bytes(b"not a zip")
    code = client.main(["--url", live_server.url, "--token", token, "submit", "--benchmark", "bench-a", "--file", str(bad), "--method", "x"])
    assert code == 2 and "HTTP 400: bad.npz: not an .npz or .zip file" in capsys.readouterr().err
    code = client.main(["--url", live_server.url, "--token", "wrong", "submit", "--benchmark", "bench-a", "--file", str(bad), "--method", "x"])
    assert code == 2 and "HTTP 401" in capsys.readouterr().err
