"""How one subject's eyes look from wide open to closed: precise blinks against a known identity.

FaceMesh places the lids to about ±0.02 eye widths, and a whole blink moves them by only about 0.2 eye widths, so
lid landmarks alone read a blink to about ±0.2. Once a photo of the subject is known (an identity, or a video's
first frame), the geometric renderer can show that subject's own eyes at every opening: ``EyeAppearance`` renders
a ladder of openings (eyeWide 1 → 0 → eyeBlink 1) once, samples each eye on a patch fixed to the head (so a turned
head is sampled where the patch lies in that view), and reads a new photo's eyes as the rung whose patch matches
best (normalised cross-correlation, so lighting changes matter little), searched over small shifts of the patch
(pose and landmark noise) and interpolated between rungs. All pixels of the eye take part, not a few landmarks.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from . import topology
from .crop import CropBox, crop_images
from .pose import project
from .renderer import GeometricRenderer
from .rig import unit_index

BLINK_STEP = 0.05
WIDE_STEP = 0.1
PATCH_ALONG = (-0.15, 1.15, 41)
"""Patch columns from the outer to the inner eye corner, in eye widths (start, stop, samples)."""
PATCH_ACROSS = (-0.55, 0.55, 45)
"""Patch rows from above to below the corner line, in eye widths: both lids and the skin around them, not the brow."""
SHIFT_RANGE = 0.1
"""Largest shift of the patch searched, in eye widths along each axis (pose error, landmark noise)."""
SHIFT_STEPS = 9
WEIGHT_FLOOR = 0.1
ANALYSIS_SIZE = 160
"""Side in pixels of the face crop the patches are sampled from: rendered crops and photos both come down to it
(antialiased), so a sharp render and a soft photo of the same eye compare alike."""
EYES = ((topology.EYE_OUTER_LEFT, topology.EYE_INNER_LEFT), (topology.EYE_OUTER_RIGHT, topology.EYE_INNER_RIGHT))
"""Left eye, then right eye: the order of ``fitting.EYE_UNITS``."""


def opening_ladder() -> Tensor:
    """[L] signed openings: −w is eyeWide = w, +b is eyeBlink = b (0: the identity's open eye)."""
    wide = -torch.arange(round(1 / WIDE_STEP), 0, -1, dtype=torch.float64) * WIDE_STEP
    blink = torch.arange(round(1 / BLINK_STEP) + 1, dtype=torch.float64) * BLINK_STEP
    return torch.cat([wide, blink])


def _eye_frames(neutral: Tensor) -> list[tuple[Tensor, Tensor, Tensor]]:
    """Per eye (outer corner, across, down) in canonical head space: ``across`` runs to the inner corner, ``down``
    is as long, orthogonal to it and runs down the face."""
    neutral = neutral.double()
    up = neutral[topology.FOREHEAD] - neutral[topology.NASION]
    frames = []
    for outer, inner in EYES:
        across = neutral[inner] - neutral[outer]
        down = (up @ across) / (across @ across) * across - up
        frames.append((neutral[outer], across, down / down.norm() * across.norm()))
    return frames


def eye_patch_points(neutral: Tensor) -> Tensor:
    """[2, R, C, 3] canonical head points of each eye's patch: a plane through the eye corners, rows running down
    the face, columns from the outer to the inner corner."""
    along = torch.linspace(*PATCH_ALONG, dtype=torch.float64)
    below = torch.linspace(*PATCH_ACROSS, dtype=torch.float64)
    return torch.stack(
        [origin + along[None, :, None] * across + below[:, None, None] * down
         for origin, across, down in _eye_frames(neutral)]
    )  # fmt: skip


def patch_shifts(neutral: Tensor) -> Tensor:
    """[K, 2, 3] canonical offsets of each eye's patch for every searched shift."""
    steps = torch.linspace(-SHIFT_RANGE, SHIFT_RANGE, SHIFT_STEPS, dtype=torch.float64)
    offsets = [
        (steps[:, None, None] * across + steps[None, :, None] * down).reshape(-1, 3)
        for _, across, down in _eye_frames(neutral)
    ]
    return torch.stack(offsets, 1)


def _analysis_size(crops: Tensor) -> Tensor:
    """Crops [N, S, S, 3] → [N, A, A, 3] at ``ANALYSIS_SIZE`` (antialiased when shrinking)."""
    if crops.shape[1] == ANALYSIS_SIZE:
        return crops
    resized = F.interpolate(crops.permute(0, 3, 1, 2), size=ANALYSIS_SIZE, mode="bilinear", antialias=True)
    return resized.permute(0, 2, 3, 1)


def _sample(crops: Tensor, points: Tensor) -> Tensor:
    """Crops [N, S, S, 3] and crop-unit points [N, P, 2] → colours [N, P, 3] (bilinear)."""
    grid = (points * 2 - 1).unsqueeze(1).to(crops.dtype)
    return F.grid_sample(crops.permute(0, 3, 1, 2), grid, align_corners=False).squeeze(2).transpose(1, 2)


def _normalised(colours: Tensor, weights: Tensor) -> Tensor:
    """Colours [..., P, 3] → weighted zero mean and unit norm over the patch: a dot product of two is their
    correlation with each pixel counted by ``weights`` [..., P]."""
    weights = weights.unsqueeze(-1)
    mean = (colours * weights).sum((-2, -1), keepdim=True) / (3 * weights.sum(-2, keepdim=True))
    scaled = (colours - mean) * weights.sqrt()
    return scaled / scaled.flatten(-2).norm(dim=-1)[..., None, None].clamp_min(1e-9)


def _change_weights(colours: Tensor) -> Tensor:
    """[L, 2, P, 3] patches along the ladder → [2, P]: how much each pixel changes as the eye opens and closes
    (the lids), with a floor so the still skin around them still anchors the match; brows and cheeks, which other
    units move, weigh little."""
    change = colours.std(0).mean(-1)
    change = change / change.mean(-1, keepdim=True).clamp_min(1e-9)
    return change + WEIGHT_FLOOR


@dataclass
class EyeAppearance:
    """The identity's eye patches along ``opening_ladder()``, and the patch geometry to sample new photos with."""

    patches: Tensor
    """[L, 2, P, 3] normalised colour patches (P = rows × columns) of the left and right eye at every rung."""
    weights: Tensor
    """[2, P] each patch pixel's weight in the comparison (``_change_weights``)."""
    points: Tensor
    """[2, P, 3] canonical head points of the patches."""
    shifts: Tensor
    """[K, 2, 3] canonical offsets searched around them."""

    @classmethod
    def from_face(
        cls, crop: Tensor, neutral: Tensor, expression: Tensor, pose: Tensor, renderer: GeometricRenderer | None = None
    ) -> EyeAppearance:
        """Render the face crop [S, S, 3] (0..1) of a fitted photo at every opening of both eyes."""
        renderer = renderer or GeometricRenderer()
        ladder = opening_ladder()
        expressions = expression.double().repeat(len(ladder), 1)
        for side in ("Left", "Right"):
            expressions[:, unit_index(f"eyeBlink{side}")] = ladder.clamp_min(0)
            expressions[:, unit_index(f"eyeWide{side}")] = (-ladder).clamp_min(0)
        poses = pose.double().repeat(len(ladder), 1)
        source = renderer.prepare(crop.float(), neutral, expression, pose)
        frames = _analysis_size(renderer.render_frames(source, expressions.float(), poses.float()))
        points = eye_patch_points(neutral).flatten(1, 2)
        where = project(points.reshape(-1, 3), pose.double())[:, :2].reshape(1, -1, 2).expand(len(ladder), -1, -1)
        colours = _sample(frames.float(), where.float()).reshape(len(ladder), 2, -1, 3)
        weights = _change_weights(colours)
        return cls(_normalised(colours, weights), weights, points, patch_shifts(neutral))

    def measure(self, crops: Tensor, poses: Tensor) -> Tensor:
        """Face crops [N, S, S, 3] (0..1) and their fitted poses [N, 6] → β [N, 4] of ``fitting.EYE_UNITS``."""
        candidates = self.points.unsqueeze(0) + self.shifts[:, :, None, :]  # [K, 2, P, 3]
        out = []
        for crop, pose in zip(_analysis_size(crops), poses, strict=True):
            where = project(candidates.reshape(-1, 3), pose.double())[:, :2].reshape(1, -1, 2)
            colours = _sample(crop.unsqueeze(0).float(), where.float()).reshape(*candidates.shape[:3], 3)
            scores = torch.einsum("kepc,lepc->kel", _normalised(colours, self.weights), self.patches)  # [K, 2, L]
            out.append(_best_opening(scores.amax(0)))
        openings = torch.stack(out)
        blink, wide = openings.clamp_min(0), (-openings).clamp_min(0)
        return torch.stack([blink[:, 0], wide[:, 0], blink[:, 1], wide[:, 1]], -1)

    def measure_images(self, images: Iterable[np.ndarray], box: CropBox, poses: Tensor) -> Tensor:
        """Photos or video frames (HxWx3 uint8) with their crop box and fitted poses [..., 6] → β [..., 4].

        One frame is cropped at a time, so a long video needs no more memory than a short one."""
        box = dataclasses.replace(box, output_size=ANALYSIS_SIZE)
        measured = [
            self.measure(crop_images(torch.from_numpy(np.ascontiguousarray(image)).float() / 255, box), pose[None])
            for image, pose in zip(images, poses.reshape(-1, 6), strict=True)
        ]
        return torch.cat(measured).reshape(*poses.shape[:-1], 4)


def _best_opening(scores: Tensor) -> Tensor:
    """Scores [2, L] along the ladder → the signed opening [2] at the peak: the vertex of the parabola through the
    best rung and its two neighbours (the last three at an end; rungs are not evenly spaced), kept between them."""
    ladder = opening_ladder().to(scores)
    best = scores.argmax(-1).clamp(1, len(ladder) - 2)
    x0, x1, x2 = (ladder[best + k] for k in (-1, 0, 1))
    y0, y1, y2 = (scores.gather(-1, (best + k).unsqueeze(-1)).squeeze(-1) for k in (-1, 0, 1))
    numerator = (x1 - x0) ** 2 * (y1 - y2) - (x1 - x2) ** 2 * (y1 - y0)
    denominator = (x1 - x0) * (y1 - y2) - (x1 - x2) * (y1 - y0)
    vertex = x1 - 0.5 * numerator / torch.where(denominator.abs() > 1e-12, denominator, torch.ones_like(denominator))
    curvature = (y2 - y1) / (x2 - x1) - (y1 - y0) / (x1 - x0)
    best_of_three = torch.where((y0 >= y1) & (y0 >= y2), x0, torch.where(y2 >= y1, x2, x1))
    return torch.where(curvature < 0, torch.minimum(torch.maximum(vertex, x0), x2), best_of_three)
