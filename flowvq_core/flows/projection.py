"""Manifold projection (paper §3.2, after Live Speech Portraits).

A bank of latents f⁻¹(x) of all training frames, with their emotion labels. Each sampled ẑ is replaced by the
affine combination Σ w_k z_k of its K nearest bank entries of the same emotion, with weights that sum to one and
best reconstruct ẑ: min ‖ẑ − Σ w_k z_k‖², Σ w_k = 1. The closed form (as in locally linear embedding) solves
G w = 1 with the local Gram matrix G_jk = (z_j − ẑ)·(z_k − ẑ), ridge-regularised because G is singular when
K > D or neighbours coincide, and then normalises w to sum to one.
"""

from __future__ import annotations

from collections.abc import Iterable

import torch
from torch import Tensor, nn

from ..emotions import EMOTIONS

QUERY_CHUNK = 1024
"""Latents projected per distance computation, so a long speech needs no [T, bank] matrix."""


class ManifoldProjection(nn.Module):
    def __init__(self, bank: Tensor, labels: Tensor, neighbours: int = 10, ridge: float = 1e-3):
        super().__init__()
        if bank.dim() != 2 or labels.shape != bank.shape[:1]:
            raise ValueError(f"bank must be [N, D] with labels [N], got {tuple(bank.shape)} and {tuple(labels.shape)}")
        self.neighbours = neighbours
        self.ridge = ridge
        self.register_buffer("bank", bank.detach().clone())
        self.register_buffer("bank_labels", labels.detach().clone().long())

    def _project_class(self, queries: Tensor, candidates: Tensor) -> Tensor:
        count = min(self.neighbours, candidates.shape[0])
        nearest = torch.cdist(queries, candidates).topk(count, dim=1, largest=False).indices
        neighbours = candidates[nearest]
        offsets = neighbours - queries.unsqueeze(1)
        gram = offsets @ offsets.transpose(1, 2)
        trace = torch.diagonal(gram, dim1=1, dim2=2).sum(-1).clamp_min(1e-12)
        eye = torch.eye(count, dtype=gram.dtype, device=gram.device)
        gram = gram + (self.ridge * trace / count).view(-1, 1, 1) * eye
        weights = torch.linalg.solve(gram, torch.ones(gram.shape[:2], dtype=gram.dtype, device=gram.device))
        weights = weights / weights.sum(-1, keepdim=True)
        return (weights.unsqueeze(-1) * neighbours).sum(1)

    def project(self, z: Tensor, labels: Tensor) -> Tensor:
        """Project latents ``z`` [..., D] with emotion ids ``labels`` [...] onto the bank's manifold."""
        flat = z.reshape(-1, z.shape[-1])
        flat_labels = labels.reshape(-1).to(self.bank_labels.device)
        projected = torch.empty_like(flat)
        for label in flat_labels.unique().tolist():
            rows = flat_labels == label
            candidates = self.bank[self.bank_labels == label].to(flat.dtype)
            if candidates.shape[0] == 0:
                raise ValueError(
                    f"the manifold-projection bank has no frames of emotion '{EMOTIONS[label]}'; "
                    "turn manifold projection off or rebuild the bank with that emotion"
                )
            queries = flat[rows.to(flat.device)]
            projected[rows.to(flat.device)] = torch.cat(
                [self._project_class(chunk, candidates) for chunk in queries.split(QUERY_CHUNK)]
            )
        return projected.view_as(z)

    @classmethod
    @torch.no_grad()
    def from_flow(cls, flow: nn.Module, batches: Iterable, neighbours: int = 10, ridge: float = 1e-3):
        """Build the bank by encoding every frame of ``batches`` (SequenceBatch) with a trained flow."""
        was_training = flow.training
        flow.eval()
        latents, labels = [], []
        for batch in batches:
            z = flow.encode_sequence(batch)
            latents.append(z.flatten(0, 1))
            labels.append(batch.labels.repeat_interleave(z.shape[1]))
        flow.train(was_training)
        return cls(torch.cat(latents), torch.cat(labels), neighbours, ridge)
