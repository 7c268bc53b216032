"""Evaluator fixtures (the session-wide synthetic ``smplx_model_dir`` comes from tests/conftest.py)."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from evaluator.body_model import BodyModel, load_body_model
from evaluator.demo import noisy_predictions, random_gt_params


@pytest.fixture(scope="session")
def body_model(smplx_model_dir) -> BodyModel:
    return load_body_model(smplx_model_dir)


@pytest.fixture(scope="session")
def mesh_pair(body_model) -> tuple[torch.Tensor, torch.Tensor]:
    """(pred, gt) meshes (24, 10475, 3) of noisy predictions vs GT, people 2-8 m from the camera."""
    rng = np.random.default_rng(7)
    gt = random_gt_params(24, rng)
    pred = noisy_predictions(gt, rng, level=2.0)
    return body_model.vertices(pred), body_model.vertices(gt)
