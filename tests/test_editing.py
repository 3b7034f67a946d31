"""Coefficient edits and the curve plot."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from flowvq_core.coefficients import CoefficientSequence
from flowvq_core.curves import plot_curves
from flowvq_core.editing import UNIT_GROUPS, edit_coefficients, smooth_in_time
from flowvq_core.face.rig import NUM_UNITS, UNIT_NAMES, unit_index


def _sequence(frames: int = 60) -> CoefficientSequence:
    generator = torch.Generator().manual_seed(0)
    expression = 0.5 * torch.rand(2, frames, NUM_UNITS, generator=generator)
    pose = 0.1 * torch.randn(2, frames, 6, generator=generator)
    return CoefficientSequence(expression, pose, 25.0, UNIT_NAMES)


def test_gains_scale_their_units_only_and_stay_in_range():
    sequence = _sequence()
    edited = edit_coefficients(sequence, gains={"mouth": 3.0, "blink": 0.0})
    mouth = [unit_index(name) for name in UNIT_GROUPS["mouth"]]
    expected = (sequence.expression[..., mouth] * 3).clamp(0, 1)
    assert torch.equal(edited.expression[..., mouth], expected)
    assert float(edited.expression[..., [unit_index("eyeBlinkLeft"), unit_index("eyeBlinkRight")]].abs().max()) == 0
    brows = [unit_index(name) for name in UNIT_GROUPS["brows"]]
    assert torch.equal(edited.expression[..., brows], sequence.expression[..., brows])
    assert edited.unit_names == UNIT_NAMES and edited.fps == 25.0


def test_identity_edit_changes_nothing_and_amplitude_scales_motion_from_the_first_frame():
    sequence = _sequence()
    same = edit_coefficients(sequence, gains={"smile": 1.0})
    assert torch.equal(same.expression, sequence.expression) and torch.allclose(same.pose, sequence.pose)
    half = edit_coefficients(sequence, pose_amplitude=0.5)
    assert torch.allclose(half.pose - half.pose[:, :1], 0.5 * (sequence.pose - sequence.pose[:, :1]), atol=1e-6)


def test_smoothing_keeps_constants_and_the_mean_and_lowers_jitter():
    constant = torch.full((1, 20, 3), 0.7)
    assert torch.allclose(smooth_in_time(constant, 2.0), constant)
    noisy = torch.randn(1, 400, 2, generator=torch.Generator().manual_seed(3))
    smooth = smooth_in_time(noisy, 3.0)
    assert smooth.diff(dim=1).std() < 0.3 * noisy.diff(dim=1).std()
    assert torch.allclose(smooth.mean(1), noisy.mean(1), atol=0.05)
    assert smooth_in_time(torch.ones(1, 2, 1), 5.0).shape == (1, 2, 1), "clips shorter than the kernel work"


@pytest.mark.parametrize(
    "options, message",
    [({"gains": {"teeth": 1.0}}, "unknown unit group 'teeth'"), ({"gains": {"mouth": -1}}, "mouth gain"),
     ({"pose_amplitude": 9.0}, "pose_amplitude"), ({"smoothing": -1.0}, "smoothing")],
)  # fmt: skip
def test_bad_edits_are_named(options, message):
    with pytest.raises(ValueError, match=message):
        edit_coefficients(_sequence(), **options)


def test_plot_shows_curves_of_the_chosen_sample():
    sequence = _sequence()
    image = plot_curves(sequence, sample=1, width=400, height=200)
    assert image.shape == (200, 400, 3) and image.dtype == np.uint8
    assert len(np.unique(image.reshape(-1, 3), axis=0)) > 5, "curves in several colours"
    assert not np.array_equal(image, plot_curves(sequence, sample=0, width=400, height=200))
    with pytest.raises(IndexError, match="sample 2"):
        plot_curves(sequence, sample=2)
