"""Helpers shared by the flow tests (importable because pyproject puts tests/ on the path)."""

from __future__ import annotations

import torch

from flowvq_core.flows import SequenceBatch


def random_batch(flow, batch: int = 2, frames: int = 5, seed: int = 0, dtype=torch.float64) -> SequenceBatch:
    """Random coefficients, mel windows in [-4, 4] and labels sized for ``flow``."""
    generator = torch.Generator().manual_seed(seed)
    dim = flow.config.dim
    n_mels, window = flow.context_encoder.window_shape
    return SequenceBatch(
        coefficients=torch.randn(batch, frames, dim, generator=generator, dtype=dtype),
        windows=(8 * torch.rand(batch, frames, n_mels, window, generator=generator, dtype=dtype) - 4),
        labels=torch.randint(0, flow.config.num_classes, (batch,), generator=generator),
        source=torch.randn(batch, dim, generator=generator, dtype=dtype),
    )


def perturb_(module: torch.nn.Module, scale: float = 0.3, seed: int = 0) -> None:
    """Move every parameter away from its (often identity-like) init so invariants are tested off the easy point."""
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for parameter in module.parameters():
            parameter.add_(scale * torch.randn(parameter.shape, generator=generator, dtype=parameter.dtype))
