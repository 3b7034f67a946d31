"""Conditional affine coupling, paper Eq. 5: (t, s) = F(h1, c); h = [h1, (h2 + t) ⊙ s].

s = sigmoid(s_raw + 2) keeps the scale in (0, 1) and near 0.88 at init (Glow's choice); log|det| = Σ log s.
F is a small transformer: h1 becomes one query token that attends over itself and the frame's context tokens.
Its output layer starts at zero, so every step starts close to the identity.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .attention import TransformerBlock
from .base import FlowCondition, Transform


class ConditionalAffineCoupling(Transform):
    def __init__(self, dim: int, hidden: int, heads: int = 4, layers: int = 1, mlp_ratio: int = 2):
        super().__init__()
        if dim < 2:
            raise ValueError(f"a coupling layer needs at least 2 dimensions, got {dim}")
        self.split = dim // 2
        self.embed = nn.Linear(self.split, hidden)
        self.blocks = nn.ModuleList(TransformerBlock(hidden, heads, mlp_ratio, with_memory=True) for _ in range(layers))
        self.norm = nn.LayerNorm(hidden)
        self.project = nn.Linear(hidden, 2 * (dim - self.split))
        nn.init.zeros_(self.project.weight)
        nn.init.zeros_(self.project.bias)

    def _shift_and_log_scale(self, kept: Tensor, condition: FlowCondition) -> tuple[Tensor, Tensor]:
        token = self.embed(kept).unsqueeze(1)
        for block in self.blocks:
            token = block(token, condition.context)
        shift, raw_scale = self.project(self.norm(token[:, 0])).chunk(2, dim=-1)
        return shift, F.logsigmoid(raw_scale + 2.0)

    def forward(self, inputs: Tensor, condition: FlowCondition) -> tuple[Tensor, Tensor]:
        kept, changed = inputs[:, : self.split], inputs[:, self.split :]
        shift, log_scale = self._shift_and_log_scale(kept, condition)
        changed = (changed + shift) * log_scale.exp()
        return torch.cat([kept, changed], dim=-1), log_scale.sum(-1)

    def inverse(self, inputs: Tensor, condition: FlowCondition) -> tuple[Tensor, Tensor]:
        kept, changed = inputs[:, : self.split], inputs[:, self.split :]
        shift, log_scale = self._shift_and_log_scale(kept, condition)
        changed = changed * (-log_scale).exp() - shift
        return torch.cat([kept, changed], dim=-1), -log_scale.sum(-1)
