"""A sequence of face coefficients: expression β, pose ρ and the frame rate they were made for."""

from __future__ import annotations

from dataclasses import dataclass

from torch import Tensor


@dataclass
class CoefficientSequence:
    expression: Tensor
    """[B, T, D] expression coefficients β̂ (B samples of T frames)."""
    pose: Tensor
    """[B, T, P] head pose ρ̂ (pitch, yaw, roll, tx, ty, scale)."""
    fps: float

    @property
    def num_frames(self) -> int:
        return self.expression.shape[1]

    @property
    def num_samples(self) -> int:
        return self.expression.shape[0]
