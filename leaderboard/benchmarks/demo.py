"""Demo benchmarks built from synthetic SMPL-X data, plus example prediction files a visitor can upload.

Numbers on these benchmarks measure nothing about real methods: the body model and the people are synthetic.
So they count toward MPE and hand MPE only while no real benchmark does: they are created out of MPE when a real one is
there, and ``import_benchmark`` takes them out of MPE when it adds one. Creating them again (every start of
scripts/serve) keeps what a host changed (split reveal/ranking, MPE flags) unless ``refresh=True``.
Once a real benchmark exists they are listed after it (``display_order`` + ``AFTER_REAL``), and
``remove_demo_benchmarks`` deletes them with their results and files.
"""
from __future__ import annotations

import shutil
import tempfile
import zipfile
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
from django.conf import settings
from django.db.models import Q

from leaderboard.benchmarks.models import Benchmark
from leaderboard.benchmarks.services import BenchmarkSpec, import_ground_truth
from leaderboard.storage import GROUND_TRUTH, exists


@dataclass(frozen=True)
class DemoBenchmark:
    spec: BenchmarkSpec
    num_samples: int
    seed: int
    keep_splits: bool  # False: one 'test' split
    layout: str = ""  # a demo_data.GENERATORS key (GT layout of the protocol); "" = evaluator.demo's SMPL-X files
    reference_row: bool = False  # models-only: the server runs the demo's reference model on it (a computed row)


DEMO_BENCHMARKS = (
    DemoBenchmark(BenchmarkSpec(
        "demo-agora", "Demo AGORA", "Synthetic stand-in for AGORA-val: whole-body PVE is the primary error.",
        display_order=10), 400, 11, False),
    DemoBenchmark(BenchmarkSpec(
        "demo-ehf", "Demo EHF", "Synthetic stand-in for EHF (100 frames in the real set).",
        display_order=20), 200, 12, False),
    DemoBenchmark(BenchmarkSpec(
        "demo-3dpw", "Demo 3DPW",
        "Synthetic stand-in for 3DPW, scored by the '3dpw' protocol: gendered SMPL ground truth (synthetic SMPL), "
        "14-joint MPJPE, no hand or face GT. The 'test' split is hidden until revealed; 'dev' results are public.",
        protocol="3dpw", primary_metric="mpjpe_body", counts_toward_hand_mpe=False, hidden_splits=["test"],
        ranking_split="dev", display_order=30), 300, 13, True, "smpl"),
    DemoBenchmark(BenchmarkSpec(
        "demo-ubody", "Demo UBody",
        "Synthetic stand-in for UBody, scored by the 'ubody' protocol: per-sample camera and image size; points "
        "projecting outside the image leave every error, and a hand or face with no visible point is skipped.",
        protocol="ubody", display_order=35), 200, 15, False, "smplx-camera"),
)
NOISE_LEVELS = {"pred": 1.0, "pred-rough": 2.0}
# Held-out rendered images: only model submissions (container / TorchScript archive) can be scored on it.
IMAGES_BENCHMARK = DemoBenchmark(BenchmarkSpec(
    "demo-images", "Demo images (models)",
    "Rendered synthetic people; the images are held out, so submit a model (container or TorchScript archive) "
    "and the server runs it. Not part of MPE.",
    counts_toward_mpe=False, counts_toward_hand_mpe=False, display_order=40), 32, 14, False)
# Whole images of 1-4 people (the agora-multiperson protocol): models get no boxes. The demo's reference model
# (detector + mean body, reference_models.multiperson) runs on it, so the board has a computed row.
MULTIPERSON_BENCHMARK = DemoBenchmark(BenchmarkSpec(
    "demo-multiperson", "Demo multi-person images (models)",
    "Rendered synthetic images of 1-4 people each (some hiding others, a quarter of them kids), scored by the "
    "'agora-multiperson' protocol: predictions are matched to people, errors divided by the detection F1, ranked "
    "by FB-NMVE. A submitted model gets whole images, no person boxes, and reports every person it finds. The "
    "images are held out, so submit a model. Not part of MPE.",
    protocol="agora-multiperson", primary_metric="fb_nmve", counts_toward_mpe=False, counts_toward_hand_mpe=False,
    display_order=45), 8, 16, False, reference_row=True)
MODEL_BENCHMARKS = (IMAGES_BENCHMARK, MULTIPERSON_BENCHMARK)  # held-out images: models only
REFERENCE_METHOD = "Demo detector + mean body (reference)"


DEMO_SLUGS = frozenset(d.spec.slug for d in (*DEMO_BENCHMARKS, *MODEL_BENCHMARKS))


AFTER_REAL = 1000  # display_order offset that lists a demo benchmark after every real one


def real_benchmarks_in_mpe():
    return Benchmark.objects.filter(counts_toward_mpe=True, is_active=True).exclude(slug__in=DEMO_SLUGS)


def exclude_demo_from_mpe() -> list[str]:
    """Take the demo benchmarks out of MPE and hand MPE (a real benchmark now counts); returns the slugs changed."""
    changed = []
    for benchmark in Benchmark.objects.filter(Q(counts_toward_mpe=True) | Q(counts_toward_hand_mpe=True),
                                              slug__in=DEMO_SLUGS):
        benchmark.counts_toward_mpe = benchmark.counts_toward_hand_mpe = False
        # a save: the scores are refreshed (score_triggers)
        benchmark.save(update_fields=["counts_toward_mpe", "counts_toward_hand_mpe"])
        changed.append(benchmark.slug)
    return changed


def move_demo_after_real() -> list[str]:
    """List the demo benchmarks after the real ones (a real one now exists); returns the slugs moved."""
    moved = []
    for benchmark in Benchmark.objects.filter(slug__in=DEMO_SLUGS, display_order__lt=AFTER_REAL):
        benchmark.display_order += AFTER_REAL
        benchmark.save(update_fields=["display_order"])
        moved.append(benchmark.slug)
    return moved


def remove_demo_benchmarks() -> list[str]:
    """Delete the demo benchmarks, their results (cascade), the demo's computed rows and their GT and image folders."""
    from leaderboard.benchmarks.services import gt_folder
    from leaderboard.storage import GROUND_TRUTH, PRIVATE, delete_prefix

    from leaderboard.submissions.models import Submission

    removed = sorted(Benchmark.objects.filter(slug__in=DEMO_SLUGS).values_list("slug", flat=True))
    # the demo reference model's computed rows would be left with no benchmark
    Submission.objects.filter(method_name=REFERENCE_METHOD, benchmarks__slug__in=removed).delete()
    Benchmark.objects.filter(slug__in=removed).delete()  # deletes signal a score refresh (score_triggers)
    for slug in removed:
        for store, prefix in ((GROUND_TRUTH, gt_folder(slug)), (PRIVATE, gt_folder(slug)), (GROUND_TRUTH, f"images/{slug}")):
            delete_prefix(store, prefix)
    return removed


def _already_imported(slug: str) -> Benchmark | None:
    benchmark = Benchmark.objects.filter(slug=slug).first()
    if benchmark is not None and benchmark.gt_path and exists(GROUND_TRUTH, benchmark.gt_path):
        return benchmark
    return None


def _demo_spec(spec: BenchmarkSpec) -> BenchmarkSpec:
    if spec.counts_toward_mpe and real_benchmarks_in_mpe().exists():
        spec = replace(spec, counts_toward_mpe=False, counts_toward_hand_mpe=False)
    if Benchmark.objects.exclude(slug__in=DEMO_SLUGS).exists():
        spec = replace(spec, display_order=spec.display_order + AFTER_REAL)
    return spec


def default_predictions_dir() -> Path:
    return Path(settings.VAR_DIR) / "demo_predictions"


def ensure_body_model() -> Path:
    """The synthetic SMPL-X model (and the SMPL model next to it) in SMPLX_MODEL_DIR, generated on first use.

    A synthetic folder written before it held SMPL (needed by demo 3DPW) is regenerated, identically for SMPL-X.
    Real (operator) model folders are never touched.
    """
    from evaluator.assets import ModelFilesError, resolve_model_dir
    from evaluator.synthetic_model import make_synthetic_model

    root = Path(settings.SMPLX_MODEL_DIR)
    try:
        resolved = resolve_model_dir(root)
    except ModelFilesError:
        return make_synthetic_model(root, seed=0)
    synthetic = (root / "smplx" / "SYNTHETIC.json").is_file()
    if synthetic and settings.SMPL_MODEL_DIR is None and not (root / "smpl" / "SMPL_NEUTRAL.npz").is_file():
        make_synthetic_model(root, seed=0)
    return resolved


def _rewrite(path: Path, keep_splits: bool) -> None:
    if keep_splits:
        return
    with np.load(path, allow_pickle=False) as data:  # our own generated file
        arrays = {k: data[k] for k in data.files if k != "splits"}
    np.savez(path, **arrays)


def _write_gt(demo: DemoBenchmark, work: Path) -> tuple[Path, dict[str, np.ndarray], np.ndarray]:
    """The demo's GT file in ``work`` and the SMPL-X params (float64, GT order) + ids its predictions are made from."""
    from evaluator.demo import make_demo_benchmark

    from leaderboard.benchmarks.demo_data import GENERATORS

    if demo.layout:
        data = GENERATORS[demo.layout](demo.num_samples, demo.seed, demo.keep_splits)
        work.mkdir(parents=True, exist_ok=True)
        gt_path = work / "gt.npz"
        np.savez(gt_path, **data.gt)
        return gt_path, data.people, data.gt["sample_ids"]
    gt_path, _ = make_demo_benchmark(work, num_samples=demo.num_samples, seed=demo.seed)
    _rewrite(gt_path, demo.keep_splits)
    with np.load(gt_path, allow_pickle=False) as gt:
        people = {k: gt[k].astype(np.float64) for k in gt.files if k not in ("sample_ids", "splits")}
        ids = gt["sample_ids"]
    return gt_path, people, ids


def _render(demo: DemoBenchmark, out: Path):
    """The held-out images and GT of a models-only demo benchmark, in the input its protocol gives models."""
    from evaluator.image_benchmark import make_image_benchmark
    from evaluator.multiperson_images import make_multiperson_image_benchmark
    from evaluator.protocols import get_protocol
    from evaluator.protocols.base import PERSON_CROP, WHOLE_IMAGE

    renderers = {PERSON_CROP: make_image_benchmark, WHOLE_IMAGE: make_multiperson_image_benchmark}
    render = renderers[get_protocol(demo.spec.protocol, demo.spec.protocol_options).model_input]
    return render(out, settings.SMPLX_MODEL_DIR, demo.num_samples, seed=demo.seed, slug=demo.spec.slug)


def submit_demo_reference(benchmark: Benchmark, input_dir: Path):
    """The demo's computed row on a whole-image benchmark: reference_models.multiperson's detector with the mean
    body (TemplateRegressor) run here on the held-out images; its predictions stored and scored like a model run's."""
    from django.db import transaction

    from leaderboard.submissions.baselines import store_computed_row, system_user
    from leaderboard.submissions.models import Submission
    from reference_models.body import SMPLXJoints
    from reference_models.multiperson import TemplateRegressor, predict_people

    predictions = predict_people(TemplateRegressor(SMPLXJoints(settings.SMPLX_MODEL_DIR)), input_dir,
                                 settings.SMPLX_MODEL_DIR)
    description = (f"Run by the server on the held-out images of '{benchmark.slug}' when the demo was created. A "
                   "silhouette detector (background fitted to the image borders, connected components; "
                   "reference_models/detector.py) finds the people; each one gets the mean SMPL-X body fitted to its "
                   "box (reference_models/multiperson.py TemplateRegressor). A floor, not a method.")
    owner = system_user()
    with transaction.atomic():
        # a refresh re-imports the benchmark: the row computed on the old images goes
        Submission.objects.filter(owner=owner, method_name=REFERENCE_METHOD, benchmarks=benchmark).delete()
        return store_computed_row(owner, [benchmark], {benchmark.slug: predictions}, method_name=REFERENCE_METHOD,
                                  description=description)


def create_demo_benchmarks(predictions_dir: Path | None = None, refresh: bool = False) -> list[Benchmark]:
    """Create the demo benchmarks that are missing and write example predictions; deterministic and idempotent.

    An existing demo benchmark is kept as the host left it (flags, splits); ``refresh`` re-imports it from scratch.
    """
    from evaluator.demo import noisy_predictions

    ensure_body_model()
    out = predictions_dir or default_predictions_dir()
    out.mkdir(parents=True, exist_ok=True)
    benchmarks = []
    with tempfile.TemporaryDirectory() as tmp:
        for demo in DEMO_BENCHMARKS:
            existing = None if refresh else _already_imported(demo.spec.slug)
            examples = [out / f"{demo.spec.slug}.npz", out / f"{demo.spec.slug}-rough.npz"]
            if existing is not None and all(p.is_file() for p in examples):
                benchmarks.append(existing)
                continue
            gt_path, people, ids = _write_gt(demo, Path(tmp) / demo.spec.slug)
            benchmarks.append(existing or import_ground_truth(gt_path, _demo_spec(demo.spec)))
            for path, (level, seed) in zip(examples, ((NOISE_LEVELS["pred"], demo.seed + 500),
                                                      (NOISE_LEVELS["pred-rough"], demo.seed + 1000))):
                noisy = noisy_predictions(people, np.random.default_rng(seed), level)
                order = np.random.default_rng(seed).permutation(len(ids))  # predictions need not follow GT order
                np.savez(path, sample_ids=ids[order], **{k: v[order].astype(np.float32) for k, v in noisy.items()})
        for demo in MODEL_BENCHMARKS:
            existing = None if refresh else _already_imported(demo.spec.slug)
            if existing is not None:
                benchmarks.append(existing)
                continue
            images = _render(demo, Path(tmp) / demo.spec.slug)
            imported = import_ground_truth(images.gt_path, _demo_spec(demo.spec), images_dir=images.input_dir)
            Benchmark.objects.filter(pk=imported.pk).update(accepts_predictions=False)  # models only
            imported.accepts_predictions = False
            benchmarks.append(imported)
            if demo.reference_row:
                submit_demo_reference(imported, images.input_dir)
    bundle = out / "all-demo-benchmarks.zip"
    with zipfile.ZipFile(bundle, "w", zipfile.ZIP_STORED) as archive:  # npz members are already zip archives
        for demo in DEMO_BENCHMARKS:
            archive.write(out / f"{demo.spec.slug}.npz", arcname=f"{demo.spec.slug}.npz")
    (out / "README.txt").write_text(
        "Example predictions for the demo benchmarks (synthetic data).\n"
        "<slug>.npz        a decent method (noise level 1), upload it for benchmark <slug>\n"
        "<slug>-rough.npz  a rougher method (noise level 2)\n"
        "all-demo-benchmarks.zip  one upload for all demo benchmarks (members are <slug>.npz)\n"
    )
    return benchmarks
