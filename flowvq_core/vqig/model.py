"""The VQIG (paper §3.3, Fig. 3b): source image + a window of coefficients → the target frame through the codebook.

z_c = q(E_h(I_0)) is computed once per video; per frame, ψ maps the coefficient window to σ, W warps I_0 to I_w,
E_w (initialised from E_h, trained) encodes it as z_w, the code predictor gives code indices ŝ, and the frozen
decoder D_h renders C[ŝ]. E_h, C and D_h stay frozen: they are the codebook stage's.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..vq.autoencoder import CodebookModel
from .code_predictor import CodePredictor
from .config import VQIGConfig
from .mapping import MappingNetwork
from .warping import WarpingNetwork


@dataclass
class VQIGOutput:
    logits: Tensor
    """[B, s·s, N] code scores."""
    indices: Tensor
    """[B, s, s] the predicted codes ŝ."""
    features: Tensor
    """[B, C, s, s] ẑ_f."""
    warped: Tensor
    """[B, 3, S, S] I_w."""
    image: Tensor
    """[B, 3, S, S] D_h(C[ŝ]) in −1..1."""


class VQIG(nn.Module):
    def __init__(self, config: VQIGConfig | None = None, codebook: CodebookModel | None = None):
        super().__init__()
        self.config = config or VQIGConfig()
        self.codebook = codebook or CodebookModel(self.config.codebook)
        if self.codebook.config != self.config.codebook:
            raise ValueError("the codebook model's config differs from the VQIG config's codebook")
        self.codebook.requires_grad_(False)
        self.warped_encoder = copy.deepcopy(self.codebook.encoder).requires_grad_(True)
        self.mapping = MappingNetwork(self.config)
        self.warping = WarpingNetwork(self.config)
        self.predictor = CodePredictor(self.config)

    def train(self, mode: bool = True) -> VQIG:
        """The frozen codebook stage stays in eval mode, so its usage statistics (and EMA codes) never move."""
        super().train(mode)
        self.codebook.eval()
        return self

    @torch.no_grad()
    def source_codes(self, source: Tensor) -> Tensor:
        """z_c [B, C, s, s] of source images [B, 3, S, S] in −1..1 (once per video)."""
        return self.codebook.encode(source).quantized

    def forward(
        self, source: Tensor, source_codes: Tensor, windows: Tensor, *, straight_through: bool = False
    ) -> VQIGOutput:
        """Source [B, 3, S, S], z_c [B, C, s, s], coefficient windows [B, D, window] → :class:`VQIGOutput`.

        ``straight_through`` decodes with one-hot codes whose gradient is the softmax's, so image-level losses reach
        the predictor (the second training stage); otherwise the lookup is a plain index → code."""
        descriptor = self.mapping(windows)
        warped, _ = self.warping(source, descriptor)
        prediction = self.predictor(source_codes, self.warped_encoder(warped), descriptor)
        indices = prediction.logits.argmax(-1)
        codebook = self.codebook.quantizer.codebook
        if straight_through:
            soft = prediction.logits.softmax(-1)
            hard = F.one_hot(indices, codebook.shape[0]).to(soft)
            codes = (hard + soft - soft.detach()) @ codebook
        else:
            codes = codebook[indices]
        batch, channels, height, width = source_codes.shape
        grid = codes.transpose(1, 2).reshape(batch, channels, height, width)
        return VQIGOutput(
            logits=prediction.logits,
            indices=indices.view(batch, height, width),
            features=prediction.features,
            warped=warped,
            image=self.codebook.decoder(grid),
        )
