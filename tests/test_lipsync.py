"""The lip-sync judge: a mouth that makes the phones' shapes scores so, one that ignores them does not."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from flowvq_core.evaluation.face_measures import lip_gap
from flowvq_core.evaluation.lipsync import lipsync_scores
from flowvq_core.evaluation.phones import Alignment, Phone
from flowvq_core.face.pose import project
from flowvq_core.face.rig import NUM_UNITS, ExpressionRig, unit_index

FPS = 25.0
RATE = 16000

TRACK = (
    ("sil", 4), ("aa", 4), ("m", 2), ("uw", 4), ("p", 2), ("aa", 4), ("b", 2), ("iy", 4), ("m", 2), ("sil", 12),
)  # fmt: skip
"""A designed utterance: (phone, frames at 25 fps), 40 frames in all; the first pause is too short to be scored."""
SHAPES = {
    "aa": {"jawOpen": 0.6},
    "uw": {"jawOpen": 0.12, "mouthPucker": 0.6, "mouthFunnel": 0.3},
    "iy": {"jawOpen": 0.12, "mouthStretchLeft": 0.4, "mouthStretchRight": 0.4},
}
"""Mouth units the faithful mouth takes on each phone; silence and bilabials: all of them 0, the lips shut."""
DRIVEN = ("jawOpen", "mouthPucker", "mouthFunnel", "mouthStretchLeft", "mouthStretchRight")
LOUDNESS = {"sil": 0.0, "m": 0.05, "p": 0.0, "b": 0.05, "aa": 0.6, "uw": 0.3, "iy": 0.3}


def _alignment(track=TRACK) -> Alignment:
    phones, frame = [], 0
    for label, count in track:
        phones.append(Phone(label, frame / FPS, (frame + count) / FPS))
        frame += count
    return Alignment(phones=phones, words=[], transcript=None)


def _speech(loudness: np.ndarray) -> np.ndarray:
    """A buzz at 150 Hz whose amplitude follows ``loudness`` (one value per frame) over a faint noise floor."""
    times = np.arange(int(len(loudness) / FPS * RATE)) / RATE
    envelope = np.interp(times, (np.arange(len(loudness)) + 0.5) / FPS, loudness)
    noise = np.random.default_rng(0).normal(0.0, 1e-3, len(times))
    return (envelope * np.sign(np.sin(2 * np.pi * 150 * times)) + noise).astype(np.float32)


def _track_loudness() -> np.ndarray:
    return np.concatenate([np.full(count, LOUDNESS[label]) for label, count in TRACK])


@pytest.fixture(scope="module")
def astronaut():
    from skimage import data

    from flowvq_core.face import GeometricRenderer, extract

    pytest.importorskip("mediapipe")
    photo = data.astronaut()
    face = extract(photo, crop_size=256)
    renderer = GeometricRenderer()
    return face, renderer, renderer.prepare(face.crop_image(photo), face.neutral, face.expression, face.pose)


def _render(astronaut, shapes: list[dict[str, float]]) -> np.ndarray:
    """FaceMesh landmarks of the astronaut rendered with each frame's ``DRIVEN`` units (0 if not given; the others as
    fitted to the photo: a smile)."""
    from flowvq_core.evaluation.face_measures import track_frames

    face, renderer, source = astronaut
    expression = face.expression.reshape(1, -1).repeat(len(shapes), 1)
    for frame, units in enumerate(shapes):
        for name in DRIVEN:
            expression[frame, unit_index(name)] = units.get(name, 0.0)
    frames = renderer.render_frames(source, expression, face.pose.reshape(1, -1).repeat(len(shapes), 1))
    tracked = track_frames((frames.numpy() * 255).astype(np.uint8))
    assert tracked.found.all()
    return tracked.points


def test_a_rendered_mouth_that_makes_the_phones_scores_so_and_one_that_ignores_them_does_not(astronaut):
    shapes = [SHAPES.get(label, {}) for label, count in TRACK for _ in range(count)]
    alignment, speech = _alignment(), _speech(_track_loudness())
    faithful = lipsync_scores(_render(astronaut, shapes), FPS, alignment, speech, RATE)
    assert faithful.bilabials == 4 and faithful.bilabial_closure == 1.0
    assert faithful.open_close_ratio > 3 and faithful.rounding_ratio < 0.9
    assert faithful.silence_closed == 1.0 and faithful.energy_correlation > 0.5

    half_open = np.repeat(_render(astronaut, [{"jawOpen": 0.3}]), len(shapes), axis=0)
    ignoring = lipsync_scores(half_open, FPS, alignment, speech, RATE)
    assert ignoring.bilabials == 4 and ignoring.bilabial_closure == 0.0 and ignoring.silence_closed == 0.0
    assert ignoring.open_close_ratio == pytest.approx(1.0) and ignoring.rounding_ratio == pytest.approx(1.0)


@pytest.fixture(scope="module")
def rig():
    from skimage import data

    from flowvq_core.face import extract

    pytest.importorskip("mediapipe")
    return ExpressionRig(extract(data.astronaut()).neutral.double())


def _landmarks(rig: ExpressionRig, shapes: list[dict[str, float]]) -> np.ndarray:
    """[T, 468, 3] pixels: the rig's mesh with each frame's units, projected into a 256 px frame (no rendering)."""
    beta = torch.zeros(len(shapes), NUM_UNITS, dtype=torch.float64)
    for frame, units in enumerate(shapes):
        for name, value in units.items():
            beta[frame, unit_index(name)] = value
    pose = torch.tensor([0.0, 0.0, 0.0, 0.5, 0.5, 0.3], dtype=torch.float64)
    return np.stack([(project(rig.deform(b), pose) * 256).numpy() for b in beta])


OPEN, SHUT = {"jawOpen": 0.3}, {}


def test_a_bilabial_between_two_frame_instants_is_closed_in_either_neighbour_only(rig):
    # instants at 0.02, 0.06, ...: the bilabial [0.225, 0.255) holds none; frames 5 (0.22) and 6 (0.26) overlap it
    alignment = Alignment([Phone("aa", 0.0, 0.225), Phone("m", 0.225, 0.255), Phone("aa", 0.255, 0.4)], [], None)
    speech = _speech(np.full(10, 0.3))
    for closed_frame, expected in ((5, 1.0), (6, 1.0), (7, 0.0), (4, 0.0)):
        points = _landmarks(rig, [SHUT if t == closed_frame else OPEN for t in range(10)])
        assert lipsync_scores(points, FPS, alignment, speech, RATE).bilabial_closure == expected, closed_frame
    points = _landmarks(rig, [SHUT if t == 6 else OPEN for t in range(10)])
    unseen = np.arange(10) != 6
    scores = lipsync_scores(points, FPS, alignment, speech, RATE, found=unseen)
    assert scores.bilabials == 1 and scores.bilabial_closure == 0.0, "a closure FaceMesh did not see does not count"
    assert lipsync_scores(points, FPS, alignment, speech, RATE, found=np.arange(10) < 3).bilabial_closure is None


def test_pauses_are_scored_inside_their_margins(rig):
    alignment = Alignment([Phone("aa", 0.0, 0.21), Phone("sil", 0.21, 0.83), Phone("aa", 0.83, 1.2)], [], None)
    speech = _speech(np.where((np.arange(30) + 0.5) / FPS < 0.2, 0.5, 0.0))
    # frames 8..17 (instants 0.34 .. 0.70) are scored; the mouth still closes and opens in the margins
    shapes = [SHUT if 8 <= t <= 17 else OPEN for t in range(30)]
    assert lipsync_scores(_landmarks(rig, shapes), FPS, alignment, speech, RATE).silence_closed == 1.0
    shapes[10] = OPEN
    assert lipsync_scores(_landmarks(rig, shapes), FPS, alignment, speech, RATE).silence_closed == pytest.approx(0.9)
    short = Alignment([Phone("aa", 0.0, 0.5), Phone("sil", 0.5, 0.75), Phone("aa", 0.75, 1.2)], [], None)
    assert lipsync_scores(_landmarks(rig, shapes), FPS, short, speech, RATE).silence_closed is None


def test_vowel_height_and_rounding_are_measured_on_their_phones(rig):
    track = (("aa", 3), ("uw", 3), ("iy", 3), ("ah", 3))
    shapes = [SHAPES.get(label, {"jawOpen": 0.3}) for label, count in track for _ in range(count)]
    scores = lipsync_scores(_landmarks(rig, shapes), FPS, _alignment(track), _speech(np.full(12, 0.3)), RATE)
    assert scores.open_vowel_gap > 0.25 and scores.close_vowel_gap < 0.08
    assert scores.open_close_ratio == pytest.approx(scores.open_vowel_gap / scores.close_vowel_gap)
    assert scores.rounded_width < 0.65 < 0.9 < scores.spread_width and scores.rounding_ratio < 0.7
    assert scores.bilabial_closure is None and scores.bilabials == 0 and scores.silence_closed is None
    # a 20 ms vowel between two instants is measured on the frame showing its middle
    brief = Alignment([Phone("aa", 0.065, 0.085)], [], None)
    scores = lipsync_scores(_landmarks(rig, shapes), FPS, brief, _speech(np.full(12, 0.3)), RATE)
    assert scores.open_vowel_gap == pytest.approx(float(lip_gap(_landmarks(rig, shapes)[1])))


def test_energy_correlation_follows_the_opening_and_bridges_unseen_frames(rig):
    loudness = 0.5 * (1 + np.sin(np.arange(40) / 3.0))
    points = _landmarks(rig, [{"jawOpen": 0.6 * value} for value in loudness])
    speech = _speech(0.02 + loudness)
    found = np.ones(40, bool)
    found[[5, 6, 20]] = False
    correlation = lipsync_scores(points, FPS, _alignment((("aa", 40),)), speech, RATE, found=found).energy_correlation
    assert correlation > 0.8


def test_bad_input_gets_a_clear_message(rig):
    points, alignment, speech = _landmarks(rig, [OPEN] * 4), _alignment((("aa", 4),)), _speech(np.full(4, 0.3))
    with pytest.raises(ValueError, match="points: expected FaceMesh landmarks"):
        lipsync_scores(points[:, :100], FPS, alignment, speech, RATE)
    with pytest.raises(ValueError, match="fps"):
        lipsync_scores(points, 0.0, alignment, speech, RATE)
    with pytest.raises(ValueError, match="found: FaceMesh found no face"):
        lipsync_scores(points, FPS, alignment, speech, RATE, found=np.zeros(4, bool))
    with pytest.raises(ValueError, match="found: expected one flag per frame"):
        lipsync_scores(points, FPS, alignment, speech, RATE, found=np.ones(3, bool))
    with pytest.raises(ValueError, match="waveform.*silent"):
        lipsync_scores(points, FPS, alignment, np.zeros(6400, np.float32), RATE)
