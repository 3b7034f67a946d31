"""A picture of a coefficient sequence: the curves users tune (mouth, blinks, smile, brows, head angles) over time."""

from __future__ import annotations

import numpy as np
from PIL import Image, ImageDraw

from .coefficients import CoefficientSequence
from .face.rig import UNIT_NAMES

EXPRESSION_CURVES: dict[str, tuple[tuple[str, ...], tuple[int, int, int]]] = {
    "jawOpen": (("jawOpen",), (220, 60, 60)),
    "blink": (("eyeBlinkLeft", "eyeBlinkRight"), (60, 120, 230)),
    "smile": (("mouthSmileLeft", "mouthSmileRight"), (240, 170, 30)),
    "brows": (("browInnerUp", "browOuterUpLeft", "browOuterUpRight"), (70, 170, 90)),
}
"""Top panel: name → (units averaged, colour); values 0..1."""
POSE_CURVES = {"pitch": (0, (200, 80, 200)), "yaw": (1, (40, 170, 190)), "roll": (2, (130, 130, 130))}
"""Bottom panel: head angles in degrees around the first frame's."""
BACKGROUND, GRID, TEXT = (250, 250, 248), (215, 215, 210), (40, 40, 40)


def plot_curves(sequence: CoefficientSequence, sample: int = 0, width: int = 768, height: int = 384) -> np.ndarray:
    """[height, width, 3] uint8: expression curves on top (0..1), head angles below (degrees), time along x."""
    if not 0 <= sample < sequence.num_samples:
        raise IndexError(f"sample {sample} does not exist; this sequence has samples 0..{sequence.num_samples - 1}")
    names = sequence.unit_names or (UNIT_NAMES if sequence.expression.shape[-1] == len(UNIT_NAMES) else ())
    expression = sequence.expression[sample].float().cpu().numpy()
    angles = np.degrees(sequence.pose[sample, :, :3].float().cpu().numpy())
    angles = angles - angles[:1]
    image = Image.new("RGB", (width, height), BACKGROUND)
    draw = ImageDraw.Draw(image)
    margin, half = 8, height // 2
    top = (margin, margin + 12, width - margin, half - margin)
    bottom = (margin, half + 12, width - margin, height - margin)
    expression_lines = {
        label: (expression[:, [names.index(n) for n in units if n in names]].mean(1), colour)
        for label, (units, colour) in EXPRESSION_CURVES.items()
        if any(n in names for n in units)
    }
    _panel(draw, top, expression_lines, 0.0, 1.0, "expression (0..1)")
    span = max(2.0, float(np.abs(angles).max()))
    pose_lines = {label: (angles[:, column], colour) for label, (column, colour) in POSE_CURVES.items()}
    seconds = sequence.num_frames / sequence.fps
    _panel(draw, bottom, pose_lines, -span, span, f"head angles (±{span:.1f}°), {seconds:.1f} s")
    return np.asarray(image)


def _panel(draw: ImageDraw.ImageDraw, box: tuple[int, int, int, int], lines: dict, low: float, high: float,
           title: str) -> None:  # fmt: skip
    left, top, right, bottom = box
    draw.rectangle(box, outline=GRID)
    for fraction in (0.25, 0.5, 0.75):
        y = bottom - fraction * (bottom - top)
        draw.line([(left, y), (right, y)], fill=GRID)
    draw.text((left, top - 12), title, fill=TEXT)
    x_text = left + 6 * len(title) + 16
    for label, (values, colour) in lines.items():
        frames = len(values)
        xs = left + np.arange(frames) * (right - left) / max(frames - 1, 1)
        ys = bottom - (np.clip(values, low, high) - low) / (high - low) * (bottom - top)
        points = list(zip(xs.tolist(), ys.tolist(), strict=True))
        if len(points) > 1:
            draw.line(points, fill=colour, width=2)
        else:
            draw.point(points, fill=colour)
        draw.text((x_text, top - 12), label, fill=colour)
        x_text += 6 * len(label) + 12
