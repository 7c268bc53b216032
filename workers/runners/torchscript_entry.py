"""Trusted entry point run INSIDE the bubblewrap sandbox: TorchScript model archive -> predictions.npz.

Standalone on purpose (only torch, numpy, Pillow; no project imports): the sandbox sees the Python
environment read-only, this file, the model at /model, the images at /input and a writable /output.

Contract (docs/model_submissions.md): every image is cropped to its person box (centred, widened to
the 192:256 aspect ratio, scaled by 1.25, zero padding outside the image), resized to 256x192 and fed
as float32 RGB in [0, 1], batch shape (B, 3, 256, 192). The module returns a dict of tensors named
after the SMPL-X parameters (or a tuple/list in `PARAM_ORDER`), each with B rows.

Whole-image benchmarks (manifest ``"input": "whole-image"``, multi-person protocols) give no boxes: each
image is fed whole, (1, 3, H, W), and the module returns a dict with one row per person it found (any
number, 0 included): ``joints2d`` (P, 24, 2) image pixels, the SMPL-X parameters or ``vertices``, and
optionally ``scores`` (P,).
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import torch
from PIL import Image

INPUT_HW = (256, 192)
BBOX_SCALE = 1.25
# key -> per-sample shape in predictions.npz, copied from evaluator.formats: the sandbox binds no project code
PARAM_SHAPES: dict[str, tuple[int, ...]] = {
    "global_orient": (3,),
    "body_pose": (21, 3),
    "left_hand_pose": (15, 3),
    "right_hand_pose": (15, 3),
    "jaw_pose": (3,),
    "betas": (10,),
    "expression": (10,),
    "transl": (3,),
}
OPTIONAL_SHAPES: dict[str, tuple[int, ...]] = {"leye_pose": (3,), "reye_pose": (3,), "vertices": (10475, 3)}
PARAM_ORDER = tuple(PARAM_SHAPES)
WHOLE_IMAGE = "whole-image"  # the manifest's "input" for multi-person benchmarks (evaluator.protocols.base)
PERSON_SHAPES: dict[str, tuple[int, ...]] = {"joints2d": (24, 2), "scores": ()}  # whole-image outputs besides SMPL-X
MEMORY_ERROR = "memory"
# The status codes the host turns into the owner's message (workers.runners.bubblewrap.STATUS_MESSAGES).
STATUS_CODES = ("bad_input", "load_failed", "output_type", "output_count", "unknown_outputs", "not_a_tensor",
                "bad_shape", "missing_outputs", "ragged_outputs", "model_error", MEMORY_ERROR)


class RunnerError(Exception):
    """Our own diagnosis: ``code`` (one of STATUS_CODES) goes to the host; the message, which may quote what
    the model returned, goes to the log only (staff read it; the model's owner does not)."""

    def __init__(self, code: str, message: str, key: str | None = None) -> None:
        super().__init__(message)
        self.code, self.key = code, key


def load_samples(input_dir: Path) -> list[tuple[str, Path, tuple[float, float, float, float] | None]]:
    """(sample id, image path, person box) per sample; the box is None on a whole-image benchmark."""
    manifest = json.loads((input_dir / "manifest.json").read_text())
    whole = manifest.get("input") == WHOLE_IMAGE
    samples = []
    root = input_dir.resolve()
    for entry in manifest["samples"]:
        image = (input_dir / entry["image"]).resolve()
        if root not in image.parents:
            raise RunnerError("bad_input", f"sample {entry['sample_id']}: image path {entry['image']!r} leaves /input")
        box = None if whole else tuple(float(v) for v in entry["bbox_xywh"])
        samples.append((str(entry["sample_id"]), image, box))
    return samples


def crop_box(bbox: tuple[float, float, float, float]) -> tuple[float, float, float, float]:
    """(x0, y0, x1, y1) of the model's view: the box centred, widened to the input aspect, scaled."""
    x, y, w, h = bbox
    cx, cy = x + w / 2, y + h / 2
    aspect = INPUT_HW[1] / INPUT_HW[0]
    if w > aspect * h:
        h = w / aspect
    else:
        w = h * aspect
    w, h = w * BBOX_SCALE, h * BBOX_SCALE
    return cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2


def load_crop(path: Path, bbox: tuple[float, float, float, float]) -> np.ndarray:
    with Image.open(path) as img:
        crop = img.convert("RGB").transform(
            (INPUT_HW[1], INPUT_HW[0]), Image.Transform.EXTENT, crop_box(bbox), resample=Image.Resampling.BILINEAR
        )
    return np.asarray(crop, dtype=np.uint8)


def as_named_outputs(out) -> dict[str, torch.Tensor]:
    if isinstance(out, dict):
        return out
    if isinstance(out, (tuple, list)):
        if len(out) != len(PARAM_ORDER):
            raise RunnerError("output_count", f"the model returned {len(out)} tensors; expected {len(PARAM_ORDER)} "
                              f"in the order {', '.join(PARAM_ORDER)} (or a dict)")
        return dict(zip(PARAM_ORDER, out))
    raise RunnerError("output_type", f"the model returned {type(out).__name__}; expected a dict of tensors or a tuple")


def reshape_outputs(named: dict[str, torch.Tensor], batch: int,
                    extra: dict[str, tuple[int, ...]] | None = None) -> dict[str, np.ndarray]:
    shapes = {**PARAM_SHAPES, **OPTIONAL_SHAPES, **(extra or {})}
    unknown = sorted(set(named) - set(shapes))
    if unknown:
        raise RunnerError("unknown_outputs", f"the model returned unknown outputs {unknown}; known: {sorted(shapes)}")
    arrays = {}
    for key, tensor in named.items():
        if not isinstance(tensor, torch.Tensor):
            raise RunnerError("not_a_tensor", f"output {key!r} is a {type(tensor).__name__}, not a tensor")
        want = (batch, *shapes[key])
        if tensor.numel() != int(np.prod(want)):
            raise RunnerError("bad_shape", f"output {key!r} has shape {tuple(tensor.shape)}; expected {want} (any "
                              f"layout with {int(np.prod(want))} values)", key=key)
        arrays[key] = tensor.detach().reshape(want).to(device="cpu", dtype=torch.float32).numpy()
    return arrays


META_NAME = "meta.json"  # beside predictions.npz: what this script measured (workers.runners.base.read_run_meta)


def peak_memory_mb(device: str) -> float:
    """Peak memory of the run: the GPU's allocator peak on cuda, this process's resident-set peak on the CPU."""
    if device.startswith("cuda"):
        return torch.cuda.max_memory_allocated() / 2**20
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def device_name(device: str) -> str:
    return torch.cuda.get_device_name() if device.startswith("cuda") else "cpu"


def timed(model, batch: torch.Tensor, device: str):
    """The model's output and its wall time in seconds (the GPU synchronised, so queued work is counted)."""
    import time

    if device.startswith("cuda"):
        torch.cuda.synchronize()
    start = time.perf_counter()
    out = model(batch)
    if device.startswith("cuda"):
        torch.cuda.synchronize()
    return out, time.perf_counter() - start


def write_meta(output_path: Path, ms_per_image: list[float], params: int, device: str) -> None:
    """Median ms per image over every batch (the first batch was run once before, untimed: the warm-up)."""
    meta = {"ms_per_image": float(np.median(ms_per_image)) if ms_per_image else None, "params": params or None,
            "peak_memory_mb": peak_memory_mb(device), "device": device_name(device)}
    (output_path.parent / META_NAME).write_text(json.dumps(meta))


def run(model_path: Path, input_dir: Path, output_path: Path, batch_size: int, device: str) -> int:
    samples = load_samples(input_dir)
    try:
        model = torch.jit.load(str(model_path), map_location=device)
    except Exception as exc:
        if is_memory_error(exc):
            raise
        raise RunnerError("load_failed", f"torch.jit.load failed: {exc}") from exc
    model.eval()
    if any(box is None for _, _, box in samples):
        return run_whole_images(model, samples, output_path, device)
    chunks: dict[str, list[np.ndarray]] = {}
    times: list[float] = []  # ms per image of each batch
    with torch.inference_mode():
        for start in range(0, len(samples), batch_size):
            part = samples[start:start + batch_size]
            pixels = np.stack([load_crop(path, bbox) for _, path, bbox in part])  # (B, H, W, 3) uint8
            batch = torch.from_numpy(pixels).to(device).permute(0, 3, 1, 2).float().div_(255.0)
            if start == 0:
                model(batch)  # warm-up: first calls pay for lazy initialisation and the TorchScript profiler
            out, seconds = timed(model, batch, device)
            times.append(1000.0 * seconds / len(part))
            for key, array in reshape_outputs(as_named_outputs(out), len(part)).items():
                chunks.setdefault(key, []).append(array)
    missing = [k for k in PARAM_ORDER if k not in chunks]
    if missing and "vertices" not in chunks:
        raise RunnerError("missing_outputs", f"the model returned no {', '.join(missing)} (and no vertices)")
    arrays = {key: np.concatenate(parts) for key, parts in chunks.items()}
    if any(len(a) != len(samples) for a in arrays.values()):
        raise RunnerError("ragged_outputs", "the model returned a different number of outputs for different parameters")
    np.savez(output_path, sample_ids=np.array([s[0] for s in samples]), **arrays)
    write_meta(output_path, times, sum(p.numel() for p in model.parameters()), device)
    print(f"wrote {len(samples)} predictions to {output_path}", flush=True)
    return 0


def people_found(named) -> int:
    """How many people a whole-image output holds: the rows of ``joints2d`` (24 x 2 values each)."""
    if not isinstance(named, dict):
        raise RunnerError("output_type", f"the model returned {type(named).__name__}; expected a dict of tensors")
    joints = named.get("joints2d")
    if not isinstance(joints, torch.Tensor):
        raise RunnerError("missing_outputs", "the model returned no 'joints2d' tensor (one row per person found)")
    per_person = int(np.prod(PERSON_SHAPES["joints2d"]))
    if joints.numel() % per_person:
        raise RunnerError("bad_shape", f"output 'joints2d' has shape {tuple(joints.shape)}; expected (P, 24, 2)",
                          key="joints2d")
    return joints.numel() // per_person


def run_whole_images(model, samples: list, output_path: Path, device: str) -> int:
    """One image at a time, whole; every output has one row per person found (image_ids repeat the image id)."""
    image_ids: list[str] = []
    chunks: dict[str, list[np.ndarray]] = {}
    with torch.inference_mode():
        for sample_id, path, _ in samples:
            with Image.open(path) as img:
                pixels = np.asarray(img.convert("RGB"))
            batch = torch.from_numpy(pixels.copy()).to(device).permute(2, 0, 1)[None].float().div_(255.0)
            named = model(batch)
            people = people_found(named)
            arrays = reshape_outputs(named, people, PERSON_SHAPES)
            if chunks and set(arrays) != set(chunks):
                raise RunnerError("ragged_outputs", f"the model returned outputs {sorted(arrays)} for one image and "
                                  f"{sorted(chunks)} for another")
            for key, array in arrays.items():
                chunks.setdefault(key, []).append(array)
            image_ids += [sample_id] * people
    missing = [k for k in PARAM_ORDER if k not in chunks]
    if chunks and missing and "vertices" not in chunks:
        raise RunnerError("missing_outputs", f"the model returned no {', '.join(missing)} (and no vertices)")
    np.savez(output_path, image_ids=np.array(image_ids, dtype=str), **{k: np.concatenate(v) for k, v in chunks.items()})
    print(f"wrote {len(image_ids)} people in {len(samples)} images to {output_path}", flush=True)
    return 0


def is_memory_error(exc: BaseException) -> bool:
    text = str(exc).lower()
    return isinstance(exc, MemoryError) or "can't allocate memory" in text or "out of memory" in text


def report_status(fd: int | None, exc: BaseException) -> None:
    """One JSON line on the host's status pipe: a code from STATUS_CODES (and a known output name)."""
    if isinstance(exc, RunnerError):
        status = {"code": exc.code, "key": exc.key}
    else:
        status = {"code": MEMORY_ERROR if is_memory_error(exc) else "model_error", "key": None}
    if fd is not None:
        with open(fd, "w", closefd=True) as pipe:
            pipe.write(json.dumps(status) + "\n")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--model", type=Path, required=True)
    parser.add_argument("--input", type=Path, required=True)
    parser.add_argument("--output", type=Path, required=True)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--device", choices=("cpu", "cuda"), default="cpu")
    parser.add_argument("--threads", type=int, default=0)
    parser.add_argument("--status-fd", type=int, default=None)
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    device = args.device if args.device == "cpu" or torch.cuda.is_available() else "cpu"
    try:
        return run(args.model, args.input, args.output, args.batch_size, device)
    except Exception as exc:  # the traceback goes to the log (staff only), the status code to the host
        import traceback

        traceback.print_exc()
        report_status(args.status_fd, exc)
        return 2


if __name__ == "__main__":
    sys.exit(main())
