"""Renderers for tests: a tiny random-weight VQIG, and a renderer that implements the protocol and nothing else."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor


def tiny_vqig(chunk: int = 2):
    """A VQIG renderer of the tiny preset with fixed random weights (64 px, a 9-frame coefficient window)."""
    from flowvq_core.vqig import VQIG, VQIGConfig
    from flowvq_core.vqig.renderer import VQIGRenderer

    torch.manual_seed(0)
    return VQIGRenderer(VQIG(VQIGConfig.preset("tiny")), chunk=chunk)


@dataclass
class CropSource:
    image: Tensor
    """[S, S, 3] the face crop."""


class WindowMeanRenderer:
    """A renderer the library has never heard of: each frame is the source crop darkened to the mean of the first
    expression unit over the frame and its neighbours, so it shows whether chunks come with their context."""

    chunk = 3
    context = 1

    def __init__(self) -> None:
        self.prepared = 0

    def prepare(self, image: Tensor, neutral: Tensor, expression: Tensor, pose: Tensor) -> CropSource:
        self.prepared += 1
        return CropSource(image)

    def render_chunk(
        self, source: CropSource, expression: Tensor, pose: Tensor, *, masks: bool
    ) -> tuple[Tensor, Tensor | None]:
        level = expression[:, 0].float().unfold(0, 2 * self.context + 1, 1).mean(-1).to(source.image.device)
        frames = source.image.float().unsqueeze(0) * level.view(-1, 1, 1, 1)
        return frames, torch.full(frames.shape[:3], 0.5, device=frames.device) if masks else None
