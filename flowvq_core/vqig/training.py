"""Training steps of the VQIG's two stages (paper §3.3, after CodeFormer): code-level, then image-level.

Each step takes the source image, target frames of the same face and the coefficient windows that describe them;
the targets' code indices and quantized features come from the frozen codebook stage.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from ..vq.discriminator import PatchDiscriminator, hinge_generator_loss
from ..vq.perceptual import PerceptualLoss
from ..vq.training import ADVERSARIAL_FACTOR, adaptive_weight, update_discriminator
from .losses import code_level_losses, image_level_loss
from .model import VQIG


@dataclass
class VQIGStep:
    total: float
    code: float | None = None
    feature: float | None = None
    accuracy: float | None = None
    """Share of latent positions whose predicted code is the target's."""
    image: float | None = None
    adversarial: float | None = None


class VQIGTrainer:
    """Adam over the VQIG's trainable parts (E_w, ψ, W, φ, MHCA, AdaIN, T); E_h, C and D_h stay frozen."""

    def __init__(
        self,
        model: VQIG,
        *,
        learning_rate: float = 1e-4,
        perceptual: PerceptualLoss | None = None,
        discriminator: PatchDiscriminator | None = None,
    ):
        self.model = model
        self.perceptual = perceptual
        self.discriminator = discriminator
        parameters = [p for p in model.parameters() if p.requires_grad]
        self.optimizer = torch.optim.Adam(parameters, lr=learning_rate, betas=(0.9, 0.99))
        if discriminator is not None:
            self.discriminator_optimizer = torch.optim.Adam(discriminator.parameters(), lr=learning_rate,
                                                            betas=(0.5, 0.9))  # fmt: skip

    def code_step(self, source: Tensor, targets: Tensor, windows: Tensor) -> VQIGStep:
        """Stage one: source [1, 3, S, S], targets [B, 3, S, S], windows [B, D, window] (all images in −1..1)."""
        self.model.train()
        with torch.no_grad():
            codes = self.model.source_codes(source).expand(targets.shape[0], -1, -1, -1)
            target = self.model.codebook.encode(targets)
        output = self.model(source.expand_as(targets), codes, windows)
        losses = code_level_losses(output, target.indices, target.quantized, targets, self.perceptual)
        self.optimizer.zero_grad(set_to_none=True)
        losses.total.backward()
        self.optimizer.step()
        accuracy = (output.indices == target.indices).float().mean()
        return VQIGStep(total=float(losses.total.detach()), code=float(losses.code.detach()),
                        feature=float(losses.feature.detach()), accuracy=float(accuracy))  # fmt: skip

    def image_step(self, source: Tensor, targets: Tensor, windows: Tensor) -> VQIGStep:
        """Stage two: L1 (+ perceptual) (+ adaptive adversarial) on frames decoded through a straight-through lookup."""
        self.model.train()
        with torch.no_grad():
            codes = self.model.source_codes(source).expand(targets.shape[0], -1, -1, -1)
        output = self.model(source.expand_as(targets), codes, windows, straight_through=True)
        reconstruction = image_level_loss(output, targets, self.perceptual)
        total, adversarial = reconstruction, None
        if self.discriminator is not None:
            self.discriminator.requires_grad_(False)
            adversarial = hinge_generator_loss(self.discriminator(output.image))
            last = self.model.predictor.head[1].weight
            total = total + ADVERSARIAL_FACTOR * adaptive_weight(reconstruction, adversarial, last) * adversarial
        self.optimizer.zero_grad(set_to_none=True)
        total.backward()
        self.optimizer.step()
        if self.discriminator is not None:
            update_discriminator(self.discriminator, self.discriminator_optimizer, targets, output.image)
        return VQIGStep(total=float(total.detach()), image=float(reconstruction.detach()),
                        adversarial=None if adversarial is None else float(adversarial.detach()))  # fmt: skip
