"""Head-motion statistics: pose spread, jerk and reversals tell smooth motion from trembling."""

from __future__ import annotations

import numpy as np
import pytest

from flowvq_core.evaluation.motion import MOTION_FPS, motion_stats


def _pose(angles_degrees: np.ndarray) -> np.ndarray:
    """[T, 6] poses with the same curve on pitch, yaw and roll."""
    pose = np.zeros((len(angles_degrees), 6))
    pose[:, :3] = np.radians(angles_degrees)[:, None]
    return pose


def _sinusoid(amplitude: float = 4.0, frames: int = 200, fps: float = 25.0, hertz: float = 0.5) -> np.ndarray:
    return amplitude * np.sin(2 * np.pi * hertz * np.arange(frames) / fps)


def test_pose_std_of_a_sinusoid_is_its_amplitude_over_root_two():
    stats = motion_stats(_pose(_sinusoid(amplitude=4.0)))
    assert stats.pose_std_degrees == pytest.approx(4.0 / np.sqrt(2), rel=1e-3)


def test_noise_raises_jerk_and_reversals_of_a_smooth_curve():
    smooth = _sinusoid()
    noisy = smooth + np.random.default_rng(0).normal(scale=0.3, size=len(smooth))
    calm, shaky = motion_stats(_pose(smooth)), motion_stats(_pose(noisy))
    assert calm.jerk == pytest.approx(2 * np.sin(np.pi * 0.5 / 25), rel=0.05)
    assert shaky.jerk > 5 * calm.jerk
    assert calm.reversal_share < 0.05 < 0.3 < shaky.reversal_share
    assert shaky.mean_step_degrees > calm.mean_step_degrees


def test_alternation_every_frame_is_the_most_jerky_and_a_still_head_the_least():
    alternating = motion_stats(_pose(np.tile([0.0, 1.0], 20)))
    assert alternating.jerk == pytest.approx(2.0) and alternating.reversal_share == 1.0
    still = motion_stats(_pose(np.full(20, 3.0) + 1e-6 * np.arange(20)))
    assert still.jerk < 0.1 and still.reversal_share == 0.0 and still.pose_std_degrees < 1e-3


def test_fps_resamples_to_the_common_rate_so_rates_compare():
    at_15 = motion_stats(_pose(_sinusoid(frames=120, fps=15.0)), fps=15.0)
    at_25 = motion_stats(_pose(_sinusoid(frames=200, fps=25.0)), fps=MOTION_FPS)
    assert at_15.jerk == pytest.approx(at_25.jerk, rel=0.05)
    assert at_15.mean_step_degrees == pytest.approx(at_25.mean_step_degrees, rel=0.05)
    per_frame_15 = motion_stats(_pose(_sinusoid(frames=120, fps=15.0)))
    assert per_frame_15.jerk == pytest.approx(at_25.jerk * 25 / 15, rel=0.05), "per frame, slower rates read jerkier"


def test_too_short_or_misshapen_poses_are_errors():
    with pytest.raises(ValueError, match="3 frames"):
        motion_stats(np.zeros((2, 6)))
    with pytest.raises(ValueError, match="T, ≥3"):
        motion_stats(np.zeros((10, 2)))
