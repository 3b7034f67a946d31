"""Manifold projection: affine combinations of same-emotion neighbours."""

from __future__ import annotations

import pytest
import torch

from flowvq_core.flows import ManifoldProjection


def _plane_bank(count: int, offset: float, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Points on a 2-D affine plane inside R^5: x = origin + a·u + b·v."""
    generator = torch.Generator().manual_seed(seed)
    origin = torch.full((5,), offset, dtype=torch.float64)
    basis = torch.linalg.qr(torch.randn(5, 2, generator=generator, dtype=torch.float64))[0].T
    coordinates = torch.rand(count, 2, generator=generator, dtype=torch.float64) * 4 - 2
    return origin + coordinates @ basis, basis


def test_projection_lands_on_the_affine_hull_and_keeps_in_plane_position():
    bank, basis = _plane_bank(400, 0.0, 0)
    projection = ManifoldProjection(bank, torch.zeros(400), neighbours=10, ridge=1e-6)
    in_plane = torch.tensor([[0.3, -0.2]], dtype=torch.float64) @ basis
    normal = torch.linalg.svd(basis, full_matrices=True).Vh[2:]
    query = in_plane + 0.5 * normal[0]
    projected = projection.project(query, torch.zeros(1))
    assert (projected @ normal.T).abs().max() < 1e-6, "the result lies on the plane"
    assert (projected - in_plane).norm() < 1e-3, "the in-plane position is kept"


def test_points_of_the_bank_project_onto_themselves():
    bank, _ = _plane_bank(200, 0.0, 1)
    projection = ManifoldProjection(bank, torch.zeros(200), neighbours=10, ridge=1e-6)
    assert torch.allclose(projection.project(bank[:20], torch.zeros(20)), bank[:20], atol=1e-5)


def test_only_neighbours_of_the_same_emotion_are_used():
    near, _ = _plane_bank(100, 0.0, 2)
    far, _ = _plane_bank(100, 10.0, 3)
    projection = ManifoldProjection(torch.cat([near, far]), torch.cat([torch.zeros(100), torch.ones(100)]))
    query = torch.zeros(2, 5, dtype=torch.float64)
    projected = projection.project(query, torch.tensor([0, 1]))
    assert projected[0].norm() < 1.0
    assert (projected[1] - 10).abs().max() < 3.0, "an emotion-1 query takes emotion-1 neighbours even when far"


def test_shape_is_kept_and_missing_emotions_are_explained():
    bank, _ = _plane_bank(50, 0.0, 4)
    projection = ManifoldProjection(bank.float(), torch.zeros(50))
    z = torch.randn(2, 7, 5)
    assert projection.project(z, torch.zeros(2, 7, dtype=torch.long)).shape == z.shape
    with pytest.raises(ValueError, match="no frames of emotion 'happy'"):
        projection.project(z, torch.full((2, 7), 4))
