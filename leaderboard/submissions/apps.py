from django.apps import AppConfig


class SubmissionsConfig(AppConfig):
    name = "leaderboard.submissions"
    label = "submissions"

    def ready(self) -> None:
        from leaderboard.submissions import score_triggers  # noqa: F401  (connects the score refresh receivers)
        from leaderboard.submissions import signals

        signals.connect()
        from workers import notify  # the owner's email when a submission becomes final (events.submission_finalised)
        from workers import renders  # pictures of the worst samples once a predictions submission finished

        notify.connect()
        renders.connect()
