"""Training steps of the VQIG's two stages (paper §3.3, after CodeFormer): code-level, then image-level.

Each step takes the source image, target frames of the same face and the coefficient windows that describe them;
the targets' code indices and quantized features come from the frozen codebook stage.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from ..vq.discriminator import PatchDiscriminator, hinge_generator_loss
from ..vq.perceptual import PerceptualLoss
from ..vq.training import ADVERSARIAL_FACTOR, adaptive_weight, bfloat16_autocast, update_discriminator
from .losses import code_level_losses, image_level_loss
from .model import VQIG, VQIGOutput


@dataclass
class VQIGStep:
    total: float
    code: float | None = None
    feature: float | None = None
    accuracy: float | None = None
    """Share of latent positions whose predicted code is the target's."""
    image: float | None = None
    adversarial: float | None = None
    grad_norm: float | None = None
    """The trainable parts' gradient norm before clipping."""


class _TupleOutput(nn.Module):
    """The VQIG returning a tuple: DistributedDataParallel finds the tensors of a tuple (not of a dataclass) when it
    looks for the parameters a step left unused (the image-level stage does not use the feature head)."""

    def __init__(self, model: VQIG):
        super().__init__()
        self.model = model

    def forward(self, *inputs: Tensor, straight_through: bool = False) -> tuple[Tensor, ...]:
        output = self.model(*inputs, straight_through=straight_through)
        return tuple(getattr(output, field.name) for field in dataclasses.fields(output))


class VQIGTrainer:
    """Adam over the VQIG's trainable parts (E_w, ψ, W, φ, MHCA, AdaIN, T); E_h, C and D_h stay frozen.

    ``amp``, ``max_grad_norm`` and ``wrap`` as in :class:`~flowvq_core.vq.training.CodebookTrainer`. Each step takes
    one source per target (several videos in a batch) or one source for all."""

    def __init__(
        self,
        model: VQIG,
        *,
        learning_rate: float = 1e-4,
        perceptual: PerceptualLoss | None = None,
        discriminator: PatchDiscriminator | None = None,
        amp: bool = False,
        max_grad_norm: float | None = None,
        wrap: Callable[[nn.Module], nn.Module] | None = None,
    ):
        self.model = model
        self.perceptual = perceptual
        self.discriminator = discriminator
        self.amp = amp
        self.max_grad_norm = max_grad_norm
        self.forward_model = wrap(_TupleOutput(model)) if wrap else None
        self.parameters = [p for p in model.parameters() if p.requires_grad]
        self.optimizer = torch.optim.Adam(self.parameters, lr=learning_rate, betas=(0.9, 0.99))
        if discriminator is not None:
            self.forward_discriminator = wrap(discriminator) if wrap else discriminator
            self.discriminator_optimizer = torch.optim.Adam(discriminator.parameters(), lr=learning_rate,
                                                            betas=(0.5, 0.9))  # fmt: skip

    def _forward(self, sources: Tensor, codes: Tensor, windows: Tensor, straight_through: bool = False) -> VQIGOutput:
        if self.forward_model is None:
            return self.model(sources, codes, windows, straight_through=straight_through)
        return VQIGOutput(*self.forward_model(sources, codes, windows, straight_through=straight_through))

    def _sources(self, source: Tensor, targets: Tensor) -> tuple[Tensor, Tensor]:
        with torch.no_grad():
            codes = self.model.source_codes(source)
        count = targets.shape[0]
        return source.expand(count, -1, -1, -1), codes.expand(count, -1, -1, -1)

    def _update(self, total: Tensor) -> float:
        self.optimizer.zero_grad(set_to_none=True)
        total.backward()
        grad_norm = torch.nn.utils.clip_grad_norm_(self.parameters, self.max_grad_norm or float("inf"))
        self.optimizer.step()
        return float(grad_norm)

    def code_step(self, source: Tensor, targets: Tensor, windows: Tensor) -> VQIGStep:
        """Stage one: source [1 or B, 3, S, S], targets [B, 3, S, S], windows [B, D, window] (images in −1..1)."""
        self.model.train()
        sources, codes = self._sources(source, targets)
        with torch.no_grad():
            target = self.model.codebook.encode(targets)
        with bfloat16_autocast(targets.device, self.amp):
            output = self._forward(sources, codes, windows)
            losses = code_level_losses(output, target.indices, target.quantized, targets, self.perceptual)
        grad_norm = self._update(losses.total.float())
        accuracy = (output.indices == target.indices).float().mean()
        return VQIGStep(total=float(losses.total.detach()), code=float(losses.code.detach()),
                        feature=float(losses.feature.detach()), accuracy=float(accuracy),
                        grad_norm=grad_norm)  # fmt: skip

    def image_step(self, source: Tensor, targets: Tensor, windows: Tensor) -> VQIGStep:
        """Stage two: L1 (+ perceptual) (+ adaptive adversarial) on frames decoded through a straight-through lookup."""
        self.model.train()
        sources, codes = self._sources(source, targets)
        autocast = bfloat16_autocast(targets.device, self.amp)
        with autocast:
            output = self._forward(sources, codes, windows, straight_through=True)
            reconstruction = image_level_loss(output, targets, self.perceptual).float()
            adversarial = None
            if self.discriminator is not None:
                self.discriminator.requires_grad_(False)
                adversarial = hinge_generator_loss(self.discriminator(output.image)).float()
        total = reconstruction
        if adversarial is not None:
            last = self.model.predictor.head[1].weight
            total = total + ADVERSARIAL_FACTOR * adaptive_weight(reconstruction, adversarial, last) * adversarial
        grad_norm = self._update(total)
        if self.discriminator is not None:
            update_discriminator(self.forward_discriminator, self.discriminator_optimizer, targets, output.image,
                                 autocast=autocast, max_grad_norm=self.max_grad_norm)  # fmt: skip
        return VQIGStep(total=float(total.detach()), image=float(reconstruction.detach()),
                        adversarial=None if adversarial is None else float(adversarial.detach()),
                        grad_norm=grad_norm)  # fmt: skip
