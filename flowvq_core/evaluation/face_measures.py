"""What the judges read off rendered pixels: FaceMesh landmarks of every frame, and the mouth and eye shapes they give.

Every judge that scores the mouth or the eyes runs FaceMesh on the frames a viewer sees (never on the coefficients
that made them), without temporal smoothing, so a closure that lasts one frame is not averaged away. Lengths are
divided by the inter-ocular distance (between the eye centres), so they do not depend on the image size or the
distance to the camera.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np

from ..face import topology as topo
from ..face.landmarks import TrackedLandmarks, get_backend

INNER_LIP_PAIRS = ((13, 14), (82, 87), (312, 317), (81, 178), (311, 402))
"""Upper and lower inner-lip vertices facing each other across the mouth opening (midline first)."""
EYE_LID_PAIRS = {
    "left": ((386, 374), (385, 380), (387, 373)),
    "right": ((159, 145), (158, 153), (160, 144)),
}
"""Upper and lower lid vertices facing each other, per eye (the subject's left and right)."""
EYE_CORNERS = {
    "left": (topo.EYE_OUTER_LEFT, topo.EYE_INNER_LEFT),
    "right": (topo.EYE_OUTER_RIGHT, topo.EYE_INNER_RIGHT),
}


def track_frames(frames: Iterable[Any], *, name: str = "frames") -> TrackedLandmarks:
    """FaceMesh landmarks [T, 478, 3] (pixels) of the most prominent face in every frame, unsmoothed.

    Frames without a face hold landmarks interpolated from their neighbours; ``found`` says which.
    """
    return get_backend("mediapipe").track(frames, smoothing=0.0, name=name)


def _distance(points: np.ndarray, a: int, b: int) -> np.ndarray:
    return np.linalg.norm(points[..., a, :2] - points[..., b, :2], axis=-1)


def eye_centres(points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """[..., 2] image-plane centre of the subject's left and right eye (mean of the eye's corners)."""
    left = points[..., list(EYE_CORNERS["left"]), :2].mean(-2)
    right = points[..., list(EYE_CORNERS["right"]), :2].mean(-2)
    return left, right


def interocular(points: np.ndarray) -> np.ndarray:
    """[...] distance between the eye centres in pixels: the unit of every measure here."""
    left, right = eye_centres(points)
    return np.maximum(np.linalg.norm(left - right, axis=-1), 1e-6)


def lip_gap(points: np.ndarray) -> np.ndarray:
    """[...] mean opening between the inner lips across the mouth, in inter-ocular distances (0 = lips touch).

    Measured across the line of the mouth corners, so a rolled head reads the same.
    """
    corners = points[..., topo.INNER_MOUTH_CORNER_LEFT, :2] - points[..., topo.INNER_MOUTH_CORNER_RIGHT, :2]
    normal = np.stack([-corners[..., 1], corners[..., 0]], -1)
    normal = normal / np.maximum(np.linalg.norm(normal, axis=-1, keepdims=True), 1e-9)
    gaps = [
        np.abs(((points[..., lower, :2] - points[..., upper, :2]) * normal).sum(-1)) for upper, lower in INNER_LIP_PAIRS
    ]
    return np.mean(gaps, axis=0) / interocular(points)


def mouth_width(points: np.ndarray) -> np.ndarray:
    """[...] distance between the outer mouth corners, in inter-ocular distances (rounded lips narrow it)."""
    return _distance(points, topo.MOUTH_CORNER_LEFT, topo.MOUTH_CORNER_RIGHT) / interocular(points)


def eye_opening(points: np.ndarray) -> np.ndarray:
    """[..., 2] lid gap over eye width of the subject's left and right eye (about 0.25–0.35 open, ~0.05 closed)."""
    openings = []
    for side in ("left", "right"):
        gap = np.mean([_distance(points, upper, lower) for upper, lower in EYE_LID_PAIRS[side]], axis=0)
        openings.append(gap / np.maximum(_distance(points, *EYE_CORNERS[side]), 1e-6))
    return np.stack(openings, -1)


BLINK_CLOSURE = 0.5
"""An eye counts as closed when its opening falls below this share of the clip's open level (its 90th percentile)."""


def blink_onsets(opening: np.ndarray, found: np.ndarray | None = None, closure: float = BLINK_CLOSURE) -> np.ndarray:
    """Frames where a blink a viewer sees begins: the eye opening [T] falls below ``closure`` × the clip's open level.

    Frames without a face (``found`` False) never start a blink. The open level is the 90th percentile of the
    opening over the frames with a face, so narrow and wide eyes are judged alike.
    """
    found = np.ones(len(opening), dtype=bool) if found is None else np.asarray(found, dtype=bool)
    if not found.any():
        return np.zeros(0, dtype=int)
    closed = (opening < closure * np.percentile(opening[found], 90)) & found
    return np.flatnonzero(closed & ~np.concatenate([[False], closed[:-1]]))


def similarity_align(points: np.ndarray, reference: np.ndarray, vertices: np.ndarray | None = None) -> np.ndarray:
    """Image-plane landmarks [..., N, 2] moved by the 2D similarity (rotation, scale, shift) that best maps their
    ``vertices`` (all when None) onto the same vertices of ``reference`` [..., N, 2] (least squares, Umeyama)."""
    chosen = slice(None) if vertices is None else vertices
    source, target = points[..., chosen, :], reference[..., chosen, :]
    source_mean, target_mean = source.mean(-2, keepdims=True), target.mean(-2, keepdims=True)
    a, b = source - source_mean, target - target_mean
    covariance = np.swapaxes(b, -1, -2) @ a / a.shape[-2]
    u, singular, vt = np.linalg.svd(covariance)
    sign = np.sign(np.linalg.det(u @ vt))
    correction = np.ones_like(singular)
    correction[..., -1] = sign
    rotation = u @ (correction[..., :, None] * vt)
    variance = (a**2).sum((-1, -2)) / a.shape[-2]
    scale = (singular * correction).sum(-1) / np.maximum(variance, 1e-12)
    moved = (points - source_mean) @ np.swapaxes(rotation, -1, -2) * scale[..., None, None]
    return moved + target_mean
