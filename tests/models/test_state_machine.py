import pytest

from leaderboard.submissions.models import FINAL_STATUSES, TRANSITIONS, InvalidTransition, Status, Submission


def make(owner, status=Status.SUBMITTED) -> Submission:
    return Submission.objects.create(owner=owner, method_name="m", status=status)


def test_happy_path_sets_timestamps(alice):
    s = make(alice)
    for to in (Status.VALIDATING, Status.QUEUED, Status.RUNNING, Status.FINISHED):
        s.transition(to)
    s.refresh_from_db()
    assert s.status == Status.FINISHED
    assert s.started_at is not None and s.finished_at is not None and s.finished_at >= s.started_at


@pytest.mark.parametrize("final", sorted(FINAL_STATUSES))
def test_final_is_final(alice, final):
    s = make(alice, final)
    for to in Status.values:
        with pytest.raises(InvalidTransition):
            s.transition(to)
    s.refresh_from_db()
    assert s.status == final


def test_stale_instance_cannot_move_a_row_twice(alice):
    """Two processes holding the same row: the conditional UPDATE lets only the first one win."""
    first, second = make(alice), None
    second = Submission.objects.get(pk=first.pk)
    first.transition(Status.CANCELLED)
    with pytest.raises(InvalidTransition, match="cancelled"):
        second.transition(Status.VALIDATING)  # second still believes the row is 'submitted'
    assert Submission.objects.get(pk=first.pk).status == Status.CANCELLED


def test_skipping_states_is_refused(alice):
    s = make(alice)
    with pytest.raises(InvalidTransition):
        s.transition(Status.RUNNING)
    assert Status.RUNNING not in TRANSITIONS[Status.SUBMITTED]


def test_cancel_from_every_non_final_state(alice):
    for status in set(Status.values) - set(FINAL_STATUSES):
        s = make(alice, status)
        s.transition(Status.CANCELLED)
        assert Submission.objects.get(pk=s.pk).status == Status.CANCELLED


@pytest.mark.django_db(transaction=True)
def test_racing_threads_only_one_wins():
    """Real concurrency (PostgreSQL row locks): eight threads try to start the same queued run."""
    import threading

    from django.contrib.auth.models import User
    from django.db import connection

    if connection.vendor != "postgresql":
        pytest.skip("needs a database with concurrent writers (run with DATABASE_URL=postgres://...)")
    owner = User.objects.create_user("racer")
    pk = make(owner, Status.QUEUED).pk
    barrier, wins, losses = threading.Barrier(8), [], []

    def attempt() -> None:
        from django.db import connections

        row = Submission.objects.get(pk=pk)
        barrier.wait()
        try:
            row.transition(Status.RUNNING)
            wins.append(1)
        except InvalidTransition:
            losses.append(1)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=attempt) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert (len(wins), len(losses)) == (1, 7)
