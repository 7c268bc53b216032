"""agora-multiperson: whole images with several people, AGORA-test / BEDLAM-test style.

Restates ``pixelite1201/agora_evaluation``: matching (``matching.match_2d_greedy``, restated in
evaluator.multiperson_matching), per-match errors (``calculate_v2v_error.compute_errors_joints_verts``
and ``compute_errors_matched_from_df_smplx_hf``) and the summary (``compute_average_error.compute_prf1``
and ``compute_avg_error``). Every quirk is listed in docs/metrics.md ("Multi-person images").

Scoring returns exact, order-free sums (evaluator.metric_sums.MetricSums, one row per GT person plus
one per image for false positives), so any sharding by image gives bit-identical results;
``summarize`` turns merged sums into the printed figures. Option ``variant="bedlam"`` follows the
BEDLAM leaderboard where its docs differ: predictions carry vertices and 3D joints, no kid rows.

How the server uses it (the Protocol interface of evaluator.protocols.base; nothing in the pipeline names this
protocol):

- import: ``import_benchmark --format agora-multiperson`` (evaluator.importers.agora_multiperson) or any GT npz
  passing ``load_gt``; a benchmark's samples are its images (``PersonSet.sample_ids``), so the public id list, the
  shards (``[start, stop)`` rows of ``gt.images``, never half an image) and ``num_samples`` count images.
- upload / ``ehps check``: ``prediction_keys`` and ``check_prediction_file`` against the public image ids (the checks
  live in ehps_client.multiperson); a model run's ``predictions.npz`` must pass the same ``load_predictions``.
- worker: ``load_predictions`` → ``prediction_index`` (None: people are paired per image while scoring) →
  ``shard_scores`` (sums per split; no per-sample rows, ``per_sample_rows`` False).
- finalize: ``summarize`` → BenchmarkResult.metrics (flat numbers: P/R/F1 rounded and ``*_raw``, errors, kids,
  ``<dim>_bin<b>_<value>`` breakdowns); ``ranking_metrics`` (FB-NMVE default) and ``in_mpe`` False (never MPE).
- pages: ``result_labels`` (board columns), ``subsets`` (all people / kids rows), ``breakdowns`` (the three plots),
  ``prediction_layout`` "people" (the how-to-submit section).
"""
from __future__ import annotations

import os
from typing import Any, Iterator

import numpy as np

from ..metric_names import MetricLabel
from ..metric_sums import MetricSums
from ..multiperson_format import (IMAGE_IDS, JOINTS2D, JOINTS3D, SCORES, VERTICES,
                                  PersonSet, check_prediction_images, load_person_set)
from ..multiperson_matching import match_image
from ..smplx_params import PARAM_SIZES
from .base import WHOLE_IMAGE, OptionSpec, Progress, Protocol

MM = 1e3
MAX_OCCLUSION = 90.0
# Official bin edges (compute_average_error.py): right-closed intervals, values outside are dropped.
OCC_EDGES = np.array([-1, 10, 20, 30, 40, 50, 60, 70, 80], dtype=np.float64)
ORI_EDGES = np.array([-1, 45, 90, 135, 180, 225, 270, 315, 360], dtype=np.float64)
X_BINS = 10  # of width/20 px from the image centre (192 px at 3840 wide, 64 px at 1280, as official)
BREAKDOWNS = {"occlusion": len(OCC_EDGES) - 1, "orientation": len(ORI_EDGES) - 1, "x_location": X_BINS}

# Joint rows of the official 127-joint layout (allSmplJoints3d) per part; the first is the root.
PART_JOINTS = {
    "body": np.arange(22),
    "lhand": np.r_[20, 25:40],
    "rhand": np.r_[21, 40:55],
    "face": np.r_[12, 76:127],
}
PARTS = tuple(PART_JOINTS)
PART_GROUPS = {"body": "body", "lhand": "hands", "rhand": "hands", "face": "face"}
PART_NAMES = {"body": "body", "lhand": "left hand", "rhand": "right hand", "face": "face"}
RATES = ("f1", "precision", "recall")
# The columns of the subset rows (all people, kids) on a submission's page.
SUBSET_KEYS = ("true_positives", "misses", "precision", "recall", "f1", "fb_nmve", "fb_nmje", "body_nmve",
               "body_nmje", "fb_mve", "fb_mpjpe")
BODY_VERTS_FILE = "body_verts_smplx.npy"  # optional AGORA body vertex ids in MODEL_DIR/smplx


def _person_keys(prefix: str = "") -> list[str]:
    keys = [f"{prefix}gt", f"{prefix}miss"]
    keys += [f"{prefix}{part}_{m}" for part in PARTS for m in ("mpjpe", "mve")]
    return keys


def _bin_keys() -> list[str]:
    return [f"{dim}{b}_{m}" for dim, n in BREAKDOWNS.items() for b in range(n) for m in ("n", "miss", "mpjpe", "mve")]


def bin_labels(dim: str) -> list[str]:
    if dim == "occlusion":
        return [f"{int(max(lo, 0))}-{int(hi)} %" for lo, hi in zip(OCC_EDGES[:-1], OCC_EDGES[1:])]
    if dim == "orientation":
        return [f"{int(max(lo, 0))}-{int(hi)}°" for lo, hi in zip(ORI_EDGES[:-1], ORI_EDGES[1:])]
    return [f"{5 * b}-{5 * (b + 1)} % of width" for b in range(X_BINS)]


def right_closed_bin(values: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """``pandas.cut`` bins: i where edges[i] < v <= edges[i+1]; -1 outside."""
    idx = np.searchsorted(edges, values, side="left") - 1
    return np.where((values > edges[0]) & (values <= edges[-1]), idx, -1)


def x_location_bin(x: np.ndarray, width: np.ndarray) -> np.ndarray:
    """Official x bins: |x of GT joint 0 - width/2| in right-closed bins of width/20 from -1 to width/2
    (the official edges for 3840 and 1280 wide images); -1 beyond (a person outside the image)."""
    step = width / 20
    b = sum((x > k * step).astype(np.int64) for k in range(1, X_BINS + 1))
    return np.where(x <= X_BINS * step, b, -1)


def orientation(yaw: np.ndarray, cam_yaw: np.ndarray) -> np.ndarray:
    """The official ``(Yaw - 90 + 22.5 - camYaw) % 360`` in degrees."""
    return (yaw - 90 + 22.5 - cam_yaw) % 360


class AgoraMultiPerson(Protocol):
    name = "agora-multiperson"
    version = "1"
    title = "Multi-person images (AGORA / BEDLAM test: matching, F1-normalised errors)"
    source = ("agora_evaluation matching.py match_2d_greedy, calculate_v2v_error.py, "
              "compute_average_error.py compute_prf1/compute_avg_error")
    gt_schema = "agora-multiperson"
    parts = frozenset({"body", "hands", "face"})
    primary_metric = "fb_nmve"
    option_specs = {"variant": OptionSpec("agora", ("agora", "bedlam"), doc="whose leaderboard rules")}

    in_mpe = False  # ranks by F1-normalised errors of whole images: not comparable with per-crop MPE
    per_sample_rows = False  # results are aggregates of matched people; nothing per image is stored
    prediction_layout = "people"
    model_input = WHOLE_IMAGE  # models get whole images, no boxes, and report every person they find

    def configure(self) -> None:
        self.kids = self.options["variant"] == "agora"
        # BEDLAM scores vertices and the 3D joints as given (no SMPL-X params, no kid model)
        self.required_prediction_keys = () if self.kids else (VERTICES, JOINTS3D)
        self.metrics = tuple(_person_keys() + (_person_keys("kid_") if self.kids else []) + _bin_keys() + ["fp"])

    # --- what results hold: summarize's figures --------------------------------------------------
    @property
    def ranking_metrics(self) -> tuple[str, ...]:
        """The printed (official rounding) error figures; FB-NMVE by default."""
        prefixes = ("", "kid_") if self.kids else ("",)
        keys = [f"{p}{k}" for p in prefixes for k in ("fb_nmve", "fb_nmje", "body_nmve", "body_nmje", "fb_mve", "fb_mpjpe")]
        keys += [f"{p}{part}_{m}" for p in prefixes for part in PARTS for m in ("mve", "mpjpe")]
        return tuple(keys)

    def result_labels(self) -> dict[str, MetricLabel]:
        """Board columns: detection rates, then F1-normalised and plain errors (kids in the submission's kids row)."""
        labels = {k: MetricLabel(k.upper() if k == "f1" else k.capitalize(), "all", False, True, "") for k in RATES}
        for key, label, part in (("fb_nmve", "FB-NMVE", "all"), ("fb_nmje", "FB-NMJE", "all"),
                                 ("body_nmve", "NMVE (body)", "body"), ("body_nmje", "NMJE (body)", "body"),
                                 ("fb_mve", "FB-MVE", "all"), ("fb_mpjpe", "FB-MPJPE", "all")):
            labels[key] = MetricLabel(label, part, False)
        for part in PARTS:
            for m, name in (("mve", "MVE"), ("mpjpe", "MPJPE")):
                labels[f"{part}_{m}"] = MetricLabel(f"{name} ({PART_NAMES[part]})", PART_GROUPS[part], False)
        if self.kids:
            labels["kid_f1"] = MetricLabel("F1 (kids)", "all", False, True, "")
            labels["kid_fb_nmve"] = MetricLabel("FB-NMVE (kids)", "all", False)
        return labels

    # --- files -----------------------------------------------------------------------------
    def load_gt(self, source: str | os.PathLike, name: str | None = None) -> PersonSet:
        return load_person_set(source, role="gt", name=name)

    def prediction_keys(self) -> frozenset[str]:
        return frozenset({IMAGE_IDS, JOINTS2D, VERTICES, JOINTS3D, SCORES, *PARAM_SIZES})

    def check_prediction_file(self, source: Any, sample_ids: np.ndarray, name: str) -> int:
        """The upload check against the public image ids: returns the number of predicted people."""
        return len(self._checked_predictions(source, np.asarray(sample_ids), name))

    def load_predictions(self, source: Any, gt: PersonSet, name: str | None = None) -> PersonSet:
        return self._checked_predictions(source, gt.images, name)

    def _checked_predictions(self, source: Any, images: np.ndarray, name: str | None) -> PersonSet:
        pred = load_person_set(source, role="pred", name=name, required=self.required_prediction_keys)
        check_prediction_images(images, pred)
        return pred

    def prediction_index(self, gt: PersonSet, pred: PersonSet) -> None:
        """No pairing by id: people are matched per image while scoring; only unknown image ids are refused."""
        check_prediction_images(gt.images, pred)
        return None

    def shard_scores(self, models: Any, gt: PersonSet, pred: PersonSet, pred_index: None, start: int, stop: int,
                     chunk_size: int, progress: Progress | None = None,
                     threads: int = 1) -> tuple[dict[str, MetricSums], None]:
        """Images ``[start, stop)`` of ``gt.images``: a shard never splits an image (one chunk thread)."""
        return self.score(models, gt, pred, np.arange(start, stop), chunk_size=chunk_size, progress=progress), None

    # --- scoring ---------------------------------------------------------------------------
    def score(self, models: Any, gt: PersonSet, pred: PersonSet, gt_index: np.ndarray | None = None,
              pred_index: Any = None, chunk_size: int = 64, progress: Progress | None = None,
              threads: int = 1) -> dict[str, MetricSums]:
        """{split: MetricSums} over GT images ``gt_index`` (rows of ``gt.images``; default all)."""
        sums: dict[str, MetricSums] = {}
        for split, values, images in self._chunks(models, gt, pred, gt_index, chunk_size, progress):
            s = sums.setdefault(split, MetricSums.empty(self.metrics))
            before = s.num_samples
            s.add(values["person"]).add(values["image"])
            s.samples = before + images  # samples = images, not people
        return sums

    def _chunks(self, models: Any, gt: PersonSet, pred: PersonSet, gt_index, chunk_size: int,
                progress: Progress | None) -> Iterator[tuple[str, dict, int]]:
        check_prediction_images(gt.images, pred)
        image_index = np.arange(len(gt.images)) if gt_index is None else np.asarray(gt_index, dtype=np.int64)
        gt_rows, pred_rows = gt.rows_by_image(), pred.rows_by_image()
        geometry = _Geometry(models)
        empty = np.zeros(0, dtype=np.int64)
        for start in range(0, len(image_index), chunk_size):
            chunk = image_index[start: start + chunk_size]
            for split in np.unique(gt.splits[chunk]):
                images = [str(gt.images[i]) for i in chunk if gt.splits[i] == split]
                yield str(split), self._score_images(geometry, gt, pred, images, gt_rows, pred_rows, empty), len(images)
            if progress is not None:
                progress(min(start + chunk_size, len(image_index)), len(image_index))

    def _score_images(self, geometry: "_Geometry", gt: PersonSet, pred: PersonSet, images: list[str],
                      gt_rows: dict, pred_rows: dict, empty: np.ndarray) -> dict[str, dict[str, np.ndarray]]:
        meta = gt.meta
        persons, matched_pred, has_pred, fps = [], [], [], []
        for image in images:
            g, p = gt_rows.get(image, empty), pred_rows.get(image, empty)
            occ = meta["occlusion"][g]
            eligible = meta["valid"][g] & (occ >= 0) & (occ <= MAX_OCCLUSION)
            m = match_image(pred.arrays[JOINTS2D][p], gt.arrays[JOINTS2D][g], eligible)
            to_pred = m.gt_to_pred(len(g))
            persons.append(g[eligible])
            picked = to_pred[eligible]
            matched_pred.append(np.where(picked >= 0, p[np.maximum(picked, 0)], -1) if len(p) else picked)
            has_pred.append(np.full(int(eligible.sum()), len(p) > 0))
            fps.append(len(m.false_positives))
        rows = np.concatenate(persons) if persons else np.zeros(0, np.int64)
        match = np.concatenate(matched_pred) if persons else np.zeros(0, np.int64)
        has_pred = np.concatenate(has_pred) if persons else np.zeros(0, bool)
        hit = match >= 0
        errors = geometry.errors(gt, rows[hit], pred, match[hit])
        kid = meta["kid"][rows]
        values: dict[str, np.ndarray] = {"gt": np.ones(len(rows)), "miss": (~hit).astype(np.float64)}
        for key, err in errors.items():
            part = key.split("_")[0]
            full = np.full(len(rows), np.nan)
            full[hit] = err
            if part != "body":  # official: hands/face average every valid GT of an image with predictions, misses as 0
                full[~hit & has_pred] = 0.0
            values[key] = full
        if self.kids:
            for key in list(values):
                values[f"kid_{key}"] = np.where(kid, values[key], np.nan)
        values.update(_breakdown_values(meta, rows, gt.arrays[JOINTS2D], hit, values))
        return {"person": values, "image": {"fp": np.asarray(fps, dtype=np.float64)}}

    # --- summary ---------------------------------------------------------------------------
    def summarize(self, sums: MetricSums) -> dict[str, Any]:
        """The official figures (rounded as the official server prints them) and ``*_raw`` unrounded ones."""
        s, c = sums.sums, sums.counts
        mean = {k: (s[k] / c[k] if c.get(k) else None) for k in s}
        fp = int(round(s.get("fp", 0.0)))
        out: dict[str, Any] = {"images": sums.num_samples, "false_positives": fp}
        groups = [("", int(s["gt"]), int(s["miss"]))]
        if self.kids:
            groups.append(("kid_", int(s["kid_gt"]), int(s["kid_miss"])))
        f1_official = f1_raw = None
        for prefix, count, miss in groups:
            prf = prf1(count, miss, fp)
            out.update({f"{prefix}{k}": v for k, v in prf.items()})
            out[f"{prefix}true_positives"], out[f"{prefix}misses"] = count - miss, miss
            if not prefix:
                f1_official, f1_raw = prf["f1"], prf["f1_raw"]
            # official quirk: kid body errors use kid F1, kid full-body errors the overall F1
            out.update(_error_figures(prefix, mean, prf["f1"], prf["f1_raw"], f1_official, f1_raw))
        out.update(breakdown_figures(mean, c))
        return out

    def breakdowns(self, figures: dict[str, Any]) -> dict[str, list[dict[str, Any]]]:
        """The three breakdowns of a stored result (``summarize``'s flat ``<dim>_bin<b>_<value>`` keys) as rows
        ``{"bin": label, "people", "miss_rate", "mpjpe", "mve", "nmje", "nmve"}`` per bin, for tables and plots."""
        return {dim: [{"bin": label, **{v: figures.get(f"{dim}_bin{b}_{v}") for v in BIN_VALUES}}
                      for b, label in enumerate(bin_labels(dim))] for dim in BREAKDOWNS}

    def subsets(self, figures: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
        """Rows "All people" and (AGORA) "Kids": {key without the kid_ prefix: value} of SUBSET_KEYS, plus
        ``<key>_raw`` (unrounded) for the figures the official server prints rounded (P/R/F1, errors)."""
        prefixes = [("All people", "")] + ([("Kids", "kid_")] if self.kids else [])
        return [(label, {name: figures.get(prefix + name) for k in SUBSET_KEYS
                         for name in (k, f"{k}_raw") if name == k or prefix + name in figures})
                for label, prefix in prefixes]


def prf1(count: int, miss: int, fp: int) -> dict[str, float | None]:
    """``compute_prf1``: 2-decimal Python rounding (None where the official code would divide by zero)."""
    if count == 0:
        zero = {"precision": 0, "recall": 0, "f1": 0}
        return {**zero, **{f"{k}_raw": 0.0 for k in zero}}
    tp, fn = count - miss, miss
    raw = {"f1": tp / (tp + 0.5 * (fp + fn)), "recall": tp / (tp + fn),
           "precision": tp / (tp + fp) if tp + fp else None}
    out: dict[str, float | None] = {k: (round(v, 2) if v is not None else None) for k, v in raw.items()}
    out.update({f"{k}_raw": v for k, v in raw.items()})
    return out


def _round1(value: float | None) -> float | None:
    # official: round() of a numpy float64 (numpy's rounding, not Python's)
    return None if value is None else float(round(np.float64(value), 1))


def _div(a: float | None, b: float | None) -> float | None:
    return None if a is None or not b else a / b


def _error_figures(prefix: str, mean: dict, f1: float | None, f1_raw: float | None,
                   overall_f1: float | None, overall_f1_raw: float | None) -> dict[str, float | None]:
    out: dict[str, float | None] = {}
    for m, norm in (("mpjpe", "nmje"), ("mve", "nmve")):
        raw = {part: mean.get(f"{prefix}{part}_{m}") for part in PARTS}
        official = {part: _round1(v) for part, v in raw.items()}
        for part in PARTS:
            out[f"{prefix}{part}_{m}"], out[f"{prefix}{part}_{m}_raw"] = official[part], raw[part]
        fb = fb_raw = None
        if all(v is not None for v in raw.values()):
            fb = _round1(official["body"] + (1 / 3) * official["lhand"] + (1 / 3) * official["rhand"]
                         + (1 / 3) * official["face"])
            fb_raw = raw["body"] + (raw["lhand"] + raw["rhand"] + raw["face"]) / 3
        out[f"{prefix}fb_{m}"], out[f"{prefix}fb_{m}_raw"] = fb, fb_raw
        out[f"{prefix}body_{norm}"] = _round1(_div(official["body"], f1))
        out[f"{prefix}body_{norm}_raw"] = _div(raw["body"], f1_raw)
        out[f"{prefix}fb_{norm}"] = _round1(_div(fb, overall_f1))
        out[f"{prefix}fb_{norm}_raw"] = _div(fb_raw, overall_f1_raw)
    return out


BIN_VALUES = ("people", "miss_rate", "mpjpe", "mve", "nmje", "nmve")


def breakdown_figures(mean: dict, counts: dict) -> dict[str, float | int | None]:
    """Per bin (flat keys ``<dim>_bin<b>_<value>``, so a stored result stays {key: number}): people, miss rate,
    body MPJPE/MVE over matches, and the official normalised ``create_normalized_df`` values
    (mean / (1 - miss rate))."""
    out: dict[str, float | int | None] = {}
    for dim, n in BREAKDOWNS.items():
        for b in range(n):
            k, key = f"{dim}{b}_", f"{dim}_bin{b}_"
            miss_rate = mean.get(k + "miss")
            out[key + "people"], out[key + "miss_rate"] = counts.get(k + "n", 0), miss_rate
            for m, norm in (("mpjpe", "nmje"), ("mve", "nmve")):
                out[key + m] = mean.get(k + m)
                out[key + norm] = _div(out[key + m], None if miss_rate is None else 1 - miss_rate)
    return out


def _breakdown_values(meta: dict, rows: np.ndarray, joints2d: np.ndarray, hit: np.ndarray,
                      values: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    width = meta["image_width"][rows]
    bins = {
        "occlusion": right_closed_bin(meta["occlusion"][rows], OCC_EDGES),
        "orientation": right_closed_bin(orientation(meta["yaw"][rows], meta["cam_yaw"][rows]), ORI_EDGES),
        "x_location": x_location_bin(np.abs(joints2d[rows, 0, 0] - width / 2), width),
    }
    out = {}
    for dim, n in BREAKDOWNS.items():
        for b in range(n):
            inside = bins[dim] == b
            k = f"{dim}{b}_"
            out[k + "n"] = np.where(inside, 1.0, np.nan)
            out[k + "miss"] = np.where(inside, values["miss"], np.nan)
            out[k + "mpjpe"] = np.where(inside & hit, values["body_mpjpe"], np.nan)
            out[k + "mve"] = np.where(inside & hit, values["body_mve"], np.nan)
    return out


class _Geometry:
    """3D joints (official 127 layout rows) and vertices of people, and the per-part errors."""

    def __init__(self, models: Any):
        self.models = models
        self._regressor: np.ndarray | None = None
        self._vertex_sets: dict[str, np.ndarray] | None = None

    @property
    def body_model(self):
        return getattr(self.models, "smplx", self.models)

    def vertex_sets(self) -> dict[str, np.ndarray]:
        if self._vertex_sets is None:
            a = self.body_model.assets
            sets = {"lhand": a.left_hand.cpu().numpy(), "rhand": a.right_hand.cpu().numpy(), "face": a.face.cpu().numpy()}
            body_file = os.path.join(str(self.body_model.model_dir), "smplx", BODY_VERTS_FILE)
            if os.path.isfile(body_file):
                sets["body"] = np.load(body_file, allow_pickle=False).astype(np.int64)
            else:  # no AGORA body list: every vertex outside the hands and the face
                sets["body"] = np.setdiff1d(np.arange(a.regressor.shape[1]), np.concatenate(list(sets.values())))
            self._vertex_sets = sets
        return self._vertex_sets

    def regressor(self) -> np.ndarray:
        """(127, V): SMPL-X joint regressor rows 0-54 and the 51 landmark barycentric rows 76-126."""
        if self._regressor is None:
            layer = self.body_model.layer
            J = layer.J_regressor.detach().cpu().double().numpy()
            R = np.zeros((127, J.shape[1]))
            R[:55] = J
            faces = layer.faces_tensor.cpu().numpy()[layer.lmk_faces_idx.cpu().numpy()]
            bary = layer.lmk_bary_coords.detach().cpu().double().numpy()
            for i in range(len(faces)):
                np.add.at(R[76 + i], faces[i], bary[i])
            self._regressor = R
        return self._regressor

    def points(self, people: PersonSet, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(n, 127, 3) joints and (n, V, 3) vertices, float64 metres."""
        if people.kind == "vertices":
            verts = np.asarray(people.arrays[VERTICES][rows], dtype=np.float64)
        else:
            params = {k: np.asarray(v[rows], dtype=np.float32) for k, v in people.arrays.items()
                      if k not in (JOINTS2D, JOINTS3D, "scores")}
            verts = self.body_model.vertices(params).detach().cpu().double().numpy()
        if JOINTS3D in people.arrays:
            joints = np.asarray(people.arrays[JOINTS3D][rows], dtype=np.float64)
        else:
            joints = np.einsum("jv,nvc->njc", self.regressor(), verts)
        return joints, verts

    def errors(self, gt: PersonSet, gt_rows: np.ndarray, pred: PersonSet, pred_rows: np.ndarray) -> dict[str, np.ndarray]:
        """{part_mpjpe, part_mve: (n,) mm} of matched pairs, each part aligned at its root joint
        (``compute_errors_joints_verts``: body at the hip midpoint, hands at the wrist, face at the neck)."""
        out = {f"{p}_{m}": np.zeros(len(gt_rows)) for p in PARTS for m in ("mpjpe", "mve")}
        sets = self.vertex_sets()
        for start in range(0, len(gt_rows), 128):
            g, p = gt_rows[start: start + 128], pred_rows[start: start + 128]
            gj, gv = self.points(gt, g)
            pj, pv = self.points(pred, p)
            for part, joints in PART_JOINTS.items():
                if part == "body":  # official align_by_pelvis: mean of the two hip joints
                    g_root, p_root = (gj[:, 1] + gj[:, 2]) / 2, (pj[:, 1] + pj[:, 2]) / 2
                else:
                    g_root, p_root = gj[:, joints[0]], pj[:, joints[0]]
                d = (gj[:, joints] - g_root[:, None]) - (pj[:, joints] - p_root[:, None])
                out[f"{part}_mpjpe"][start: start + len(g)] = np.sqrt((d ** 2).sum(-1)).mean(1) * MM
                ids = sets[part]
                d = (gv[:, ids] - g_root[:, None]) - (pv[:, ids] - p_root[:, None])
                out[f"{part}_mve"][start: start + len(g)] = np.sqrt((d ** 2).sum(-1)).mean(1) * MM
        return out
