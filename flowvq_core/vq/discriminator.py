"""The PatchGAN discriminator of the codebook stage and its hinge losses (VQGAN)."""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor, nn


class PatchDiscriminator(nn.Module):
    """Strided convolutions → a map of real/fake logits, one per overlapping patch (pix2pix's 70×70 PatchGAN)."""

    def __init__(self, channels: int = 64, layers: int = 3):
        super().__init__()
        self.channels, self.layers = channels, layers
        modules: list[nn.Module] = [nn.Conv2d(3, channels, 4, stride=2, padding=1), nn.LeakyReLU(0.2)]
        width = channels
        for index in range(1, layers + 1):
            previous, width = width, channels * min(2**index, 8)
            stride = 2 if index < layers else 1
            modules += [nn.Conv2d(previous, width, 4, stride=stride, padding=1, bias=False), nn.BatchNorm2d(width),
                        nn.LeakyReLU(0.2)]  # fmt: skip
        modules.append(nn.Conv2d(width, 1, 4, stride=1, padding=1))
        self.net = nn.Sequential(*modules)

    def forward(self, image: Tensor) -> Tensor:
        return self.net(image)


def hinge_discriminator_loss(real_logits: Tensor, fake_logits: Tensor) -> Tensor:
    """½ (E[relu(1 − D(x))] + E[relu(1 + D(x̂))])."""
    return 0.5 * (F.relu(1 - real_logits).mean() + F.relu(1 + fake_logits).mean())


def hinge_generator_loss(fake_logits: Tensor) -> Tensor:
    """−E[D(x̂)]."""
    return -fake_logits.mean()
