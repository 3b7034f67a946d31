"""Invertible 1×1 convolution h'' = W·h' in LU form (Glow §3.2), here over a coefficient vector.

W = P · L · (U + diag(sign · exp(log|s|))) with P a fixed permutation, L unit lower-triangular and U strictly
upper-triangular, so log|det W| = Σ log|s| costs O(D) instead of O(D³), and the inverse is two triangular solves.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from .base import FlowCondition, Transform


class InvertibleLinearLU(Transform):
    def __init__(self, dim: int):
        super().__init__()
        rotation, _ = torch.linalg.qr(torch.randn(dim, dim, dtype=torch.float64))
        permutation, lower, upper = torch.linalg.lu(rotation)
        diagonal = torch.diagonal(upper)
        self.register_buffer("permutation", permutation.float())
        self.register_buffer("sign", torch.sign(diagonal).float())
        self.lower = nn.Parameter(torch.tril(lower, -1).float())
        self.upper = nn.Parameter(torch.triu(upper, 1).float())
        self.log_abs_diagonal = nn.Parameter(torch.log(torch.abs(diagonal)).float())

    def _factors(self) -> tuple[Tensor, Tensor]:
        eye = torch.eye(self.lower.shape[0], dtype=self.lower.dtype, device=self.lower.device)
        lower = torch.tril(self.lower, -1) + eye
        upper = torch.triu(self.upper, 1) + torch.diag(self.sign * torch.exp(self.log_abs_diagonal))
        return lower, upper

    def weight(self) -> Tensor:
        lower, upper = self._factors()
        return self.permutation @ lower @ upper

    def forward(self, inputs: Tensor, condition: FlowCondition) -> tuple[Tensor, Tensor]:
        outputs = inputs @ self.weight().T
        return outputs, self.log_abs_diagonal.sum().expand(inputs.shape[0])

    def inverse(self, inputs: Tensor, condition: FlowCondition) -> tuple[Tensor, Tensor]:
        lower, upper = self._factors()
        columns = self.permutation.T @ inputs.T
        columns = torch.linalg.solve_triangular(lower, columns, upper=False, unitriangular=True)
        columns = torch.linalg.solve_triangular(upper, columns, upper=True)
        return columns.T, -self.log_abs_diagonal.sum().expand(inputs.shape[0])
