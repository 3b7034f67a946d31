"""The VQIG's two training stages (paper eq. 18 and eq. 14–15, after CodeFormer)."""

from __future__ import annotations

from dataclasses import dataclass

import torch.nn.functional as F
from torch import Tensor

from ..vq.perceptual import PerceptualLoss
from .model import VQIGOutput


@dataclass
class VQIGLosses:
    total: Tensor
    code: Tensor
    """Cross-entropy of the predicted code indices against the target frame's (L^VQIG_code)."""
    feature: Tensor
    """‖ẑ_f − z_c‖² against the target frame's quantized features (L^VQIG_feat)."""
    warp: Tensor | None
    """Perceptual loss of the warped image against the target (teaches the warping network), when VGG19 is given."""


def code_level_losses(
    output: VQIGOutput,
    target_indices: Tensor,
    target_codes: Tensor,
    target_image: Tensor,
    perceptual: PerceptualLoss | None = None,
) -> VQIGLosses:
    """Stage one: the target frame's code indices [B, s, s] and quantized features [B, C, s, s] supervise the
    prediction; the warped image is compared with the target image [B, 3, S, S] perceptually when possible."""
    code = F.cross_entropy(output.logits.flatten(0, 1), target_indices.flatten())
    feature = F.mse_loss(output.features, target_codes)
    warp = None if perceptual is None else perceptual(output.warped, target_image)
    total = code + feature + (0 if warp is None else warp)
    return VQIGLosses(total=total, code=code, feature=feature, warp=warp)


def image_level_loss(output: VQIGOutput, target_image: Tensor, perceptual: PerceptualLoss | None = None) -> Tensor:
    """Stage two (with a straight-through decode): L1 + perceptual between the decoded frame and the target; the
    adversarial term comes from the codebook stage's discriminator in the trainer."""
    loss = (output.image - target_image).abs().mean()
    if perceptual is not None:
        loss = loss + perceptual(output.image, target_image)
    return loss
