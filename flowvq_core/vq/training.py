"""One optimisation step of the codebook stage (paper §3.3): L1 + perceptual + adaptive adversarial + code losses.

L = ‖x − x̂‖₁ + λ_per·L_per(x, x̂) + λ·L_adv(x̂) + L_code, with λ = λ_adv · ‖∇L_rec‖ / ‖∇L_adv‖ measured at the
decoder's last layer (VQGAN's adaptive weight, λ_adv = 0.8) and L_code the codebook + commitment (β = 0.25) terms.
The discriminator (PatchGAN, hinge loss) joins after ``adversarial_start`` steps, as in VQGAN, so the autoencoder
first learns to reconstruct. Dead codes are restarted on encoder outputs every ``restart_every`` steps.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from .autoencoder import CodebookModel
from .discriminator import PatchDiscriminator, hinge_discriminator_loss, hinge_generator_loss
from .perceptual import PerceptualLoss

ADVERSARIAL_FACTOR = 0.8
MAX_ADAPTIVE_WEIGHT = 1e4


def update_discriminator(
    discriminator: nn.Module,
    optimizer: torch.optim.Optimizer,
    real: Tensor,
    fake: Tensor,
    *,
    autocast: contextlib.AbstractContextManager | None = None,
    max_grad_norm: float | None = None,
) -> Tensor:
    """One hinge-loss step of the discriminator on real images and (detached) generated ones; returns its loss.

    Real and fake go through separate calls, as in VQGAN, so the batch norms see one kind of image at a time."""
    parameters = list(discriminator.parameters())
    for parameter in parameters:
        parameter.requires_grad_(True)
    with autocast or contextlib.nullcontext():
        loss = hinge_discriminator_loss(discriminator(real), discriminator(fake.detach())).float()
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    if max_grad_norm:
        torch.nn.utils.clip_grad_norm_(parameters, max_grad_norm)
    optimizer.step()
    return loss


def bfloat16_autocast(device: torch.device, enabled: bool) -> contextlib.AbstractContextManager:
    """bfloat16 autocast on CUDA when ``enabled`` (no loss scaling needed); a no-op elsewhere."""
    return torch.autocast("cuda", torch.bfloat16, enabled=enabled and device.type == "cuda")


def adaptive_weight(reconstruction: Tensor, adversarial: Tensor, last_layer: Tensor) -> Tensor:
    """‖∇_w L_rec‖ / (‖∇_w L_adv‖ + 1e-4) at the decoder's last weight w, clamped and detached (VQGAN)."""
    rec_grad = torch.autograd.grad(reconstruction, last_layer, retain_graph=True)[0]
    adv_grad = torch.autograd.grad(adversarial, last_layer, retain_graph=True)[0]
    return (rec_grad.norm() / (adv_grad.norm() + 1e-4)).clamp(0, MAX_ADAPTIVE_WEIGHT).detach()


@dataclass
class StepLosses:
    reconstruction: float
    perceptual: float | None
    adversarial: float | None
    adaptive_weight: float | None
    code: float
    discriminator: float | None
    perplexity: float
    restarted_codes: int = 0
    grad_norm: float | None = None
    """The autoencoder's gradient norm before clipping."""


class CodebookTrainer:
    """Adam on the codebook model (and the discriminator once it joins); ``step(images)`` with images in −1..1.

    ``amp`` runs the forward passes under bfloat16 autocast on CUDA; ``max_grad_norm`` clips each optimizer's
    gradients; ``wrap`` (DistributedDataParallel, say) wraps the model and the discriminator for the forward passes
    that train them, while the adaptive weight, the generator's adversarial term and code restarts use the modules
    themselves."""

    def __init__(
        self,
        model: CodebookModel,
        *,
        perceptual: PerceptualLoss | None = None,
        perceptual_weight: float = 1.0,
        learning_rate: float = 1e-4,
        adversarial_start: int = 2000,
        restart_every: int = 200,
        discriminator: PatchDiscriminator | None = None,
        amp: bool = False,
        max_grad_norm: float | None = None,
        wrap: Callable[[nn.Module], nn.Module] | None = None,
        say: Callable[[str], None] = print,
    ):
        self.model = model
        self.perceptual = perceptual
        self.perceptual_weight = perceptual_weight
        self.adversarial_start = adversarial_start
        self.restart_every = restart_every
        self.discriminator = discriminator or PatchDiscriminator()
        self.amp = amp
        self.max_grad_norm = max_grad_norm
        self.forward_model = wrap(model) if wrap else model
        self.forward_discriminator = wrap(self.discriminator) if wrap else self.discriminator
        betas = (0.5, 0.9)
        self.parameters = [p for p in model.parameters() if p.requires_grad]
        self.optimizer = torch.optim.Adam(self.parameters, lr=learning_rate, betas=betas)
        self.discriminator_optimizer = torch.optim.Adam(self.discriminator.parameters(), lr=learning_rate, betas=betas)
        self.steps = 0
        if perceptual is None:
            say("no VGG19 weights were given: training the codebook without the perceptual loss")

    @property
    def restart_due(self) -> bool:
        """Whether the last step restarted dead codes (on every rank at once)."""
        return bool(self.restart_every) and self.steps > 0 and self.steps % self.restart_every == 0

    def step(self, images: Tensor) -> StepLosses:
        self.model.train()
        autocast = bfloat16_autocast(images.device, self.amp)
        use_gan = self.steps >= self.adversarial_start
        with autocast:
            out = self.forward_model(images)
            reconstruction = (out.image.float() - images).abs().mean()
            total = reconstruction + out.quantized.loss
            perceptual = None
            if self.perceptual is not None:
                perceptual = self.perceptual(out.image, images).float()
                total = total + self.perceptual_weight * perceptual
            adversarial = weight = None
            if use_gan:
                self.discriminator.requires_grad_(False)
                adversarial = hinge_generator_loss(self.discriminator(out.image)).float()
        if use_gan:
            rec_total = reconstruction if perceptual is None else reconstruction + self.perceptual_weight * perceptual
            weight = ADVERSARIAL_FACTOR * adaptive_weight(rec_total, adversarial, self.model.decoder.last_layer)
            total = total + weight * adversarial
        self.optimizer.zero_grad(set_to_none=True)
        total.backward()
        grad_norm = torch.nn.utils.clip_grad_norm_(self.parameters, self.max_grad_norm or float("inf"))
        self.optimizer.step()
        discriminator_loss = None
        if use_gan:
            discriminator_loss = update_discriminator(
                self.forward_discriminator, self.discriminator_optimizer, images, out.image,
                autocast=autocast, max_grad_norm=self.max_grad_norm,
            )  # fmt: skip
        self.steps += 1
        restarted = 0
        if self.restart_due:
            with torch.no_grad(), autocast:
                restarted = self.model.quantizer.restart_dead_codes(self.model.encoder(images).float())
        return StepLosses(
            reconstruction=_number(reconstruction),
            perceptual=_number(perceptual),
            adversarial=_number(adversarial),
            adaptive_weight=_number(weight),
            code=_number(out.quantized.loss),
            discriminator=_number(discriminator_loss),
            perplexity=_number(out.quantized.perplexity),
            restarted_codes=restarted,
            grad_norm=_number(grad_norm),
        )


def _number(value: Tensor | None) -> float | None:
    return None if value is None else float(value.detach())
