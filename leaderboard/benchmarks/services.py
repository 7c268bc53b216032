"""Benchmark import: validate ground truth, store it privately, publish only its sample-id list.

Layout in the private stores (leaderboard/storage.py; never served)::

    gt/<slug>/gt.npz              ground_truth store: the GT, exactly as validated (workers read it)
    gt/<slug>/sample_ids.npy      private store: public sample ids (unicode), what the web validates uploads against
    gt/<slug>/sample_splits.npy   private store: the split of each sample id (same order)
    gt/<slug>/inputs.json         private store: the public inputs manifest (ehps_client.inputs; image, box, camera)
    images/<slug>/                ground_truth store: held-out images (manifest.json + images/) for model submissions
"""
from __future__ import annotations

import os
import re
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import numpy as np
from django.db import transaction

from ehps_client.hashing import file_sha256
from leaderboard.benchmarks.models import GT_PARTS, Benchmark, Split
from leaderboard.storage import (
    GROUND_TRUTH,
    PRIVATE,
    delete_file,
    delete_prefix,
    is_local,
    local_path,
    make_private,
    open_file,
    private_root,
    put_file,
    put_folder,
)

GT_NAME, IDS_NAME, SPLITS_NAME, INPUTS_NAME = "gt.npz", "sample_ids.npy", "sample_splits.npy", "inputs.json"


class BenchmarkImportError(ValueError):
    """The ground truth or the options are not acceptable; the message says why."""


def gt_folder(slug: str) -> str:
    return f"gt/{slug}"


@lru_cache(maxsize=64)
def _load_ids(path: str, mtime_ns: int) -> np.ndarray:
    return np.load(path, allow_pickle=False)  # our own file, written by import_ground_truth


def _public_array(benchmark: Benchmark, name: str) -> np.ndarray:
    # In the private store (the web reads it), never beside the GT in the ground-truth store (the web may not).
    try:
        path = local_path(PRIVATE, f"{gt_folder(benchmark.slug)}/{name}")
        return _load_ids(str(path), path.stat().st_mtime_ns)
    except FileNotFoundError:
        raise FileNotFoundError(f"Benchmark '{benchmark.slug}' has no {name}; re-run import_benchmark.") from None


def public_sample_ids(benchmark: Benchmark) -> np.ndarray:
    """The benchmark's sample ids (cached per file version). Reading it never touches the GT arrays."""
    return _public_array(benchmark, IDS_NAME)


def public_inputs_manifest(benchmark: Benchmark) -> bytes:
    """The benchmark's public inputs manifest (JSON bytes); FileNotFoundError before its first import with one."""
    try:
        return local_path(PRIVATE, f"{gt_folder(benchmark.slug)}/{INPUTS_NAME}").read_bytes()
    except FileNotFoundError:
        raise FileNotFoundError(f"Benchmark '{benchmark.slug}' has no {INPUTS_NAME}; re-run import_benchmark.") from None


def public_sample_splits(benchmark: Benchmark) -> np.ndarray:
    return _public_array(benchmark, SPLITS_NAME)


@dataclass
class BenchmarkSpec:
    slug: str
    name: str
    description: str = ""
    paper_url: str = ""
    data_url: str = ""
    primary_metric: str = "mpvpe_all"
    counts_toward_mpe: bool = True
    counts_toward_hand_mpe: bool = True
    hidden_splits: list[str] = field(default_factory=list)
    allow_all_public: bool = True  # False: refuse a GT whose every split would be public (import_benchmark's default)
    public_gt_splits: list[str] = field(default_factory=list)  # Split.public_ground_truth: GT published anyway
    ranking_split: str | None = None
    display_order: int = 100
    protocol: str = "smplx-generic"
    protocol_options: dict = field(default_factory=dict)
    gt_parts: list[str] | None = None  # None: every part the protocol has GT for


# Split names hidden by default (case-insensitive): test*, held-out / heldout*, hidden*, private*.
HIDDEN_BY_DEFAULT = re.compile(r"^(test|held[-_ ]?out|hidden|private)", re.IGNORECASE)
PAPER_MPE_SIZE = 5  # MPE is the paper's five benchmarks (AGORA, EgoBody, UBody, EHF, 3DPW): docs/metrics.md


def default_hidden_splits(split_names: list[str]) -> list[str]:
    """The splits a host most likely means to keep secret: ``Test``, ``TEST_x``, ``heldout``, ``hidden_2``..."""
    return [name for name in split_names if HIDDEN_BY_DEFAULT.match(name)]


@dataclass
class Membership:
    """Whether a benchmark counts toward MPE and hand MPE, and why (said in the import output)."""
    mpe: bool
    hand_mpe: bool
    why_mpe: str
    why_hand_mpe: str


def mpe_membership(slug: str, mpe: bool | None, hand_mpe: bool | None, has_hands: bool,
                   protocol: str | None = None, in_mpe: bool = True) -> Membership:
    """One explicit flag per aggregate; without one, a re-import keeps the benchmark's membership and a new
    benchmark joins MPE only while fewer than the paper's five real benchmarks count (a sixth needs ``--mpe``).
    Hand MPE follows the MPE decision (and hand GT) unless its own flag says otherwise. A protocol that is never
    averaged into MPE (``in_mpe`` False: agora-multiperson) is out of both, and ``--mpe`` is refused."""
    from leaderboard.benchmarks.demo import DEMO_SLUGS

    if not in_mpe:
        if mpe or hand_mpe:
            raise BenchmarkImportError(f"Protocol {protocol!r} ranks by its own figures and is never averaged into MPE "
                                       "or hand MPE; drop --mpe / --hand-mpe.")
        why = f"protocol {protocol} is never averaged into MPE (its results are not per-crop errors in mm)"
        return Membership(False, False, why, why)
    existing = Benchmark.objects.filter(slug=slug).first()
    if mpe is not None:
        why_mpe = "--mpe" if mpe else "--no-mpe"
    elif existing is not None:
        mpe, why_mpe = existing.counts_toward_mpe, "kept from the previous import"
    else:
        members = sorted(Benchmark.objects.filter(counts_toward_mpe=True).exclude(slug__in=DEMO_SLUGS)
                         .values_list("slug", flat=True))
        if len(members) >= PAPER_MPE_SIZE:
            raise BenchmarkImportError(
                f"MPE already averages {len(members)} benchmarks ({', '.join(members)}), the paper's "
                f"{PAPER_MPE_SIZE}; a new one would change every method's MPE. Say --mpe to add '{slug}' to MPE or "
                "--no-mpe to keep it out.")
        mpe, why_mpe = True, f"default: MPE has {len(members)} of the paper's {PAPER_MPE_SIZE} benchmarks"
    if hand_mpe is not None:
        why_hand = "--hand-mpe" if hand_mpe else "--no-hand-mpe"
    elif existing is not None and mpe == existing.counts_toward_mpe:
        hand_mpe, why_hand = existing.counts_toward_hand_mpe and has_hands, "kept from the previous import"
    else:
        hand_mpe = mpe and has_hands
        why_hand = "follows MPE" + ("" if has_hands or not mpe else "; no hand GT")
    return Membership(mpe, hand_mpe, why_mpe, why_hand)


def choose_ranking_split(split_names: list[str], hidden: set[str], requested: str | None) -> str:
    """The explicit choice, else 'test' if revealed, else the first revealed split (sorted), else 'test'/first."""
    if requested:
        if requested not in split_names:
            raise BenchmarkImportError(f"--ranking-split {requested!r} is not a split of the GT ({', '.join(split_names)}).")
        return requested
    revealed = [s for s in split_names if s not in hidden]
    if "test" in revealed:
        return "test"
    if revealed:
        return revealed[0]
    return "test" if "test" in split_names else split_names[0]


def validated_protocol(spec: BenchmarkSpec):
    """The spec's protocol, after the same checks the admin runs (Benchmark.clean); fills in default GT parts."""
    from django.core.exceptions import ValidationError

    try:
        protocol = Benchmark(protocol=spec.protocol, protocol_options=spec.protocol_options).get_protocol()
    except ValueError as exc:
        raise BenchmarkImportError(f"Protocol rejected: {exc}") from None
    if spec.gt_parts is None:
        spec.gt_parts = sorted(protocol.parts, key=GT_PARTS.index)
    candidate = Benchmark(
        slug=spec.slug, protocol=spec.protocol, protocol_options=spec.protocol_options, gt_parts=list(spec.gt_parts),
        primary_metric=spec.primary_metric, counts_toward_mpe=spec.counts_toward_mpe,
        counts_toward_hand_mpe=spec.counts_toward_hand_mpe,
    )
    try:
        candidate.clean()
    except ValidationError as exc:
        raise BenchmarkImportError(" ".join(f"{field}: {' '.join(messages)}" for field, messages in exc.message_dict.items())) from None
    return protocol


def import_ground_truth(gt_file: str | os.PathLike, spec: BenchmarkSpec, images_dir: str | os.PathLike | None = None,
                        inputs_manifest: dict | None = None) -> Benchmark:
    """Validate ``gt_file`` and (re)create the benchmark ``spec.slug`` with its splits. Idempotent.

    ``inputs_manifest`` (ehps_client.inputs, from the importer) must list the GT's ids in order; without one the
    benchmark gets an ids-only manifest (the host publishes where its images are)."""
    from ehps_client.inputs import build_manifest, manifest_ids, write_manifest
    from evaluator.formats import FormatError

    protocol = validated_protocol(spec)
    try:
        gt = protocol.load_gt(gt_file)
    except FormatError as exc:
        raise BenchmarkImportError(f"Ground truth rejected (protocol {protocol.name!r}): {exc}") from None
    split_names = gt.split_names
    unknown_hidden = sorted(set(spec.hidden_splits) - set(split_names))
    if unknown_hidden:
        raise BenchmarkImportError(f"Hidden split(s) {unknown_hidden} not in the GT splits {split_names}.")
    unknown_public = sorted(set(spec.public_gt_splits) - set(split_names))
    if unknown_public:
        raise BenchmarkImportError(f"Public-GT split(s) {unknown_public} not in the GT splits {split_names}.")
    hidden = set(spec.hidden_splits)
    if not hidden and not spec.allow_all_public:
        raise BenchmarkImportError(
            f"Every split ({', '.join(split_names)}) would be public: results on it show at once to everyone. Name the "
            "held-out split(s) with --hidden-splits, or say --all-public if the GT of every split is public anyway.")
    ranking = choose_ranking_split(split_names, hidden, spec.ranking_split)
    counts = {name: int((gt.splits == name).sum()) for name in split_names}
    ids, splits = np.array(gt.sample_ids), np.array(gt.splits)
    del gt  # release any memmap before replacing the file it may point to
    if inputs_manifest is None:
        from evaluator.importers.base import IDS_ONLY_NOTE

        inputs_manifest = build_manifest(ids, notes=[IDS_ONLY_NOTE])
    elif manifest_ids(inputs_manifest).tolist() != ids.astype(str).tolist():
        raise BenchmarkImportError("The inputs manifest does not list the ground truth's sample ids in order.")

    folder = gt_folder(spec.slug)
    # Each file is replaced whole (readers never see half of one); GT to the ground-truth store, the public id
    # lists to the private store the web reads.
    with tempfile.TemporaryDirectory(prefix="ehps-import-") as tmp:
        tmp_path = Path(tmp)
        np.save(tmp_path / IDS_NAME, ids.astype(str))
        np.save(tmp_path / SPLITS_NAME, splits.astype(str))
        # the keys the protocol needs beyond its layout, for `ehps check` offline (ehps_client.check)
        required = {"required_prediction_keys": list(protocol.required_prediction_keys)}
        write_manifest(tmp_path / INPUTS_NAME, inputs_manifest, benchmark=spec.slug,
                       **(required if protocol.required_prediction_keys else {}))
        digest = file_sha256(Path(gt_file))
        put_file(GROUND_TRUTH, f"{folder}/{GT_NAME}", Path(gt_file))
        for name in (IDS_NAME, SPLITS_NAME, INPUTS_NAME):
            put_file(PRIVATE, f"{folder}/{name}", tmp_path / name)

    images_path = ""
    if images_dir is not None:
        images_path = import_images(images_dir, spec.slug)

    with transaction.atomic():  # one transaction: the score refresh its saves schedule runs once, after commit
        benchmark, _ = Benchmark.objects.update_or_create(
            slug=spec.slug,
            defaults=dict(
                name=spec.name, description=spec.description, paper_url=spec.paper_url, data_url=spec.data_url,
                primary_metric=spec.primary_metric, counts_toward_mpe=spec.counts_toward_mpe,
                counts_toward_hand_mpe=spec.counts_toward_hand_mpe, num_samples=len(ids),
                protocol=spec.protocol, protocol_options=spec.protocol_options, gt_parts=list(spec.gt_parts),
                gt_path=f"{gt_folder(spec.slug)}/{GT_NAME}", gt_sha256=digest, display_order=spec.display_order,
                **({"images_path": images_path} if images_path else {}),
            ),
        )
        benchmark.splits.exclude(name__in=split_names).delete()
        for name in split_names:
            Split.objects.update_or_create(
                benchmark=benchmark, name=name,
                defaults={"num_samples": counts[name], "is_revealed": name not in hidden, "is_ranking": name == ranking,
                          "public_ground_truth": name in spec.public_gt_splits},
            )
    return benchmark


def _stored_files(slug: str) -> list[tuple[str, str]]:
    folder = gt_folder(slug)
    return [(GROUND_TRUTH, f"{folder}/{GT_NAME}"), *((PRIVATE, f"{folder}/{n}") for n in (IDS_NAME, SPLITS_NAME, INPUTS_NAME))]


def _save_copy(kind: str, name: str, copy: Path) -> bool:
    """Keep the stored file's current content at ``copy``; False when there is no such file."""
    try:
        if is_local(kind):
            try:
                os.link(local_path(kind, name), copy)
                return True
            except FileNotFoundError:
                raise
            except OSError:  # another file system: copied below
                pass
        with open_file(kind, name) as src, open(copy, "wb") as out:
            shutil.copyfileobj(src, out, 1 << 20)
        return True
    except FileNotFoundError:
        return False


@contextmanager
def restorable(slug: str) -> Iterator[None]:
    """Put the benchmark's stored GT and public id lists back as they were if the block raises.

    An import writes its files before the database commits; with this around both, a failure anywhere (a store,
    the commit, a later check) leaves the benchmark as it was: old files, old rows (the transaction rolls back).
    On disk the saved copies are hard links (``put_file`` replaces files by rename, so a link keeps the old
    content for free); elsewhere they are copies.
    """
    with tempfile.TemporaryDirectory(prefix="ehps-restore-", dir=private_root()) as tmp:
        saved: dict[tuple[str, str], Path | None] = {}
        for i, (kind, name) in enumerate(_stored_files(slug)):
            copy = Path(tmp) / str(i)
            # None: a new benchmark, the file is removed again
            saved[(kind, name)] = copy if _save_copy(kind, name, copy) else None
        try:
            yield
        except BaseException:
            for (kind, name), copy in saved.items():
                if copy is None:
                    delete_file(kind, name)
                else:
                    put_file(kind, name, copy)
            raise


def import_images(images_dir: str | os.PathLike, slug: str) -> str:
    """Copy a runner input folder (manifest.json + images/) to images/<slug>/; returns its relative path."""
    source = Path(images_dir)
    if not (source / "manifest.json").is_file():
        raise BenchmarkImportError(f"{source} has no manifest.json (expected the model input folder: manifest.json + images/).")
    relative = f"images/{slug}"
    if is_local(GROUND_TRUTH):  # a whole folder swapped at once: a run never sees half old, half new images
        target = private_root() / relative
        staging = target.with_name(f".{slug}.importing")
        shutil.rmtree(staging, ignore_errors=True)
        shutil.copytree(source, staging)
        make_private(staging)  # model runs copy the images into their sandbox; nobody else reads them here
        shutil.rmtree(target, ignore_errors=True)
        staging.rename(target)
    else:
        delete_prefix(GROUND_TRUTH, relative)
        put_folder(GROUND_TRUTH, relative, source)
    return relative
