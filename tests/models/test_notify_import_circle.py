"""Issue 24, Medium 1: no import circle models -> notifications -> visibility -> models, nor through the Celery task
that sends the email (workers/notify.py): the models send ``events.submission_finalised``, workers.notify receives it."""
from __future__ import annotations

import ast

from tests.models.test_import_cycles import PACKAGE, REPO_ROOT, _imported, _module_files, cycles


def test_submissions_and_the_notify_task_import_no_circle():
    files = {**_module_files(PACKAGE), "workers.notify": REPO_ROOT / "workers" / "notify.py"}
    graph = {name: _imported(ast.parse(path.read_text()), set(files)) - {name} for name, path in files.items()}
    assert "leaderboard.submissions.notifications" in graph["workers.notify"]  # the task does send through it
    assert cycles(graph) == []
    assert graph["leaderboard.submissions.events"] == set()  # what the models import to announce a final status
