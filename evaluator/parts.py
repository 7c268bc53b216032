"""Evaluation assets: vertex subsets and joint regressors, stacked for one batched matmul."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor

from .procrustes import take_points
from .skeleton import HAND_CHAINS, HAND_TIP_VERTICES, LEFT_WRIST, NECK, PELVIS, RIGHT_WRIST

NUM_HAND_JOINTS = 21


def hand_regressor(joint_regressor: np.ndarray, side: str) -> np.ndarray:
    """21 x V hand regressor (wrist, then thumb..pinky: 3 joints + tip vertex each).

    Equivalent to SMPLer-X ``make_hand_regressor`` but built densely from the needed rows
    instead of stacking a V x V identity.
    """
    wrist, fingers = HAND_CHAINS[side]
    rows = [joint_regressor[wrist]]
    for chain, tip in zip(fingers, HAND_TIP_VERTICES[side]):
        rows += [joint_regressor[j] for j in chain]
        one_hot = np.zeros(joint_regressor.shape[1], dtype=joint_regressor.dtype)
        one_hot[tip] = 1.0
        rows.append(one_hot)
    return np.stack(rows)


# Row layout of the stacked regressor.
ROW_PELVIS, ROW_NECK, ROW_LWRIST, ROW_RWRIST = 0, 1, 2, 3
J14_ROWS = slice(4, 18)
LHAND_ROWS = slice(18, 18 + NUM_HAND_JOINTS)
RHAND_ROWS = slice(18 + NUM_HAND_JOINTS, 18 + 2 * NUM_HAND_JOINTS)


@dataclass(frozen=True)
class MetricAssets:
    """Everything the metrics need besides the meshes, as tensors on one device."""

    regressor: Tensor  # (60, V): J rows 0/12/20/21, J14 (14), HR_l (21), HR_r (21)
    left_hand: Tensor  # (778,) long
    right_hand: Tensor  # (778,) long
    face: Tensor  # (5023,) long
    anchor_vertex: int  # vertex nearest the pelvis regressor; used only to re-centre for precision
    columns: Tensor  # (C,) vertices with a nonzero weight in any regressor row
    compact: Tensor  # (60, C) = regressor[:, columns]
    row_sums: Tensor  # (60,) float64 sums of the rows as used (real regressors sum to ~1, not exactly)

    def regress_absolute(self, meshes) -> Tensor:
        """(B, 60, 3) float64 joints of ``meshes.absolute()`` (an evaluator.meshes.Meshes)."""
        return self.regress(meshes.local).double() + self.row_sums[None, :, None] * meshes.origin

    def regress(self, vertices: Tensor) -> Tensor:
        """(B, V, 3) -> (B, 60, 3). One GEMM over the few vertices the regressors use; a
        broadcast (60, V) @ (B, V, 3) matmul would run B skinny GEMMs over all V."""
        return self._regress_used(vertices[:, self.columns].permute(1, 0, 2))

    def regress_coords(self, coords: Tensor) -> Tensor:
        """Coordinate-major (B, 3, V) -> (B, 60, 3); the same GEMM (and numbers) as ``regress``."""
        return self._regress_used(take_points(coords, self.columns).permute(2, 0, 1))

    def _regress_used(self, used: Tensor) -> Tensor:
        """``used``: (C, B, 3) coordinates of the regressor columns."""
        B = used.shape[1]
        return (self.compact @ used.reshape(len(self.columns), B * 3)).reshape(-1, B, 3).permute(1, 0, 2)

    @classmethod
    def build(cls, joint_regressor: np.ndarray, j14_regressor: np.ndarray, left_hand: np.ndarray,
              right_hand: np.ndarray, face: np.ndarray, device: str | torch.device = "cpu",
              dtype: torch.dtype = torch.float32) -> "MetricAssets":
        J = np.asarray(joint_regressor, dtype=np.float64)
        rows = np.concatenate([J[[PELVIS, NECK, LEFT_WRIST, RIGHT_WRIST]], np.asarray(j14_regressor, np.float64),
                               hand_regressor(J, "left"), hand_regressor(J, "right")])
        ids = {k: torch.as_tensor(np.asarray(v, dtype=np.int64), device=device)
               for k, v in (("left_hand", left_hand), ("right_hand", right_hand), ("face", face))}
        columns = np.flatnonzero(np.any(rows != 0, axis=0))
        compact = torch.as_tensor(rows[:, columns], dtype=dtype, device=device)
        return cls(regressor=torch.as_tensor(rows, dtype=dtype, device=device),
                   anchor_vertex=int(np.argmax(J[PELVIS])),
                   columns=torch.as_tensor(columns, device=device), compact=compact,
                   row_sums=compact.double().sum(1), **ids)

    @property
    def hand_regressor_left(self) -> Tensor:
        return self.regressor[LHAND_ROWS]

    @property
    def hand_regressor_right(self) -> Tensor:
        return self.regressor[RHAND_ROWS]

    @property
    def j14_regressor(self) -> Tensor:
        return self.regressor[J14_ROWS]
