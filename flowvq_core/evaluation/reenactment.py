"""Self-reenactment: a renderer drives a real clip's first frame with the coefficients fitted to every frame of that
clip, and the result is scored against the real frames, the usual image-quality rows of talking-face papers.

Every score is also given for "hold frame 0" (the real first frame repeated), the renderer's floor: a renderer
that reproduces the motion beats it on SSIM and landmark distance. Frame 0 itself is left out of every score (it is
the source), as are frames where FaceMesh found no face in the real or the rendered frame.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from ..face import FittedVideo, extract_video
from ..face.crop import crop_images
from ..face.fitting import rigid_vertices
from ..face.images import to_rgb_uint8_batch
from ..face.topology import face_topology
from ..rendering import Renderer, render_chunks
from .face_measures import eye_opening, lip_gap, similarity_align, track_frames
from .sharpness import cpbd

FLAT_CURVE = 1e-6
"""A lip-gap or eye-opening curve (inter-ocular units) with a smaller standard deviation has no variation."""


@dataclass(frozen=True)
class ReenactmentScores:
    frames: int
    """Frames scored: 1..T-1, less those without a face."""
    ssim: float
    """Mean SSIM of rendered vs real frames over the real frame's face region (1 = identical)."""
    ssim_hold: float
    """The same for the real frame 0 held still."""
    m_lmd: float
    """Mouth landmark distance: mean distance (pixels at the crop size) of the lips' landmarks, outer and inner."""
    f_lmd: float
    """Face landmark distance: the same over all 468 mesh landmarks."""
    m_lmd_hold: float
    f_lmd_hold: float
    cpbd_rendered: float
    """Mean CPBD sharpness of the rendered frames' face regions."""
    cpbd_source: float
    """Mean CPBD sharpness of the real frames' face regions."""
    lip_gap_correlation: float | None
    """Pearson r over time of the lip gap, rendered vs real (None: one curve does not vary)."""
    eye_opening_correlation: float | None
    """Pearson r over time of the eye opening (mean of both eyes), rendered vs real."""


def face_region_mask(points: np.ndarray, height: int, width: int) -> np.ndarray:
    """[H, W] bool: the pixels inside the convex hull of the face-oval landmarks of ``points`` [≥468, 2+] (pixels,
    continuous coordinates: pixel (x, y) has its centre at (x + 0.5, y + 0.5))."""
    from scipy.spatial import ConvexHull
    from skimage.draw import polygon

    oval = np.asarray(points, dtype=np.float64)[face_topology().loops["face_oval"], :2] - 0.5
    hull = oval[ConvexHull(oval).vertices]
    mask = np.zeros((height, width), bool)
    mask[polygon(hull[:, 1], hull[:, 0], shape=(height, width))] = True
    return mask


def _landmark_distance(points: np.ndarray, reference: np.ndarray, vertices: np.ndarray) -> float:
    """Mean image-plane distance over frames and ``vertices`` of ``points`` [T, N, 2] moved onto ``reference`` by the
    similarity that best aligns their rigid vertices."""
    aligned = similarity_align(points, reference, rigid_vertices())
    return float(np.linalg.norm(aligned[:, vertices] - reference[:, vertices], axis=-1).mean())


def _correlation(a: np.ndarray, b: np.ndarray) -> float | None:
    if len(a) < 3 or a.std() < FLAT_CURVE or b.std() < FLAT_CURVE:
        return None
    return float(np.corrcoef(a, b)[0, 1])


def _masked_ssim(real: np.ndarray, other: np.ndarray, mask: np.ndarray) -> float:
    from skimage.metrics import structural_similarity

    _, similarity = structural_similarity(real, other, channel_axis=-1, data_range=255, full=True)
    return float(similarity.mean(-1)[mask].mean())


def reenactment_scores(
    real: np.ndarray,
    rendered: np.ndarray,
    real_points: np.ndarray,
    rendered_points: np.ndarray,
    *,
    found: np.ndarray | None = None,
) -> ReenactmentScores:
    """Score rendered frames against the real ones: uint8 [T, S, S, 3] each, FaceMesh landmarks [T, ≥468, 3] of
    each in pixels, ``found`` [T] whether FaceMesh found a face in both (None: in all frames).

    SSIM is skimage's (7×7 windows) over the whole crop, its map averaged over the channels and over the real frame's
    face region. Landmark distances compare the rendered (or held) frame's 2D landmarks with the real frame's after
    a similarity (rotation, scale, shift) fitted on the rigid vertices moves them onto the real ones, so they measure
    the expression and not a global shift of the face; the mouth's are the outer and inner lip landmarks (M-LMD),
    the face's all 468 (F-LMD). CPBD reads each frame's own face region.
    """
    if real.shape != rendered.shape or real.ndim != 4 or real.dtype != np.uint8 or rendered.dtype != np.uint8:
        raise ValueError(
            f"real and rendered must be uint8 frames [T, S, S, 3] of one shape, got {real.shape} {real.dtype} and "
            f"{rendered.shape} {rendered.dtype}"
        )
    if len(real_points) != len(real) or len(rendered_points) != len(real):
        raise ValueError(
            f"need landmarks for each of the {len(real)} frames, got {len(real_points)} and {len(rendered_points)}"
        )
    kept = np.ones(len(real), bool) if found is None else np.asarray(found, bool).copy()
    kept[0] = False
    chosen = np.flatnonzero(kept)
    if len(chosen) == 0:
        raise ValueError("no frame after the first has a face in both the real and the rendered frames to score")
    height, width = real.shape[1:3]
    real_points, rendered_points = real_points[chosen, :468], rendered_points[chosen, :468]
    real_xy, rendered_xy = real_points[..., :2], rendered_points[..., :2]
    held_xy = np.broadcast_to(real_xy[:1], real_xy.shape)
    ssim, ssim_hold, sharpness_rendered, sharpness_real = [], [], [], []
    for index, t in enumerate(chosen):
        mask = face_region_mask(real_points[index], height, width)
        ssim.append(_masked_ssim(real[t], rendered[t], mask))
        ssim_hold.append(_masked_ssim(real[t], real[0], mask))
        sharpness_rendered.append(cpbd(rendered[t], face_region_mask(rendered_points[index], height, width)))
        sharpness_real.append(cpbd(real[t], mask))
    topology = face_topology()
    lips = np.concatenate([topology.regions["lips_outer"], topology.regions["lips_inner"]])
    face = np.arange(468)
    return ReenactmentScores(
        frames=len(chosen),
        ssim=float(np.mean(ssim)),
        ssim_hold=float(np.mean(ssim_hold)),
        m_lmd=_landmark_distance(rendered_xy, real_xy, lips),
        f_lmd=_landmark_distance(rendered_xy, real_xy, face),
        m_lmd_hold=_landmark_distance(held_xy, real_xy, lips),
        f_lmd_hold=_landmark_distance(held_xy, real_xy, face),
        cpbd_rendered=float(np.mean(sharpness_rendered)),
        cpbd_source=float(np.mean(sharpness_real)),
        lip_gap_correlation=_correlation(lip_gap(rendered_points), lip_gap(real_points)),
        eye_opening_correlation=_correlation(eye_opening(rendered_points).mean(-1), eye_opening(real_points).mean(-1)),
    )


def score_frames(real: np.ndarray, rendered: np.ndarray) -> ReenactmentScores:
    """:func:`reenactment_scores` with the landmarks of both tracked by FaceMesh (unsmoothed, per frame)."""
    real_tracked, rendered_tracked = track_frames(real, name="real frames"), track_frames(rendered, name="rendered")
    return reenactment_scores(
        real, rendered, real_tracked.points, rendered_tracked.points, found=real_tracked.found & rendered_tracked.found
    )


def _to_uint8(frames: torch.Tensor) -> np.ndarray:
    return frames.detach().float().cpu().clamp(0, 1).mul(255).round().to(torch.uint8).numpy()


def self_reenact(
    frames: Any,
    renderer: Renderer,
    *,
    crop_size: int = 256,
    smoothing: float = 0.5,
    fitted: FittedVideo | None = None,
) -> tuple[np.ndarray, np.ndarray, FittedVideo]:
    """Fit every frame of a real clip ([T, H, W, 3] uint8, float 0..1 or a list), render its first frame's crop with
    the coefficients of every frame → (real crops, rendered crops: uint8 [T, S, S, 3], the fitted video).

    ``smoothing`` is :func:`extract_video`'s landmark smoothing (its default): the rendered clip follows the smoothed
    track, so a one-frame closure may read weaker than in the real frames. ``fitted``: these frames already fitted
    (``extract_video(frames, crop_size=…)``), so that grading one clip with several renderers fits it once.
    """
    rgb = to_rgb_uint8_batch(frames, name="clip frames", allow_blank=True)
    if fitted is None:
        fitted = extract_video(rgb, crop_size=crop_size, smoothing=smoothing)
    crops = crop_images(torch.from_numpy(rgb).float() / 255, fitted.crop)
    source = renderer.prepare(crops[0], fitted.neutral, fitted.expression[0], fitted.pose[0])
    rendered = [_to_uint8(frames) for frames, _ in render_chunks(renderer, source, fitted.expression, fitted.pose)]
    return _to_uint8(crops), np.concatenate(rendered), fitted
