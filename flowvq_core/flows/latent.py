"""Latent distributions: the Student-t mixture of ExpFlow (paper Eqs. 7-8) and N(0, I) of PoseFlow.

Both share one interface: ``log_prob(z, labels)``, ``sample(labels, temperature, generator)`` and ``classify(z)``.
Noise is drawn on the CPU from a CPU ``torch.Generator`` and then moved, so a seed gives the same sample on every
device.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import Tensor, nn


def _numpy_rng(generator: torch.Generator | None) -> np.random.Generator:
    """A numpy generator seeded from ``generator`` so one torch seed fixes every random draw."""
    seed = torch.randint(0, 2**62, (1,), generator=generator).item()
    return np.random.default_rng(seed)


class StudentTMixture(nn.Module):
    """One multivariate t_ν(μ_i, I) per emotion with equal weights π_i = 1/C (paper Eqs. 7-8).

    Means start as μ_i ~ N(0, I) (drawn from ``seed`` so construction is reproducible) and stay fixed unless
    ``learn_means``. The covariance is the identity; ν (``dof``) is shared.
    """

    def __init__(self, dim: int, num_classes: int = 9, dof: float = 50.0, learn_means: bool = False, seed: int = 0):
        super().__init__()
        if dof <= 0:
            raise ValueError(f"degrees of freedom must be positive, got {dof}")
        self.dim = dim
        self.num_classes = num_classes
        self.dof = float(dof)
        means = torch.randn(num_classes, dim, generator=torch.Generator().manual_seed(seed))
        if learn_means:
            self.means = nn.Parameter(means)
        else:
            self.register_buffer("means", means)

    def _log_normaliser(self) -> float:
        nu, d = self.dof, self.dim
        return math.lgamma((nu + d) / 2) - math.lgamma(nu / 2) - d / 2 * math.log(nu * math.pi)

    def log_prob_all(self, z: Tensor) -> Tensor:
        """[N, C] log t_ν(z | μ_i, I) for every class i."""
        squared = (z.unsqueeze(1) - self.means.to(z.dtype)).pow(2).sum(-1)
        return self._log_normaliser() - (self.dof + self.dim) / 2 * torch.log1p(squared / self.dof)

    def log_prob(self, z: Tensor, labels: Tensor | None = None) -> Tensor:
        """[N] class-conditional log-density (Eq. 7), or the mixture's (Eq. 8) when ``labels`` is None."""
        every = self.log_prob_all(z)
        if labels is None:
            return torch.logsumexp(every, dim=-1) - math.log(self.num_classes)
        return every.gather(1, labels.view(-1, 1)).squeeze(1)

    def classify(self, z: Tensor) -> Tensor:
        """[N] the most likely class of each row (equal priors)."""
        return self.log_prob_all(z).argmax(-1)

    def sample(self, labels: Tensor, temperature: float = 1.0, generator: torch.Generator | None = None) -> Tensor:
        """z = μ_e + T·g / sqrt(u/ν) with g ~ N(0, I) and one u ~ χ²_ν per row; covariance ν/(ν−2)·T²·I."""
        rows = labels.shape[0]
        gaussian = torch.randn(rows, self.dim, generator=generator, dtype=torch.float64)
        chi2 = torch.from_numpy(_numpy_rng(generator).chisquare(self.dof, size=rows))
        noise = (gaussian * torch.rsqrt(chi2 / self.dof).unsqueeze(1)).to(self.means)
        return self.means[labels.to(self.means.device)] + temperature * noise


class StandardGaussian(nn.Module):
    """N(0, I), PoseFlow's latent (paper §3.2: emotion is ignored for head pose)."""

    def __init__(self, dim: int):
        super().__init__()
        self.dim = dim
        self.register_buffer("anchor", torch.zeros(()), persistent=False)  # carries device and dtype

    def log_prob(self, z: Tensor, labels: Tensor | None = None) -> Tensor:
        return -0.5 * (z.pow(2).sum(-1) + self.dim * math.log(2 * math.pi))

    def classify(self, z: Tensor) -> Tensor:
        return torch.zeros(z.shape[0], dtype=torch.long, device=z.device)

    def sample(self, labels: Tensor, temperature: float = 1.0, generator: torch.Generator | None = None) -> Tensor:
        return temperature * torch.randn(labels.shape[0], self.dim, generator=generator).to(self.anchor)
