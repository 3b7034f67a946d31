"""The transform interface every flow layer follows (nflows style).

``forward`` maps data to latent (the paper's f⁻¹) and ``inverse`` maps latent to data (f). Both return
``(outputs, logabsdet)`` where ``logabsdet`` is log|det ∂outputs/∂inputs| per row, so a composite sums them
(paper Eq. 4) and the inverse's log-det is the negative of the forward one.
"""

from __future__ import annotations

from abc import ABCMeta, abstractmethod
from collections.abc import Iterable
from dataclasses import dataclass

from torch import Tensor, nn


@dataclass
class FlowCondition:
    """What every flow step of one batch of N frames is conditioned on."""

    context: Tensor
    """[N, L, H] context tokens from the shared context transformer (computed once per frame)."""
    labels: Tensor
    """[N] emotion ids (all zeros where the flow ignores emotion)."""


class Transform(nn.Module, metaclass=ABCMeta):
    """An invertible map of [N, D] rows given a condition."""

    @abstractmethod
    def forward(self, inputs: Tensor, condition: FlowCondition) -> tuple[Tensor, Tensor]:
        """Data → latent: ``(outputs, log|det J|)``."""

    @abstractmethod
    def inverse(self, inputs: Tensor, condition: FlowCondition) -> tuple[Tensor, Tensor]:
        """Latent → data: ``(outputs, log|det J|)`` of this direction."""


class CompositeTransform(Transform):
    """Applies transforms in order (forward) or in reverse order (inverse) and sums their log-dets."""

    def __init__(self, transforms: Iterable[Transform]):
        super().__init__()
        self.transforms = nn.ModuleList(transforms)

    def forward(self, inputs: Tensor, condition: FlowCondition) -> tuple[Tensor, Tensor]:
        logdet = inputs.new_zeros(inputs.shape[0])
        for transform in self.transforms:
            inputs, step_logdet = transform(inputs, condition)
            logdet = logdet + step_logdet
        return inputs, logdet

    def inverse(self, inputs: Tensor, condition: FlowCondition) -> tuple[Tensor, Tensor]:
        logdet = inputs.new_zeros(inputs.shape[0])
        for transform in reversed(self.transforms):
            inputs, step_logdet = transform.inverse(inputs, condition)
            logdet = logdet + step_logdet
        return inputs, logdet
