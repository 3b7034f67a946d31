"""The codebook model of paper §3.3: E_h, the codebook C and D_h (a VQGAN): image → code indices → image."""

from __future__ import annotations

from dataclasses import dataclass

from torch import Tensor, nn

from .config import CodebookConfig
from .decoder import Decoder
from .encoder import Encoder
from .quantizer import Quantized, VectorQuantizer


@dataclass
class Reconstruction:
    image: Tensor
    """[B, 3, S, S] decoded from the nearest codes, −1..1 (not clamped: the losses see the raw output)."""
    quantized: Quantized


class CodebookModel(nn.Module):
    def __init__(self, config: CodebookConfig | None = None):
        super().__init__()
        self.config = config or CodebookConfig()
        self.encoder = Encoder(self.config)
        self.quantizer = VectorQuantizer(
            self.config.num_codes, self.config.latent_channels, commitment=self.config.commitment,
            ema_decay=self.config.ema_decay,
        )  # fmt: skip
        self.decoder = Decoder(self.config)

    def encode(self, image: Tensor) -> Quantized:
        """Image [B, 3, S, S] in −1..1 → quantized features and their code indices [B, s, s]."""
        size = self.config.image_size
        if image.shape[-2:] != (size, size):
            raise ValueError(f"this codebook model takes {size}×{size} images, got {tuple(image.shape[-2:])}")
        return self.quantizer(self.encoder(image))

    def decode_indices(self, indices: Tensor) -> Tensor:
        """Code indices [B, s, s] → image [B, 3, S, S] (what the VQIG's predicted codes go through)."""
        return self.decoder(self.quantizer.lookup(indices))

    def forward(self, image: Tensor) -> Reconstruction:
        quantized = self.encode(image)
        return Reconstruction(self.decoder(quantized.quantized), quantized)
