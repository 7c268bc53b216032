from __future__ import annotations

from django import forms

from leaderboard.benchmarks.models import Benchmark
from leaderboard.submissions.efficiency import REPORTED_FIELDS, REPORTED_HELP
from leaderboard.submissions.models import SubmissionKind, Team
from leaderboard.submissions.visibility import user_teams


class SubmitForm(forms.Form):
    """Metadata and file; the file itself is validated by ``leaderboard.submissions.uploads``."""

    kind = forms.ChoiceField(choices=SubmissionKind.choices, initial=SubmissionKind.PREDICTIONS, widget=forms.RadioSelect)
    benchmarks = forms.ModelMultipleChoiceField(
        queryset=Benchmark.objects.none(),
        to_field_name="slug",
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text="One benchmark for a single .npz. For a .zip leave these empty: its <benchmark>.npz member names decide.",
    )
    file = forms.FileField(help_text="predictions .npz, a .zip of <benchmark>.npz, or a model file")
    method_name = forms.CharField(max_length=120, help_text="Shown on the leaderboard once you publish.")
    description = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 3}))
    paper_url = forms.URLField(required=False, label="Paper URL", assume_scheme="https")
    code_url = forms.URLField(required=False, label="Code URL", assume_scheme="https")
    team = forms.ModelChoiceField(
        queryset=Team.objects.none(),
        required=False,
        empty_label="(none: submit as yourself)",
        help_text="Its members can see the submission; only you can publish or cancel it.",
        error_messages={"invalid_choice": "You are not a member of that team."},
    )

    def __init__(self, *args, user=None, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        for name in REPORTED_FIELDS:  # optional, checked by actions.reported_figures (one message for every front end)
            label, help_text = REPORTED_HELP[name]
            self.fields[name] = forms.CharField(required=False, max_length=80, label=label, help_text=help_text)
        self.fields["benchmarks"].queryset = Benchmark.objects.filter(is_active=True)
        self.fields["team"].queryset = user_teams(user)  # a posted team outside it is refused by the field
