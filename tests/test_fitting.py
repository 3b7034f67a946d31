"""Fitting invariants on synthetic meshes: the bounded least squares, Procrustes, and exact round trips."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy.optimize import lsq_linear

from flowvq_core.face import fitting
from flowvq_core.face.fitting import fit_single, fit_to_neutral, solve_bounded_least_squares
from flowvq_core.face.pose import euler_to_matrix, project, similarity_procrustes
from flowvq_core.face.rig import NUM_UNITS, UNIT_RANGE, build_units, clamp_to_unit_range, unit_index


def test_bounded_least_squares_matches_scipy():
    generator = torch.Generator().manual_seed(0)
    units = torch.randn(12, 30, 3, generator=generator, dtype=torch.float64)
    units[1] = 0.9 * units[0] + 0.1 * units[1]
    truth = torch.tensor([0.5, 0.2, 0, 1, 0.3, 0, 0, 0.7, 0.1, 0, 0.9, 0.4], dtype=torch.float64)
    residual = torch.einsum("k,kvc->vc", truth, units) + 0.3 * torch.randn(
        30, 3, generator=generator, dtype=torch.float64
    )
    weights = torch.rand(30, generator=generator, dtype=torch.float64) + 0.5
    ours = solve_bounded_least_squares(residual, units, weights, prior=1e-3)
    root = weights.repeat_interleave(3).sqrt().numpy()
    design = units.reshape(12, -1).T.numpy() * root[:, None]
    ridge = np.sqrt(1e-3 * np.diag(design.T @ design).mean()) * np.eye(12)
    reference = lsq_linear(
        np.vstack([design, ridge]), np.concatenate([residual.reshape(-1).numpy() * root, np.zeros(12)]), bounds=(0, 1)
    ).x
    assert np.abs(ours.numpy() - reference).max() < 1e-6
    batched = solve_bounded_least_squares(residual.expand(3, -1, -1), units, weights, prior=1e-3)
    assert torch.allclose(batched, ours.expand(3, -1))


def test_procrustes_recovers_a_similarity():
    generator = torch.Generator().manual_seed(1)
    points = torch.randn(40, 3, generator=generator, dtype=torch.float64)
    rotation = euler_to_matrix(torch.tensor([0.2, -0.4, 0.1], dtype=torch.float64))
    moved = 1.7 * points @ rotation.T + torch.tensor([0.3, -0.2, 0.5], dtype=torch.float64)
    found_rotation, scale, translation = similarity_procrustes(points, moved, torch.ones(40))
    assert torch.allclose(found_rotation, rotation, atol=1e-10) and abs(float(scale) - 1.7) < 1e-10


@pytest.fixture(scope="module")
def neutral():
    from skimage import data

    from flowvq_core.face import extract

    pytest.importorskip("mediapipe")
    return extract(data.astronaut()).neutral.double()


def test_fit_recovers_coefficients_of_a_synthetic_mesh(neutral):
    """Landmarks made by the rig itself under a known pose give the coefficients and pose back."""
    units = build_units(neutral)
    truth = torch.zeros(NUM_UNITS, dtype=torch.float64)
    for name, value in [("jawOpen", 0.6), ("eyeBlinkLeft", 0.8), ("mouthSmileRight", 0.5), ("browInnerUp", 0.4)]:
        truth[unit_index(name)] = value
    pose = torch.tensor([0.1, -0.25, 0.05, 0.5, 0.45, 0.2], dtype=torch.float64)
    mesh = neutral + torch.einsum("k,kvc->vc", truth, units)
    landmarks = project(mesh, pose)
    beta, found_pose = fit_to_neutral(landmarks, neutral, units)
    assert torch.allclose(found_pose, pose, atol=0.01), "within about half a degree and 1 % of the crop"
    for name in ("jawOpen", "mouthSmileRight", "browInnerUp"):
        assert abs(float(beta[unit_index(name)] - truth[unit_index(name)])) < 0.05, name
    assert beta.shape == (NUM_UNITS,) and ((beta >= 0) & (beta <= 1)).all()
    assert beta[unit_index("eyeBlinkLeft")] > 0.95, "exact landmarks of a 0.8 blink read past FaceMesh's calibration"


ROUNDED_OUTSIDE = (-1e-18, 1 + 1e-15)
"""What a bounded solver returned on one machine for weights at their bounds: one rounding error outside."""


def _solver_that_rounds_outside(monkeypatch: pytest.MonkeyPatch) -> list[np.ndarray]:
    """Make ``lsq_linear`` return an exact bound pushed one rounding error outside it, on every unit in turn."""
    calls = []

    def rounding_solver(a, b, bounds, method):
        x = np.clip(np.linalg.lstsq(a, b, rcond=None)[0], *bounds)
        x[len(calls) % len(x)] = ROUNDED_OUTSIDE[len(calls) % 2]
        x[(len(calls) + 1) % len(x)] = ROUNDED_OUTSIDE[(len(calls) + 1) % 2]
        calls.append(x)
        return type("Result", (), {"x": x})()

    monkeypatch.setattr(fitting, "lsq_linear", rounding_solver)
    return calls


def test_clamp_keeps_rounded_weights_inside_the_unit_range():
    beta = torch.tensor([ROUNDED_OUTSIDE[0], ROUNDED_OUTSIDE[1], 0.5], dtype=torch.float64)
    clamped = clamp_to_unit_range(beta)
    assert UNIT_RANGE == (0.0, 1.0) and clamped.tolist() == [0.0, 1.0, 0.5]


def test_every_fitting_path_returns_weights_inside_their_bounds(neutral, monkeypatch):
    """A solver result of −1e-18 or 1 + 1e-15 comes back inside [0, 1]: one photo, a known identity, a video."""
    calls = _solver_that_rounds_outside(monkeypatch)
    units = build_units(neutral)
    truth = torch.zeros(NUM_UNITS, dtype=torch.float64)
    truth[unit_index("jawOpen")] = 1.0
    pose = torch.tensor([0.05, -0.1, 0.0, 0.5, 0.5, 0.2], dtype=torch.float64)
    frames = torch.stack([project(neutral + torch.einsum("k,kvc->vc", truth * s, units), pose) for s in (0, 0.5, 1)])
    residual = torch.randn(5, *neutral.shape, dtype=torch.float64)
    results = {
        "solver": solve_bounded_least_squares(residual, units, torch.ones(len(neutral), dtype=torch.float64)),
        "single photo": fit_single(frames[2])[1],
        "known identity": fit_to_neutral(frames[2], neutral, units)[0],
        "video": fit_to_neutral(frames, neutral, units)[0],
    }
    assert any((x < 0).any() and (x > 1).any() for x in calls), "the stub must really return weights outside"
    for path, beta in results.items():
        assert ((beta >= 0) & (beta <= 1)).all(), f"{path}: {beta.min().item()} .. {beta.max().item()}"
