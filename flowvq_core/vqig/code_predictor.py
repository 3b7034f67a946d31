"""From the source's codes and the warped image's features to the target's code indices (paper §3.3, Fig. 3b).

z_f = φ(z_w, z_c) fuses what the warp moved with what the source looks like; multi-head cross-attention (queries
from z_f, keys and values from z_c) brings back the source's identity and texture, a descriptor-conditioned AdaIN
adds the motion, and a transformer T predicts one code index per latent position (logits over the N codes).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor, nn

from ..vq.blocks import ResBlock
from .adain import AdaIN
from .config import VQIGConfig


@dataclass
class CodePrediction:
    logits: Tensor
    """[B, s·s, N] scores of every code at every latent position (row-major)."""
    features: Tensor
    """[B, C, s, s] ẑ_f: the fused, attended features, compared with the target's z_c by L_feat (eq. 18)."""


class CodePredictor(nn.Module):
    def __init__(self, config: VQIGConfig):
        super().__init__()
        channels = config.codebook.latent_channels
        dim = config.transformer_dim
        positions = config.codebook.latent_size**2
        self.fuse = nn.Sequential(nn.Conv2d(2 * channels, channels, 3, padding=1), ResBlock(channels, channels))
        self.query = nn.Linear(channels, dim)
        self.key_value = nn.Linear(channels, dim)
        self.cross_attention = nn.MultiheadAttention(dim, config.heads, batch_first=True)
        self.attended_norm = nn.LayerNorm(dim)
        self.adain = AdaIN(dim, config.descriptor_dim)
        self.to_features = nn.Linear(dim, channels)
        self.positions = nn.Parameter(0.02 * torch.randn(positions, dim))
        # CodeFormer's code-prediction layers (which the paper's T follows) use an MLP twice the model width.
        layer = nn.TransformerEncoderLayer(dim, config.heads, 2 * dim, dropout=0.0, batch_first=True, norm_first=True)
        self.transformer = nn.TransformerEncoder(layer, config.transformer_layers, enable_nested_tensor=False)
        self.head = nn.Sequential(nn.LayerNorm(dim), nn.Linear(dim, config.codebook.num_codes))

    def forward(self, source_codes: Tensor, warped_features: Tensor, descriptor: Tensor) -> CodePrediction:
        """z_c [B, C, s, s] (quantized source), z_w [B, C, s, s] (E_w of the warped image), σ [B, d]."""
        batch, channels, height, width = source_codes.shape
        fused = self.fuse(torch.cat([warped_features, source_codes], 1))
        queries = self.query(fused.flatten(2).transpose(1, 2)) + self.positions
        keys = self.key_value(source_codes.flatten(2).transpose(1, 2)) + self.positions
        attended, _ = self.cross_attention(queries, keys, keys, need_weights=False)
        tokens = self.attended_norm(queries + attended)
        grid = tokens.transpose(1, 2).reshape(batch, -1, height, width)
        tokens = self.adain(grid, descriptor).flatten(2).transpose(1, 2)
        features = self.to_features(tokens).transpose(1, 2).reshape(batch, channels, height, width)
        return CodePrediction(logits=self.head(self.transformer(tokens)), features=features)
