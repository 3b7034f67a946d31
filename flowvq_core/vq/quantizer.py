"""The vector quantizer of the codebook stage (paper §3.3, after VQ-VAE / VQGAN).

Each feature vector z of the encoder is replaced by its nearest codebook entry e_k (Euclidean distance). Gradients
pass straight through to the encoder (z + sg(e − z)); the codebook learns either from the codebook loss ‖sg(z) − e‖²
or, with ``ema_decay``, from exponential moving averages of the vectors assigned to each code (then only the
commitment loss β‖z − sg(e)‖² is returned). Codes that fall out of use are restarted on recent encoder outputs, and
usage statistics say how much of the codebook is alive.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn


@dataclass
class Quantized:
    """What :meth:`VectorQuantizer.forward` returns."""

    quantized: Tensor
    """[B, C, H, W] the nearest codes, with straight-through gradients to the input."""
    indices: Tensor
    """[B, H, W] long: the code index of every position."""
    loss: Tensor
    """Scalar: codebook loss + β · commitment loss (commitment alone with EMA updates)."""
    perplexity: Tensor
    """Scalar: exp(entropy) of this batch's code usage (1: one code used; N: all used evenly)."""


@dataclass
class CodebookUsage:
    """How much of the codebook is alive, from the running usage counts."""

    used_fraction: float
    """Share of codes whose running usage is above the dead-code threshold."""
    perplexity: float
    """exp(entropy) of the running usage distribution."""
    dead_codes: int


class VectorQuantizer(nn.Module):
    def __init__(
        self,
        num_codes: int = 1024,
        dim: int = 256,
        *,
        commitment: float = 0.25,
        ema_decay: float | None = None,
        usage_decay: float = 0.99,
        dead_code_threshold: float = 0.1,
        epsilon: float = 1e-5,
    ):
        """``num_codes`` N entries of ``dim`` C; ``commitment`` β; ``ema_decay`` (e.g. 0.99) switches codebook learning
        to moving averages; a code whose running share of assignments falls below ``dead_code_threshold`` times its
        fair share 1/N is dead, and :meth:`restart_dead_codes` re-seeds it."""
        super().__init__()
        self.num_codes, self.dim = num_codes, dim
        self.commitment = commitment
        self.ema_decay = ema_decay
        self.usage_decay = usage_decay
        self.dead_code_threshold = dead_code_threshold
        self.epsilon = epsilon
        codebook = torch.empty(num_codes, dim).uniform_(-1 / num_codes, 1 / num_codes)
        self.codebook = nn.Parameter(codebook, requires_grad=ema_decay is None)
        self.register_buffer("usage", torch.full((num_codes,), 1.0 / num_codes))
        if ema_decay is not None:
            self.register_buffer("cluster_size", torch.zeros(num_codes))
            self.register_buffer("cluster_sum", codebook.clone())

    def nearest(self, vectors: Tensor) -> Tensor:
        """[M, C] vectors → [M] indices of their nearest codes (‖z‖² − 2 z·e + ‖e‖², no M × N × C tensor)."""
        codebook = self.codebook.to(vectors.dtype)
        distances = (
            vectors.pow(2).sum(1, keepdim=True) - 2 * vectors @ codebook.t() + codebook.pow(2).sum(1).unsqueeze(0)
        )
        return distances.argmin(1)

    def lookup(self, indices: Tensor) -> Tensor:
        """Indices [B, H, W] → codes [B, C, H, W] (index → code: what the VQIG's predicted indices decode through)."""
        return self.codebook[indices].permute(0, 3, 1, 2).contiguous()

    def forward(self, features: Tensor) -> Quantized:
        """Encoder features [B, C, H, W] → :class:`Quantized`. In training mode usage counts (and EMA codes) update.

        Always in float32, also under autocast: the nearest-code search must not round distances to 16 bits."""
        batch, channels, height, width = features.shape
        if channels != self.dim:
            raise ValueError(f"features have {channels} channels but the codebook's codes have {self.dim}")
        with torch.autocast(features.device.type, enabled=False):
            return self._quantize(features.float(), batch, channels, height, width)

    def _quantize(self, features: Tensor, batch: int, channels: int, height: int, width: int) -> Quantized:
        flat = features.permute(0, 2, 3, 1).reshape(-1, channels)
        indices = self.nearest(flat.detach())
        codes = self.codebook[indices]
        one_hot = F.one_hot(indices, self.num_codes).to(flat.dtype)
        counts = one_hot.sum(0)
        if self.training:
            with torch.no_grad():
                self.usage.mul_(self.usage_decay).add_((1 - self.usage_decay) * counts / counts.sum())
                if self.ema_decay is not None:
                    self._ema_update(flat.detach(), one_hot, counts)
        commitment = F.mse_loss(flat, codes.detach())
        loss = self.commitment * commitment
        if self.ema_decay is None:
            loss = loss + F.mse_loss(codes, flat.detach())
        quantized = flat + (codes - flat).detach()
        probabilities = counts / counts.sum()
        perplexity = torch.exp(-(probabilities * torch.log(probabilities + 1e-10)).sum())
        return Quantized(
            quantized=quantized.view(batch, height, width, channels).permute(0, 3, 1, 2).contiguous(),
            indices=indices.view(batch, height, width),
            loss=loss,
            perplexity=perplexity,
        )

    @torch.no_grad()
    def _ema_update(self, flat: Tensor, one_hot: Tensor, counts: Tensor) -> None:
        decay = self.ema_decay
        self.cluster_size.mul_(decay).add_((1 - decay) * counts)
        self.cluster_sum.mul_(decay).add_((1 - decay) * one_hot.t() @ flat)
        total = self.cluster_size.sum()
        smoothed = (self.cluster_size + self.epsilon) / (total + self.num_codes * self.epsilon) * total
        self.codebook.data.copy_(self.cluster_sum / smoothed.unsqueeze(1))

    def dead_codes(self) -> Tensor:
        """[D] indices of the codes whose running share of assignments is below the threshold (times 1/N)."""
        return torch.nonzero(self.usage < self.dead_code_threshold / self.num_codes).flatten()

    @torch.no_grad()
    def restart_dead_codes(self, features: Tensor, generator: torch.Generator | None = None) -> int:
        """Re-seed dead codes on random encoder vectors of ``features`` [B, C, H, W] (plus a little noise so two
        restarts never coincide); returns how many were restarted. Call it every few hundred training steps."""
        dead = self.dead_codes()
        if dead.numel() == 0:
            return 0
        flat = features.detach().permute(0, 2, 3, 1).reshape(-1, self.dim)
        picks = torch.randint(flat.shape[0], (dead.numel(),), generator=generator).to(flat.device)
        noise = 1e-3 * flat.std() * torch.randn(dead.numel(), self.dim, generator=generator).to(flat)
        fresh = (flat[picks] + noise).to(self.codebook.dtype)
        self.codebook.data[dead] = fresh
        self.usage[dead] = 1.0 / self.num_codes
        if self.ema_decay is not None:
            self.cluster_size[dead] = 1.0
            self.cluster_sum[dead] = fresh
        return int(dead.numel())

    def usage_report(self) -> CodebookUsage:
        share = self.usage / self.usage.sum()
        perplexity = float(torch.exp(-(share * torch.log(share + 1e-10)).sum()))
        dead = int(self.dead_codes().numel())
        return CodebookUsage(used_fraction=1 - dead / self.num_codes, perplexity=perplexity, dead_codes=dead)
