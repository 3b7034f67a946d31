"""Multi-actnorm: a per-emotion affine normalisation h' = (x − μ_e) / δ_e (paper §3.2, after Glow's actnorm).

Stored as (bias, log-scale) per class so h' = (x + bias_e) · exp(logscale_e). The first training batch sets
bias = −mean and logscale = −log std over the whole batch, copied to every class; training then moves each class on
its own, which the paper reports mitigates overfitting. With one class it is Glow's plain actnorm (PoseFlow).
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from .base import FlowCondition, Transform


class MultiActNorm(Transform):
    def __init__(self, dim: int, num_classes: int = 1, eps: float = 1e-6):
        super().__init__()
        self.num_classes = num_classes
        self.eps = eps
        self.bias = nn.Parameter(torch.zeros(num_classes, dim))
        self.logscale = nn.Parameter(torch.zeros(num_classes, dim))
        self.register_buffer("initialized", torch.tensor(False))

    def _rows(self, condition: FlowCondition) -> tuple[Tensor, Tensor]:
        if self.num_classes == 1:
            return self.bias[0], self.logscale[0]
        return self.bias[condition.labels], self.logscale[condition.labels]

    @torch.no_grad()
    def initialize(self, inputs: Tensor) -> None:
        """Data-dependent init: zero mean and unit variance for this batch, the same for every class."""
        mean = inputs.mean(0)
        std = inputs.std(0, unbiased=False)
        self.bias.copy_((-mean).expand_as(self.bias))
        self.logscale.copy_((-torch.log(std + self.eps)).expand_as(self.logscale))
        self.initialized.fill_(True)

    def forward(self, inputs: Tensor, condition: FlowCondition) -> tuple[Tensor, Tensor]:
        if self.training and not bool(self.initialized):
            self.initialize(inputs)
        bias, logscale = self._rows(condition)
        outputs = (inputs + bias) * torch.exp(logscale)
        return outputs, logscale.sum(-1).expand(inputs.shape[0])

    def inverse(self, inputs: Tensor, condition: FlowCondition) -> tuple[Tensor, Tensor]:
        bias, logscale = self._rows(condition)
        outputs = inputs * torch.exp(-logscale) - bias
        return outputs, -logscale.sum(-1).expand(inputs.shape[0])
