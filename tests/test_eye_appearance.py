"""The eye appearance: a subject's eyes rendered from wide open to closed, read back by patch correlation."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from skimage import data

from flowvq_core.face import GeometricRenderer, extract
from flowvq_core.face.eye_appearance import (
    EyeAppearance,
    _best_opening,
    eye_patch_points,
    opening_ladder,
)
from flowvq_core.face.fitting import EYE_UNITS
from flowvq_core.face.rig import unit_index
from flowvq_core.face.topology import FOREHEAD, NASION


def test_the_ladder_runs_from_wide_open_to_closed():
    ladder = opening_ladder()
    assert ladder[0] == -1 and ladder[-1] == 1 and (ladder == 0).sum() == 1
    assert (ladder.diff() > 0).all()


@pytest.mark.parametrize("peak", [-0.73, -0.1, 0.0, 0.137, 0.5, 0.98, 1.0])
def test_the_best_opening_is_interpolated_between_rungs(peak):
    ladder = opening_ladder()
    scores = -((ladder - peak) ** 2).expand(2, -1)
    found = _best_opening(scores)
    spacing = 0.1 if peak < 0 else 0.05
    assert torch.allclose(found, torch.full((2,), peak, dtype=found.dtype), atol=0.1 * spacing), found


pytest.importorskip("mediapipe")


@pytest.fixture(scope="module")
def subject():
    photo = data.astronaut()
    face = extract(photo, eye_appearance=True)
    renderer = GeometricRenderer()
    return face, renderer, renderer.prepare(face.crop_image(photo), face.neutral, face.expression, face.pose)


def test_patches_lie_across_each_eye_and_run_down_the_face(subject):
    face = subject[0]
    points = eye_patch_points(face.neutral)
    rows, columns = points.shape[1:3]
    up = (face.neutral[FOREHEAD] - face.neutral[NASION]).double()
    assert ((points[:, -1] - points[:, 0]) @ up < 0).all(), "the last row is below the first"
    middle = points[:, rows // 2, columns // 2]
    for eye, (outer, inner) in enumerate(((263, 362), (33, 133))):
        centre = 0.5 * (face.neutral[outer] + face.neutral[inner]).double()
        width = float((face.neutral[outer] - face.neutral[inner]).norm())
        assert float((middle[eye] - centre).norm()) < 0.1 * width


def test_renders_of_known_openings_are_read_back(subject):
    """Without landmarks in the way (the pose is the one rendered), the reading is the rendered opening."""
    face, renderer, source = subject
    openings = [(0.0, 0.0), (0.35, 0.8), (1.0, 0.15), (-0.6, 0.0), (0.6, -0.3)]
    expression = face.expression.repeat(len(openings), 1)
    for row, (left, right) in enumerate(openings):
        for side, value in (("Left", left), ("Right", right)):
            expression[row, unit_index(f"eyeBlink{side}")] = max(value, 0.0)
            expression[row, unit_index(f"eyeWide{side}")] = max(-value, 0.0)
    frames = renderer.render_frames(source, expression, face.pose.repeat(len(openings), 1))
    read = face.eye_appearance.measure(frames, face.pose.repeat(len(openings), 1))
    assert read.shape == (len(openings), len(EYE_UNITS))
    expected = expression[:, [unit_index(name) for name in EYE_UNITS]]
    assert torch.allclose(read.float(), expected, atol=0.05), (read, expected)


def test_a_photo_reads_as_its_own_opening(subject):
    face = subject[0]
    photo = data.astronaut()
    read = face.eye_appearance.measure_images([photo, photo], face.crop, face.pose.repeat(2, 1))
    assert read.shape == (2, 4) and torch.equal(read[0], read[1])
    assert float(read.abs().max()) < 0.1, "the photo itself is the rung of its own opening"


def test_an_identity_without_eye_appearance_reads_eyes_from_landmarks(subject):
    face = subject[0]
    plain = extract(data.astronaut())
    assert plain.eye_appearance is None and isinstance(face.eye_appearance, EyeAppearance)
    assert np.allclose(plain.expression.numpy(), face.expression.numpy())
