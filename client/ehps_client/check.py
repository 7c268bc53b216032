"""The offline prediction checker (``ehps check``; ``python -m evaluator check`` is the same): the upload checks,
without ground truth.

NumPy only. A predictions file passes here exactly when the site's own checks pass (ehps_client.formats, and
ehps_client.multiperson for a multi-person file of whole images, are the one implementation of both): keys, shapes, dtypes, finiteness and, given the benchmark's public sample-id list, ids
that are missing or unknown. Takes one ``.npz`` or the multi-benchmark ``.zip`` of ``<benchmark slug>.npz`` the
site accepts.
"""
from __future__ import annotations

import os
import shutil
import tempfile
import zipfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import numpy as np

from .formats import FormatError, SampleSet, bundle_slugs, load_sample_set, match_samples
from .multiperson import IMAGE_IDS, check_prediction_images, load_person_set

TRANSPORT: httpx.BaseTransport | None = None  # tests answer the server's requests in-process


class CheckError(Exception):
    """The check could not run (no sample-id list, an unknown benchmark, a zip the site would refuse)."""


@dataclass
class CheckReport:
    label: str  # the file, or zip/member
    num_samples: int = 0
    layout: str = ""  # "params" or "vertices"
    ids_checked: int | None = None  # benchmark ids the file was matched against
    problems: list[str] = field(default_factory=list)
    images: int | None = None  # a multi-person file: the images its people are in (num_samples counts people)

    @property
    def ok(self) -> bool:
        return not self.problems


def read_sample_ids(path: str | os.PathLike) -> np.ndarray:
    """One id a line (the benchmark page's ``sample_ids.txt``; blank lines ignored), or the ids of its inputs
    manifest (``<slug>-inputs.json``, ehps_client.inputs)."""
    return read_expected(path)[0]


def read_expected(path: str | os.PathLike) -> tuple[np.ndarray, tuple[str, ...]]:
    """The ids of ``read_sample_ids`` and the prediction keys the benchmark requires beyond its layout's own (an
    inputs manifest's ``required_prediction_keys``; none from an id list), so the check refuses what the site does."""
    if Path(path).suffix == ".json":
        from .inputs import manifest_ids, manifest_required_keys, read_manifest

        manifest = read_manifest(path)
        return manifest_ids(manifest), manifest_required_keys(manifest)
    return _ids(Path(path).read_text(encoding="utf-8")), ()


def _ids(text: str) -> np.ndarray:
    return np.array([s.strip() for s in text.splitlines() if s.strip()], dtype=str)


def fetch_sample_ids(slug: str, server: str, timeout: float = 30.0) -> np.ndarray:
    """The public sample-id list of benchmark ``slug``: ``./<slug>-sample_ids.txt`` when present
    (downloaded from the benchmark page), else fetched from ``server``."""
    local = Path(f"{slug}-sample_ids.txt")
    if local.is_file():
        return read_sample_ids(local)
    url = f"{server.rstrip('/')}/benchmarks/{slug}/sample_ids.txt"
    try:
        with httpx.Client(timeout=timeout, transport=TRANSPORT) as http:
            response = http.get(url)
    except httpx.HTTPError as exc:
        raise CheckError(f"cannot fetch the sample ids of benchmark '{slug}' from {url} ({exc}); download "
                         f"{slug}-sample_ids.txt from the benchmark page and pass --sample-ids FILE") from None
    if response.status_code == 404:
        if response.headers.get("content-type", "").startswith("text/plain"):  # the site's own reason, e.g. models only
            raise CheckError(response.text.strip())
        raise CheckError(f"benchmark '{slug}' does not exist on {server} (its page lists the benchmarks)")
    if not response.is_success:  # a redirect included: a login page is not an id list
        raise CheckError(f"cannot fetch the sample ids of benchmark '{slug}' from {url} (HTTP {response.status_code})")
    return _ids(response.text)


def check_predictions(path: str | os.PathLike, sample_ids: np.ndarray | None = None, label: str | None = None,
                      required: tuple[str, ...] = ()) -> CheckReport:
    """One predictions .npz, against ``sample_ids`` when given (the site's matcher: every id once, none unknown);
    ``required``: keys the benchmark needs beyond a multi-person file's own (``read_expected``)."""
    report = CheckReport(label or Path(path).name)
    if _is_multiperson(path):
        return _check_people(path, sample_ids, report, required)
    try:
        pred = load_sample_set(path, name=report.label, role="pred")
        report.num_samples, report.layout = len(pred), pred.kind
        if sample_ids is not None:
            report.ids_checked = len(sample_ids)
            expected = np.asarray(sample_ids, dtype=str)
            match_samples(SampleSet(name="benchmark", sample_ids=expected, splits=expected, arrays={}), pred)
    except FormatError as exc:
        report.problems.append(str(exc).removeprefix(f"{report.label}: "))
    return report


def _is_multiperson(path: str | os.PathLike) -> bool:
    """A multi-person file (whole images: ``image_ids`` per person) rather than one prediction per sample id."""
    try:
        with zipfile.ZipFile(path) as archive:
            return f"{IMAGE_IDS}.npy" in archive.namelist()
    except (zipfile.BadZipFile, OSError):
        return False


def _check_people(path: str | os.PathLike, image_ids: np.ndarray | None, report: CheckReport,
                  required: tuple[str, ...] = ()) -> CheckReport:
    """The site's checks of a multi-person file: keys (``required`` too), shapes, finiteness and, given the
    benchmark's public image ids, none unknown (an image may have no people predicted: that is scored, not refused)."""
    try:
        pred = load_person_set(path, role="pred", name=report.label, required=required)
        report.num_samples, report.layout, report.images = len(pred), pred.kind, len(pred.images)
        if image_ids is not None:
            report.ids_checked = len(image_ids)
            check_prediction_images(np.asarray(image_ids, dtype=str), pred)
    except FormatError as exc:
        report.problems.append(str(exc).removeprefix(f"{report.label}: "))
    return report


@contextmanager
def _bundle_members(path: Path) -> Iterator[list[tuple[str, Path]]]:
    """(benchmark slug, extracted member) of a multi-benchmark .zip, under the site's member rules."""
    with zipfile.ZipFile(path) as archive, tempfile.TemporaryDirectory(prefix="ehps-check-") as folder:
        try:
            slugs = bundle_slugs(archive.namelist(), path.name)
        except FormatError as exc:
            raise CheckError(str(exc)) from None
        members = []
        for slug in slugs:
            target = Path(folder) / f"{slug}.npz"
            with archive.open(f"{slug}.npz") as member, open(target, "wb") as out:
                shutil.copyfileobj(member, out, 1024 * 1024)
            members.append((slug, target))
        yield members


def _is_bundle(path: Path) -> bool:
    """A zip whose members are not .npy arrays (an .npz is a zip of .npy members)."""
    try:
        with zipfile.ZipFile(path) as archive:
            names = archive.namelist()
    except (zipfile.BadZipFile, OSError):
        return False  # not a zip at all: the npz loader names the problem
    return bool(names) and not all(n.endswith(".npy") for n in names)


def check_file(path: str | os.PathLike, benchmarks: list[str], sample_ids_file: str | os.PathLike | None = None,
               server: str = "") -> list[CheckReport]:
    """Check a predictions .npz or a multi-benchmark .zip; one report per predictions file.

    ``benchmarks``: for an .npz at most one slug (ids then come from ./SLUG-sample_ids.txt or ``server``);
    for a .zip, optional, and then the slugs its members must name, as the site requires.
    """
    path = Path(path)
    if not path.is_file():
        raise CheckError(f"no such file: {path}")
    given_ids, required = read_expected(sample_ids_file) if sample_ids_file is not None else (None, ())
    if not _is_bundle(path):
        if len(benchmarks) > 1:
            raise CheckError(f"{path.name} is a single .npz: name one benchmark for it (a .zip of <benchmark>.npz "
                             "files holds several)")
        ids = given_ids if given_ids is not None else fetch_sample_ids(benchmarks[0], server) if benchmarks else None
        return [check_predictions(path, ids, required=required)]
    if given_ids is not None:
        raise CheckError(f"{path.name} holds several benchmarks: --sample-ids applies to a single .npz (the zip's "
                         "members are matched against their own benchmark's ids)")
    with _bundle_members(path) as members:
        named = sorted(slug for slug, _ in members)
        if benchmarks and sorted(set(benchmarks)) != named:
            raise CheckError(f"{path.name} holds predictions for {', '.join(named)} but you named "
                             f"{', '.join(sorted(set(benchmarks)))}; name none for a zip, or make them match")
        return [check_predictions(member, fetch_sample_ids(slug, server), label=f"{path.name}/{slug}.npz")
                for slug, member in members]


def run_check(path: str | os.PathLike, benchmarks: list[str], sample_ids_file: str | os.PathLike | None,
              server: str, say: Callable[[str], None], complain: Callable[[str], None]) -> int:
    """The command: 0 when every file passes, 1 when one has problems, 2 when the check could not run."""
    try:
        reports = check_file(path, benchmarks, sample_ids_file, server)
    except (CheckError, OSError) as exc:
        complain(f"error: {exc}")
        return 2
    for report in reports:
        for problem in report.problems:
            complain(f"error: {report.label}: {problem}")
        if report.ok:
            unchecked = " (ids not checked: no --benchmark/--sample-ids)"
            if report.images is not None:
                against = (f", every image one of the benchmark's {report.ids_checked}" if report.ids_checked is not None
                           else unchecked)
                say(f"OK: {report.label} holds {report.num_samples} people in {report.images} images as "
                    f"{report.layout}{against}")
                continue
            against = (f", all {report.ids_checked} benchmark ids present" if report.ids_checked is not None
                       else unchecked)
            say(f"OK: {report.label} holds {report.num_samples} samples as {report.layout}{against}")
    return 0 if all(r.ok for r in reports) else 1
