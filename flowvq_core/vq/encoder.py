"""E_h: image [B, 3, S, S] in −1..1 → features [B, C_latent, S/2^L, S/2^L] to be quantized (VQGAN's encoder)."""

from __future__ import annotations

from torch import Tensor, nn

from .blocks import AttentionBlock, Downsample, ResBlock, middle_block, swish_out
from .config import CodebookConfig


class Encoder(nn.Module):
    def __init__(self, config: CodebookConfig):
        super().__init__()
        channels = config.base_channels
        self.conv_in = nn.Conv2d(3, channels, 3, padding=1)
        layers: list[nn.Module] = []
        resolution = config.image_size
        for level, multiplier in enumerate(config.channel_multipliers):
            width = config.base_channels * multiplier
            for _ in range(config.res_blocks):
                layers.append(ResBlock(channels, width))
                channels = width
                if resolution in config.attention_resolutions:
                    layers.append(AttentionBlock(channels))
            if level != len(config.channel_multipliers) - 1:
                layers.append(Downsample(channels))
                resolution //= 2
        self.down = nn.Sequential(*layers)
        self.middle = middle_block(channels)
        self.conv_out = swish_out(channels, config.latent_channels)

    def forward(self, image: Tensor) -> Tensor:
        return self.conv_out(self.middle(self.down(self.conv_in(image))))
