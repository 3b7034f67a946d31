"""Edits of a coefficient sequence after generation: per-group gains, head-motion amplitude, temporal smoothing.

What a user turns when the motion is right but too much or too little of it: a livelier mouth, fewer visible
blinks, calmer brows, a broader smile, a steadier head, less jitter.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor

from .coefficients import CoefficientSequence
from .errors import InvalidOptionError
from .face.rig import UNIT_NAMES

UNIT_GROUPS: dict[str, tuple[str, ...]] = {
    "mouth": (
        "jawOpen", "mouthClose", "mouthFunnel", "mouthPucker", "mouthStretchLeft", "mouthStretchRight",
        "mouthRollLower", "mouthRollUpper", "mouthShrugLower", "mouthShrugUpper", "mouthPressLeft", "mouthPressRight",
        "mouthLowerDownLeft", "mouthLowerDownRight", "mouthUpperUpLeft", "mouthUpperUpRight",
    ),
    "blink": ("eyeBlinkLeft", "eyeBlinkRight"),
    "brows": ("browDownLeft", "browDownRight", "browInnerUp", "browOuterUpLeft", "browOuterUpRight"),
    "smile": ("mouthSmileLeft", "mouthSmileRight"),
}  # fmt: skip
"""The units each gain of :func:`edit_coefficients` scales (the speech units of the mouth, not its smile)."""
MAX_GAIN = 3.0


def edit_coefficients(
    sequence: CoefficientSequence,
    *,
    gains: dict[str, float] | None = None,
    pose_amplitude: float = 1.0,
    smoothing: float = 0.0,
) -> CoefficientSequence:
    """A new sequence with each group's units (``UNIT_GROUPS``) times its gain (clamped to the rig's 0..1), the head's
    motion away from its first frame times ``pose_amplitude`` (0: a still head at the first frame's pose), and every
    curve smoothed over time by a Gaussian of ``smoothing`` frames (σ; 0: none)."""
    gains = dict(gains or {})
    for group, gain in gains.items():
        if group not in UNIT_GROUPS:
            raise InvalidOptionError(f"unknown unit group {group!r}; the groups are {', '.join(UNIT_GROUPS)}")
        _check_range(f"{group} gain", gain, MAX_GAIN)
    _check_range("pose_amplitude", pose_amplitude, MAX_GAIN)
    _check_range("smoothing", smoothing, 50.0)
    names = sequence.unit_names or (UNIT_NAMES if sequence.expression.shape[-1] == len(UNIT_NAMES) else None)
    expression = sequence.expression.clone()
    if any(gain != 1.0 for gain in gains.values()):
        if names is None:
            raise InvalidOptionError(
                "these coefficients name no units, so unit gains cannot be applied; use a FlowVQ rig's"
            )
        for group, gain in gains.items():
            columns = [names.index(name) for name in UNIT_GROUPS[group] if name in names]
            expression[..., columns] = (expression[..., columns] * gain).clamp(0, 1)
    pose = sequence.pose[:, :1] + pose_amplitude * (sequence.pose - sequence.pose[:, :1])
    if smoothing > 0:
        expression, pose = smooth_in_time(expression, smoothing), smooth_in_time(pose, smoothing)
    return CoefficientSequence(expression, pose, sequence.fps, sequence.unit_names, sequence.face_model_id)


def smooth_in_time(curves: Tensor, sigma: float) -> Tensor:
    """[B, T, C] curves convolved along T with a Gaussian of σ = ``sigma`` frames (edges mirrored)."""
    radius = max(1, math.ceil(3 * sigma))
    offsets = torch.arange(-radius, radius + 1, dtype=curves.dtype, device=curves.device)
    kernel = torch.exp(-0.5 * (offsets / sigma) ** 2)
    kernel = (kernel / kernel.sum()).view(1, 1, -1)
    batch, frames, channels = curves.shape
    flat = curves.permute(0, 2, 1).reshape(batch * channels, 1, frames)
    padding = min(radius, frames - 1)
    padded = F.pad(flat, (padding, padding), mode="reflect") if padding else flat
    if padding < radius:
        padded = F.pad(padded, (radius - padding, radius - padding), mode="replicate")
    return F.conv1d(padded, kernel).view(batch, channels, frames).permute(0, 2, 1).contiguous()


def _check_range(name: str, value: float, high: float) -> None:
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value <= high:
        raise InvalidOptionError(f"{name} must be a number from 0 to {high:g}, got {value!r}")
