"""Adaptive instance normalisation (Huang & Belongie): features take the scale and shift a descriptor asks for."""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor, nn


class AdaIN(nn.Module):
    def __init__(self, channels: int, descriptor_dim: int):
        super().__init__()
        self.affine = nn.Linear(descriptor_dim, 2 * channels)
        nn.init.zeros_(self.affine.weight)
        nn.init.zeros_(self.affine.bias)  # starts as plain instance normalisation

    def forward(self, features: Tensor, descriptor: Tensor) -> Tensor:
        """features [N, C, H, W] normalised per channel, then · (1 + γ(σ)) + β(σ)."""
        gamma, beta = self.affine(descriptor).chunk(2, dim=-1)
        normalised = F.instance_norm(features, eps=1e-5)
        return normalised * (1 + gamma[..., None, None]) + beta[..., None, None]
