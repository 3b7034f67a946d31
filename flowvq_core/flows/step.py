"""One flow step of ExpFlow / PoseFlow: multi-actnorm → invertible 1×1 conv → conditional affine coupling."""

from __future__ import annotations

from .actnorm import MultiActNorm
from .base import CompositeTransform
from .coupling import ConditionalAffineCoupling
from .invconv import InvertibleLinearLU


class FlowStep(CompositeTransform):
    def __init__(
        self,
        dim: int,
        hidden: int,
        *,
        num_classes: int = 1,
        heads: int = 4,
        coupling_layers: int = 1,
        mlp_ratio: int = 2,
    ):
        super().__init__(
            [
                MultiActNorm(dim, num_classes),
                InvertibleLinearLU(dim),
                ConditionalAffineCoupling(dim, hidden, heads, coupling_layers, mlp_ratio),
            ]
        )
