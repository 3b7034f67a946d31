"""ψ, the mapping network (PIRenderer's): a window of coefficients [β; ρ] around a frame → motion descriptor σ."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from .config import VQIGConfig


def coefficient_windows(coefficients: Tensor, window: int) -> Tensor:
    """[B, T, D] per-frame coefficients → [B·T, D, window]: each frame's neighbours (edges repeated)."""
    batch, frames, dim = coefficients.shape
    half = window // 2
    padded = torch.cat([coefficients[:, :1].expand(batch, half, dim), coefficients,
                        coefficients[:, -1:].expand(batch, half, dim)], 1)  # fmt: skip
    return padded.unfold(1, window, 1).reshape(batch * frames, dim, window)


class MappingNetwork(nn.Module):
    """Conv1d over time, then dilated residual Conv1d blocks and a temporal average: σ ∈ R^descriptor_dim."""

    def __init__(self, config: VQIGConfig):
        super().__init__()
        channels = config.mapping_channels
        self.first = nn.Conv1d(config.coefficient_dim, channels, 7, padding=3)
        self.blocks = nn.ModuleList(
            nn.Sequential(nn.LeakyReLU(0.1), nn.Conv1d(channels, channels, 3, dilation=3, padding=3)) for _ in range(3)
        )
        self.out = nn.Linear(channels, config.descriptor_dim)

    def forward(self, windows: Tensor) -> Tensor:
        """[N, D, window] → σ [N, descriptor_dim]."""
        hidden = self.first(windows)
        for block in self.blocks:
            hidden = hidden + block(hidden)
        return self.out(hidden.mean(-1))
