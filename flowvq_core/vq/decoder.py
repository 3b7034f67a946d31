"""D_h: quantized features [B, C_latent, s, s] → image [B, 3, S, S] in −1..1 (VQGAN's decoder, the encoder mirrored)."""

from __future__ import annotations

from torch import Tensor, nn

from .blocks import AttentionBlock, ResBlock, Upsample, middle_block, swish_out
from .config import CodebookConfig


class Decoder(nn.Module):
    def __init__(self, config: CodebookConfig):
        super().__init__()
        multipliers = config.channel_multipliers
        channels = config.base_channels * multipliers[-1]
        resolution = config.latent_size
        self.conv_in = nn.Conv2d(config.latent_channels, channels, 3, padding=1)
        self.middle = middle_block(channels)
        layers: list[nn.Module] = []
        for level in reversed(range(len(multipliers))):
            width = config.base_channels * multipliers[level]
            for _ in range(config.res_blocks):
                layers.append(ResBlock(channels, width))
                channels = width
                if resolution in config.attention_resolutions:
                    layers.append(AttentionBlock(channels))
            if level != 0:
                layers.append(Upsample(channels))
                resolution *= 2
        self.up = nn.Sequential(*layers)
        self.conv_out = swish_out(channels, 3)

    @property
    def last_layer(self) -> nn.Parameter:
        """The weight the adaptive adversarial weight measures gradient norms at (VQGAN)."""
        return self.conv_out[-1].weight

    def forward(self, features: Tensor) -> Tensor:
        return self.conv_out(self.up(self.middle(self.conv_in(features))))
