"""Head-motion statistics of a pose sequence: how much the head moves, and whether it moves smoothly or trembles.

All four numbers read pitch, yaw and roll (degrees) of pose arrays [T, ≥3] in radians, the layout of the model's ρ
and of ``extract_video``'s poses, so generated and real clips compare directly.

Frame rate matters to everything measured per frame. A smooth motion of frequency f changes by about 2πf/fps of its
amplitude per frame, so its jerk (below) reads 2πf/fps: the same nod scores 15/25 as high at 25 fps as at 15 fps,
while frame-to-frame trembling reads near 2 at any rate. ``motion_stats(pose, fps)`` therefore resamples the angles
to :data:`MOTION_FPS` (the model's rate) by a cubic spline through the frames before measuring, so clips of
different rates compare; without ``fps`` the frames are measured as they are. Upsampling adds no detail above the
source's Nyquist rate: a 15 fps sequence that alternates every frame becomes a 7.5 Hz oscillation at 25 fps, with
jerk 2·sin(π·7.5/25) ≈ 1.6 and reversal share 0.6 instead of 2 and 1.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

MOTION_FPS = 25.0
"""The common frame rate of :func:`motion_stats` when it is given the sequence's own rate."""
STILL_DEGREES = 1e-3
"""Frame-to-frame changes smaller than this count as no motion for the reversal share (rounding, a held pose)."""


@dataclass(frozen=True)
class MotionStats:
    pose_std_degrees: float
    """Mean over pitch, yaw and roll of the standard deviation over time (A/√2 for a sinusoid of amplitude A)."""
    jerk: float
    """Mean |Δ²| over mean |Δ| of the three angles pooled (Δ: the change per frame): 0 for motion at constant speed,
    about 2πf/fps for a smooth sinusoid of frequency f, √3 ≈ 1.7 for white noise, at most 2 (alternation every
    frame); 0 for a head that never moves."""
    reversal_share: float
    """Share of consecutive pairs of frame-to-frame changes (over STILL_DEGREES) that reverse direction: near 0 for
    smooth motion, 2/3 for white noise, 1 for alternation every frame."""
    mean_step_degrees: float
    """Mean |Δ| per frame over the three angles: how fast the head moves (per 1/25 s when resampled)."""


def resample_angles(angles: np.ndarray, fps: float, target_fps: float = MOTION_FPS) -> np.ndarray:
    """[T, K] curves sampled at ``fps`` → the same time span sampled at ``target_fps`` (cubic spline)."""
    from scipy.interpolate import CubicSpline

    times = np.arange(len(angles)) / fps
    return CubicSpline(times, angles, axis=0)(np.arange(0.0, times[-1] + 1e-9, 1.0 / target_fps))


def motion_stats(pose: np.ndarray, fps: float | None = None) -> MotionStats:
    """Head-motion statistics of ``pose`` [T, ≥3] (pitch, yaw, roll in radians first), per frame as given, or at
    :data:`MOTION_FPS` when ``fps`` (the sequence's rate) is given (see the module docstring)."""
    pose = np.asarray(pose, dtype=np.float64)
    if pose.ndim != 2 or pose.shape[1] < 3:
        raise ValueError(f"motion_stats needs poses [T, ≥3] (pitch, yaw, roll first), got shape {pose.shape}")
    angles = np.degrees(pose[:, :3])
    if fps is not None:
        if not fps > 0:
            raise ValueError(f"fps must be positive, got {fps}")
        angles = resample_angles(angles, fps)
    if len(angles) < 3:
        raise ValueError(f"motion_stats needs at least 3 frames to measure jerk, got {len(angles)}")
    step = np.diff(angles, axis=0)
    speed = np.abs(step).mean()
    reversals = pairs = 0
    for curve in step.T:
        signs = np.sign(curve[np.abs(curve) > STILL_DEGREES])
        reversals += int((signs[1:] != signs[:-1]).sum())
        pairs += max(len(signs) - 1, 0)
    return MotionStats(
        pose_std_degrees=float(angles.std(0).mean()),
        jerk=float(np.abs(np.diff(step, axis=0)).mean() / speed) if speed > 0 else 0.0,
        reversal_share=reversals / pairs if pairs else 0.0,
        mean_step_degrees=float(speed),
    )
