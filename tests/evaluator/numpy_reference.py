"""Straightforward per-sample float64 NumPy version of the reference recipe (SMPLer-X generic
evaluator + SMPLest-X pelvis-aligned mpjpe_body), used to cross-check the batched torch code."""
from __future__ import annotations

import numpy as np

LEFT_TIPS, RIGHT_TIPS = (5361, 4933, 5058, 5169, 5286), (8079, 7669, 7794, 7905, 8022)


def rigid_align(A: np.ndarray, B: np.ndarray) -> np.ndarray:
    """Similarity Procrustes of A onto B, as `rigid_transform_3D` (reflection fixed via det)."""
    n = A.shape[0]
    cA, cB = A.mean(0), B.mean(0)
    H = (A - cA).T @ (B - cB) / n
    U, s, Vt = np.linalg.svd(H)
    R = Vt.T @ U.T
    if np.linalg.det(R) < 0:
        s[-1] = -s[-1]
        Vt[2] = -Vt[2]
        R = Vt.T @ U.T
    var = np.var(A, axis=0).sum()
    c = s.sum() / var
    t = cB - c * R @ cA
    return (c * R @ A.T).T + t


def err(P: np.ndarray, G: np.ndarray) -> float:
    return float(np.sqrt(((P - G) ** 2).sum(-1)).mean() * 1000)


def make_hand_regressor(J: np.ndarray, side: str) -> np.ndarray:
    """As in SMPLer-X: rows of [J; I] (here only the needed identity rows)."""
    eye = lambda v: np.eye(1, J.shape[1], v)[0]  # noqa: E731
    if side == "left":
        rows = [J[20]]
        for chain, tip in zip(((37, 38, 39), (25, 26, 27), (28, 29, 30), (34, 35, 36), (31, 32, 33)), LEFT_TIPS):
            rows += [J[j] for j in chain] + [eye(tip)]
    else:
        rows = [J[21]]
        for chain, tip in zip(((52, 53, 54), (40, 41, 42), (43, 44, 45), (49, 50, 51), (46, 47, 48)), RIGHT_TIPS):
            rows += [J[j] for j in chain] + [eye(tip)]
    return np.stack(rows)


def evaluate_sample(M, G, J, J14, HR_l, HR_r, lhand, rhand, face) -> dict[str, float]:
    M, G = M.astype(np.float64), G.astype(np.float64)
    jM, jG = J @ M, J @ G
    out = {}
    Mp = M - jM[0] + jG[0]
    out["mpvpe_all"] = err(Mp, G)
    out["pa_mpvpe_all"] = err(rigid_align(M, G), G)
    for k, ids, w in (("l", lhand, 20), ("r", rhand, 21)):
        Mk = M[ids] - jM[w] + jG[w]
        out[f"mpvpe_{k}_hand"] = err(Mk, G[ids])
        out[f"pa_mpvpe_{k}_hand"] = err(rigid_align(M[ids], G[ids]), G[ids])
    Mf = M[face] - jM[12] + jG[12]
    out["mpvpe_face"] = err(Mf, G[face])
    out["pa_mpvpe_face"] = err(rigid_align(M[face], G[face]), G[face])
    out["mpjpe_body"] = err(J14 @ Mp, J14 @ G)
    out["pa_mpjpe_body"] = err(rigid_align(J14 @ M, J14 @ G), J14 @ G)
    for k, HR in (("l", HR_l), ("r", HR_r)):
        out[f"pa_mpjpe_{k}_hand"] = err(rigid_align(HR @ M, HR @ G), HR @ G)
    for p in ("mpvpe", "pa_mpvpe", "pa_mpjpe"):
        out[f"{p}_hand"] = (out[f"{p}_l_hand"] + out[f"{p}_r_hand"]) / 2
    return out


def evaluate(pred, gt, J, J14, lhand, rhand, face) -> dict[str, np.ndarray]:
    """Per-sample metrics for (N, V, 3) arrays; dict of (N,) float64 arrays."""
    J, J14 = np.asarray(J, np.float64), np.asarray(J14, np.float64)
    HR_l, HR_r = make_hand_regressor(J, "left"), make_hand_regressor(J, "right")
    rows = [evaluate_sample(M, G, J, J14, HR_l, HR_r, lhand, rhand, face) for M, G in zip(pred, gt)]
    return {k: np.array([r[k] for r in rows]) for k in rows[0]}
