"""The shapes the judges read off landmarks: lip gap, mouth width, eye opening, and the similarity alignment."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from flowvq_core.evaluation.face_measures import eye_opening, interocular, lip_gap, mouth_width, similarity_align
from flowvq_core.face.pose import project
from flowvq_core.face.rig import NUM_UNITS, ExpressionRig, unit_index


@pytest.fixture(scope="module")
def rig():
    from skimage import data

    from flowvq_core.face import extract

    pytest.importorskip("mediapipe")
    return ExpressionRig(extract(data.astronaut()).neutral.double())


def _landmarks(rig: ExpressionRig, size: float = 512.0, roll: float = 0.0, **units: float) -> np.ndarray:
    beta = torch.zeros(NUM_UNITS, dtype=torch.float64)
    for name, value in units.items():
        beta[unit_index(name)] = value
    pose = torch.tensor([0.0, 0.0, roll, 0.5, 0.5, 0.3], dtype=torch.float64)
    return (project(rig.deform(beta), pose) * size).numpy()


def test_lip_gap_grows_with_the_jaw_and_ignores_size_and_roll(rig):
    closed, opened = lip_gap(_landmarks(rig)), lip_gap(_landmarks(rig, jawOpen=0.6))
    assert closed < 0.03 and opened > 0.2
    assert lip_gap(_landmarks(rig, size=128.0, roll=0.3, jawOpen=0.6)) == pytest.approx(opened, rel=0.02)


def test_mouth_width_narrows_when_the_lips_round(rig):
    assert mouth_width(_landmarks(rig, mouthPucker=1.0)) < 0.9 * mouth_width(_landmarks(rig))
    assert mouth_width(_landmarks(rig, mouthStretchLeft=1.0, mouthStretchRight=1.0)) > mouth_width(_landmarks(rig))


def test_eye_opening_falls_with_a_blink_of_that_eye(rig):
    open_eyes = eye_opening(_landmarks(rig))
    blink = eye_opening(_landmarks(rig, eyeBlinkLeft=1.0))
    assert open_eyes.shape == (2,) and blink[0] < 0.3 * open_eyes[0] and blink[1] == pytest.approx(open_eyes[1], 0.05)


def test_similarity_align_undoes_rotation_scale_and_shift():
    generator = np.random.default_rng(0)
    reference = generator.normal(size=(30, 2))
    angle = 0.4
    rotation = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    moved = 2.5 * reference @ rotation.T + np.array([3.0, -1.0])
    assert np.allclose(similarity_align(moved, reference), reference, atol=1e-9)
    batch = similarity_align(np.stack([moved, reference]), np.stack([reference, reference]), np.arange(10))
    assert np.allclose(batch, reference, atol=1e-9)
    assert interocular(np.zeros((468, 3))) > 0, "degenerate landmarks do not divide by zero"
