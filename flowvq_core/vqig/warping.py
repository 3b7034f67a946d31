"""W, the warping network: a descriptor-conditioned (AdaIN) hourglass predicts a flow field at 1/4 resolution that
moves the source image I_0 towards the target motion, giving I_w (paper §3.3, after PIRenderer)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .adain import AdaIN
from .config import VQIGConfig

FLOW_SCALE = 4
"""The flow is predicted at 1/4 of the image's resolution and upsampled."""


class AdaINConv(nn.Module):
    def __init__(self, in_channels: int, out_channels: int, descriptor_dim: int):
        super().__init__()
        self.conv = nn.Conv2d(in_channels, out_channels, 3, padding=1)
        self.norm = AdaIN(out_channels, descriptor_dim)

    def forward(self, x: Tensor, descriptor: Tensor) -> Tensor:
        return F.leaky_relu(self.norm(self.conv(x), descriptor), 0.2)


def identity_grid(batch: int, height: int, width: int, like: Tensor) -> Tensor:
    """[B, H, W, 2] sampling positions of every pixel centre in grid_sample's −1..1 coordinates."""
    theta = torch.eye(2, 3, dtype=like.dtype, device=like.device).expand(batch, 2, 3)
    return F.affine_grid(theta, [batch, 1, height, width], align_corners=False)


def warp(image: Tensor, flow: Tensor) -> Tensor:
    """Sample ``image`` [B, C, H, W] at identity + ``flow`` ([B, 2, h, w] offsets in −1..1 units, upsampled)."""
    batch, _, height, width = image.shape
    flow = F.interpolate(flow, size=(height, width), mode="bilinear", align_corners=False)
    grid = identity_grid(batch, height, width, image) + flow.permute(0, 2, 3, 1)
    return F.grid_sample(image, grid, mode="bilinear", padding_mode="border", align_corners=False)


class WarpingNetwork(nn.Module):
    def __init__(self, config: VQIGConfig):
        super().__init__()
        widths = [min(config.warp_channels * 2**level, 8 * config.warp_channels) for level in
                  range(config.warp_levels + 1)]  # fmt: skip
        self.stem = nn.Conv2d(3, widths[0], 7, padding=3)
        d = config.descriptor_dim
        self.down = nn.ModuleList(AdaINConv(widths[i], widths[i + 1], d) for i in range(config.warp_levels))
        self.up = nn.ModuleList(AdaINConv(widths[i + 1] + widths[i], widths[i], d) for i in range(config.warp_levels))
        self.flow = nn.Conv2d(widths[0], 2, 3, padding=1)
        nn.init.zeros_(self.flow.weight)
        nn.init.zeros_(self.flow.bias)  # starts as the identity warp

    def forward(self, source: Tensor, descriptor: Tensor) -> tuple[Tensor, Tensor]:
        """Source [N, 3, S, S] and σ [N, d] → (warped image I_w [N, 3, S, S], flow [N, 2, S/4, S/4])."""
        x = self.stem(F.interpolate(source, scale_factor=1 / FLOW_SCALE, mode="area"))
        skips = []
        for block in self.down:
            skips.append(x)
            x = F.avg_pool2d(block(x, descriptor), 2)
        for block, skip in zip(reversed(self.up), reversed(skips), strict=True):
            x = block(torch.cat([F.interpolate(x, size=skip.shape[-2:], mode="nearest"), skip], 1), descriptor)
        flow = self.flow(x)
        return warp(source, flow), flow
