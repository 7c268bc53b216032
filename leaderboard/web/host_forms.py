"""The staff import form: what ``manage.py import_benchmark`` takes, as fields (``importing.ImportRequest``)."""
from __future__ import annotations

from django import forms

from evaluator.importers import IMPORT_FORMATS
from evaluator.importers.humandata import REQUIRED_KEYS
from leaderboard.benchmarks import bundles
from leaderboard.benchmarks.importing import ImportRequest, key_value
from leaderboard.benchmarks.models import GT_PARTS, Benchmark

YES_NO = [("yes", "yes"), ("no", "no")]
MPE_CHOICES = [("", "default"), *YES_NO]
HIDDEN_CHOICES = [("default", "the default names: test*, heldout*, hidden*, private* (any case)"),
                  ("listed", "exactly the splits listed below"),
                  ("none", "none: every split's results public at once")]
FLAG = {"": None, "yes": True, "no": False}


def protocol_choices() -> list[tuple[str, str]]:
    from evaluator.protocols import available_protocols

    return [("", "the one the format implies")] + [(name, name) for name in available_protocols()]


def _key_values(text: str, field: str) -> dict:
    try:
        return dict(key_value(line.strip()) for line in text.splitlines() if line.strip())
    except ValueError as exc:
        raise forms.ValidationError(f"{field}: {exc} (one KEY=VALUE per line).") from None


def _names(text: str) -> list[str]:
    """Comma-separated split names."""
    return [s.strip() for s in text.split(",") if s.strip()]


class BenchmarkImportForm(forms.Form):
    slug = forms.SlugField(max_length=50, help_text="In the benchmark's address; an existing slug is updated.")
    name = forms.CharField(max_length=120)
    fmt = forms.ChoiceField(label="Format", choices=[(f, f) for f in IMPORT_FORMATS], initial="npz",
                            help_text="How to read the bundle (docs/formats.md); npz = our own GT layout.")
    bundle = forms.FileField(required=False, label="Upload a bundle",
                             help_text="One file, or a .zip of the published files (trusted: HumanData is unpickled).")
    stored_name = forms.CharField(required=False, max_length=500, label="…or a bundle already in storage",
                                  help_text=f"A name under {bundles.STORED_PREFIX} in the private store, for large bundles.")
    source_path = forms.CharField(required=False, max_length=500, label="Path inside the .zip",
                                  help_text="The file or folder to read; empty: the zip's top folder.")
    format_options = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 2}),
                                     help_text="KEY=VALUE per line, e.g. sample_interval=100 or camera=official.")
    fill_missing = forms.MultipleChoiceField(required=False, choices=[(k, k) for k in REQUIRED_KEYS],
                                             widget=forms.CheckboxSelectMultiple,
                                             help_text="HumanData only: zeros for these keys if the file lacks them.")
    protocol = forms.ChoiceField(required=False, choices=protocol_choices)
    protocol_options = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 2}),
                                       help_text="KEY=VALUE per line, e.g. variant=smplest-x.")
    gt_parts = forms.MultipleChoiceField(required=False, label="GT parts", choices=[(p, p) for p in GT_PARTS],
                                         widget=forms.CheckboxSelectMultiple, help_text="None ticked: the protocol's.")
    primary_metric = forms.CharField(required=False, max_length=40, help_text="Empty: the protocol's.")
    hidden = forms.ChoiceField(label="Hidden splits", choices=HIDDEN_CHOICES, initial="default", widget=forms.RadioSelect,
                               help_text="Hidden splits are scored; their results show to staff only until revealed.")
    hidden_splits = forms.CharField(required=False, max_length=500, label="Splits to hide",
                                    help_text="Comma-separated, with “exactly the splits listed”.")
    ranking_split = forms.CharField(required=False, max_length=40, help_text="Empty: test, else the first revealed.")
    public_gt_splits = forms.CharField(required=False, max_length=500, label="Splits with public GT",
                                       help_text="Comma-separated; splits whose GT is published anyway (e.g. val): "
                                                 "failure pictures there may show the GT mesh. Empty: none.")
    mpe = forms.ChoiceField(label="Counts toward MPE", choices=MPE_CHOICES, required=False,
                            help_text="Default: kept on re-import; a new benchmark joins while MPE has fewer than the "
                                      "paper's five.")
    hand_mpe = forms.ChoiceField(label="Counts toward hand MPE", choices=MPE_CHOICES, required=False,
                                 help_text="Default: follows the MPE decision (needs hand GT).")
    description = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 2}))
    paper_url = forms.URLField(required=False, assume_scheme="https")
    data_url = forms.URLField(required=False, assume_scheme="https")
    display_order = forms.IntegerField(min_value=0, initial=100)

    @classmethod
    def for_benchmark(cls, benchmark: Benchmark) -> "BenchmarkImportForm":
        """An empty form holding the benchmark's current settings (an update changes only what the host edits)."""
        hidden = sorted(benchmark.splits.filter(is_revealed=False).values_list("name", flat=True))
        ranking = benchmark.splits.filter(is_ranking=True).values_list("name", flat=True).first() or ""
        return cls(initial={
            "slug": benchmark.slug, "name": benchmark.name, "description": benchmark.description,
            "paper_url": benchmark.paper_url, "data_url": benchmark.data_url, "display_order": benchmark.display_order,
            "protocol": benchmark.protocol, "primary_metric": benchmark.primary_metric, "gt_parts": benchmark.gt_parts,
            "protocol_options": "\n".join(f"{k}={v}" for k, v in (benchmark.protocol_options or {}).items()),
            "hidden": "listed" if hidden else "none", "hidden_splits": ", ".join(hidden), "ranking_split": ranking,
            "public_gt_splits": ", ".join(benchmark.splits.filter(public_ground_truth=True).values_list("name", flat=True)),
        })

    def clean_stored_name(self) -> str:
        name = self.cleaned_data["stored_name"]
        try:
            return bundles.checked_stored_name(name) if name.strip() else ""
        except bundles.BundleError as exc:
            raise forms.ValidationError(str(exc)) from None

    def clean(self) -> dict:
        data = super().clean()
        if bool(data.get("bundle")) == bool(data.get("stored_name")):
            raise forms.ValidationError("Upload a bundle or name one in storage (one of the two).")
        data["format_options_dict"] = _key_values(data.get("format_options", ""), "Format options")
        data["protocol_options_dict"] = _key_values(data.get("protocol_options", ""), "Protocol options")
        refused = sorted(set(data["format_options_dict"]) & set(bundles.SITE_REFUSED_OPTIONS))
        if refused:
            raise forms.ValidationError(f"Format option {', '.join(refused)} is set by the server, not here.")
        return data

    def import_request(self) -> ImportRequest:
        """The request the worker runs (its source is filled in from the bundle there)."""
        d = self.cleaned_data
        hidden = {"default": None, "none": [], "listed": _names(d["hidden_splits"])}[d["hidden"]]
        return ImportRequest(
            slug=d["slug"], name=d["name"], fmt=d["fmt"], format_options=d["format_options_dict"],
            protocol=d["protocol"] or None, protocol_options=d["protocol_options_dict"], gt_parts=d["gt_parts"] or None,
            primary_metric=d["primary_metric"] or None, fill_missing=d["fill_missing"], mpe=FLAG[d["mpe"]],
            hand_mpe=FLAG[d["hand_mpe"]], hidden_splits=hidden, all_public=d["hidden"] == "none",
            public_gt_splits=_names(d["public_gt_splits"]), ranking_split=d["ranking_split"] or None, description=d["description"], paper_url=d["paper_url"],
            data_url=d["data_url"], display_order=d["display_order"], origin="site",
        )
