"""Landmarks: image conversion, MediaPipe detection/tracking on a real portrait, the face-alignment wiring (with a fake
package, no network) and the temporal smoother."""

from __future__ import annotations

import logging
import sys
import types
import urllib.error

import numpy as np
import pytest
import torch
from skimage import color, data, transform

from flowvq_core.face.images import to_rgb_uint8, to_rgb_uint8_batch
from flowvq_core.face.landmarks import (
    IBUG68_SCHEME,
    MEDIAPIPE_SCHEME,
    FaceAlignmentBackend,
    LandmarkBackend,
    Landmarks,
    MediaPipeBackend,
    NoFaceError,
    detect_face,
    get_backend,
    smooth_landmarks,
)

NOSE_TIP, RIGHT_EYE_OUTER, LEFT_EYE_OUTER = 1, 33, 263


@pytest.fixture(scope="module")
def astronaut() -> np.ndarray:
    return data.astronaut()


@pytest.fixture(scope="module")
def astronaut_face(astronaut: np.ndarray) -> Landmarks:
    face, count = detect_face(astronaut)
    assert count == 1
    return face


def _rescale(image: np.ndarray, factor: float) -> np.ndarray:
    scaled = transform.rescale(image, factor, channel_axis=2, anti_aliasing=True)
    return np.rint(scaled * 255).astype(np.uint8)


# --- images -----------------------------------------------------------------------------------------------------------


def test_to_rgb_uint8_accepts_common_formats(astronaut: np.ndarray) -> None:
    as_float = astronaut.astype(np.float32) / 255
    assert np.array_equal(to_rgb_uint8(astronaut), astronaut)
    assert np.array_equal(to_rgb_uint8(as_float), astronaut)
    assert np.array_equal(to_rgb_uint8(torch.from_numpy(as_float)[None]), astronaut)
    assert np.array_equal(to_rgb_uint8(astronaut[:, :, :1]), np.repeat(astronaut[:, :, :1], 3, axis=2))
    gray = to_rgb_uint8(astronaut[:, :, 0])
    assert gray.shape == (512, 512, 3) and gray.flags.c_contiguous
    assert to_rgb_uint8(as_float * 1.02 - 0.01).dtype == np.uint8  # slight overshoot is clipped
    assert to_rgb_uint8(astronaut[:, ::-1]).flags.c_contiguous


def test_to_rgb_uint8_composites_rgba_over_white() -> None:
    rgba = np.zeros((64, 64, 4), np.uint8)
    rgba[:32, :, 0] = 200
    rgba[:32, :, 3] = 255  # top half opaque red, bottom half transparent
    rgb = to_rgb_uint8(rgba)
    assert (rgb[0, 0] == [200, 0, 0]).all() and (rgb[-1, -1] == 255).all()


@pytest.mark.parametrize(
    ("image", "message"),
    [
        (np.zeros((64, 64, 2), np.uint8), "C = 1, 3 or 4"),
        (np.zeros((3, 64, 64), np.uint8), "channels last"),
        (np.zeros((0, 0, 3), np.uint8), "empty"),
        (np.full((64, 64, 3), np.nan, np.float32), "NaN"),
        (np.random.default_rng(0).integers(0, 255, (20, 20, 3), np.uint8), "too small to find a face"),
        (np.full((64, 64, 3), 128, np.uint8), "blank image"),
        (np.random.default_rng(0).uniform(0, 255, (64, 64, 3)), "must lie in 0..1"),
        (torch.rand(2, 64, 64, 3), "pass one image"),
    ],
)
def test_to_rgb_uint8_rejects_bad_input(image: object, message: str) -> None:
    with pytest.raises(ValueError, match=message) as info:
        to_rgb_uint8(image, name="portrait")
    assert "portrait" in str(info.value)


def test_to_rgb_uint8_batch(astronaut: np.ndarray) -> None:
    small = astronaut[:64, :64]
    expected = np.stack([small, small])
    assert np.array_equal(to_rgb_uint8_batch(torch.from_numpy(expected.astype(np.float32) / 255)), expected)
    assert np.array_equal(to_rgb_uint8_batch([small, small]), expected)
    assert np.array_equal(to_rgb_uint8_batch(expected), expected)
    with pytest.raises(ValueError, match="differ in size"):
        to_rgb_uint8_batch([small, astronaut[:80, :64]])
    with pytest.raises(ValueError, match="empty"):
        to_rgb_uint8_batch([])
    with pytest.raises(ValueError, match=r"frames\[1\].*blank"):
        to_rgb_uint8_batch([small, np.zeros_like(small)], name="frames")


# --- MediaPipe detection ----------------------------------------------------------------------------------------------


def test_detects_the_astronaut(astronaut_face: Landmarks) -> None:
    points = astronaut_face.points
    assert astronaut_face.scheme == MEDIAPIPE_SCHEME and points.shape == (478, 3) and points.dtype == np.float32
    x0, y0, x1, y1 = astronaut_face.box
    assert 150 < x0 < x1 < 300 and 40 < y0 < y1 < 210  # the face, not the suit or the flag
    nose, right_eye, left_eye = points[NOSE_TIP], points[RIGHT_EYE_OUTER], points[LEFT_EYE_OUTER]
    assert right_eye[0] < nose[0] < left_eye[0]
    assert nose[1] > max(right_eye[1], left_eye[1])
    assert nose[2] < min(right_eye[2], left_eye[2])  # the nose tip is closer to the camera
    assert astronaut_face.area == pytest.approx((x1 - x0) * (y1 - y0))


def test_points_scale_with_the_image(astronaut: np.ndarray, astronaut_face: Landmarks) -> None:
    half, _ = detect_face(_rescale(astronaut, 0.5))
    assert np.abs(half.points * 2 - astronaut_face.points).max() < 3.0


@pytest.mark.parametrize(
    "convert",
    [
        pytest.param(lambda image: color.rgb2gray(image), id="grayscale-float"),
        pytest.param(lambda image: np.dstack([image, np.full(image.shape[:2], 255, np.uint8)]), id="rgba"),
        pytest.param(lambda image: image.astype(np.float64) / 255, id="float"),
        pytest.param(lambda image: torch.from_numpy(image.astype(np.float32) / 255)[None], id="comfy-tensor"),
    ],
)
def test_detects_in_any_input_format(convert, astronaut: np.ndarray, astronaut_face: Landmarks) -> None:
    face, count = detect_face(convert(astronaut))
    assert count == 1
    assert np.abs(face.points[:, :2] - astronaut_face.points[:, :2]).mean() < 3.0


def test_no_face_names_the_input() -> None:
    with pytest.raises(NoFaceError, match="no face found in reference photo"):
        detect_face(data.coffee(), name="reference photo")


def test_picks_the_largest_of_two_faces(astronaut: np.ndarray, caplog: pytest.LogCaptureFixture) -> None:
    head = astronaut[:256, 100:356]
    small = _rescale(head, 0.6)
    canvas = np.full((320, 480, 3), 255, np.uint8)
    canvas[20:276, :256] = head
    canvas[60 : 60 + small.shape[0], 280 : 280 + small.shape[1]] = small
    with caplog.at_level(logging.WARNING):
        face, count = detect_face(canvas, name="group photo")
    assert count == 2
    assert face.box[2] < 256  # the big head on the left
    assert "group photo" in caplog.text and "2 faces" in caplog.text
    faces = get_backend().detect(canvas)
    assert faces[0].area > faces[1].area


def test_get_backend_caches_and_validates() -> None:
    backend = get_backend()
    assert isinstance(backend, MediaPipeBackend) and isinstance(backend, LandmarkBackend)
    assert get_backend("mediapipe") is backend
    assert get_backend("mediapipe", max_faces=1) is not backend
    with pytest.raises(ValueError, match="face_alignment, mediapipe"):
        get_backend("dlib")


# --- tracking ---------------------------------------------------------------------------------------------------------

SHIFT_PER_FRAME = 4
BLANK_FRAMES = (3, 4)


def _shifted_frames(image: np.ndarray, count: int):
    """The image moved right by SHIFT_PER_FRAME px per frame (edges extended), BLANK_FRAMES black; a generator."""
    margin = SHIFT_PER_FRAME * count
    padded = np.pad(image, ((0, 0), (margin, margin), (0, 0)), mode="edge")
    for k in range(count):
        if k in BLANK_FRAMES:
            yield np.zeros_like(image)
        else:
            start = margin - SHIFT_PER_FRAME * k
            yield padded[:, start : start + image.shape[1]]


def test_track_follows_the_face_and_fills_gaps(astronaut: np.ndarray, astronaut_face: Landmarks) -> None:
    tracked = get_backend().track(_shifted_frames(astronaut, 8))
    assert tracked.scheme == MEDIAPIPE_SCHEME and tracked.points.shape == (8, 478, 3)
    assert tracked.found.tolist() == [k not in BLANK_FRAMES for k in range(8)]
    assert tracked.missing_frames == list(BLANK_FRAMES)
    for k in range(8):
        expected = astronaut_face.points[:, :2] + [SHIFT_PER_FRAME * k, 0]
        assert np.abs(tracked.points[k, :, :2] - expected).mean() < 3.0, k
    before, after = tracked.points[2], tracked.points[5]
    assert np.abs(tracked.points[3] - (before + (after - before) / 3)).max() < 1.5
    assert np.abs(tracked.points[4] - (before + 2 * (after - before) / 3)).max() < 1.5


def test_track_without_any_face() -> None:
    frames = (data.coffee() for _ in range(3))
    with pytest.raises(NoFaceError, match="any of the 3 clip frames"):
        get_backend().track(frames, name="clip frames")


# --- smoothing --------------------------------------------------------------------------------------------------------


def _face_points(frames: int) -> np.ndarray:
    """A still face-sized cloud of 50 points, repeated over frames."""
    cloud = np.random.default_rng(1).uniform(100, 300, (50, 3)).astype(np.float32)
    return np.repeat(cloud[None], frames, axis=0)


def test_smoothing_reduces_jitter() -> None:
    still = _face_points(200)
    noisy = still + np.random.default_rng(2).normal(0, 0.7, still.shape).astype(np.float32)
    found = np.ones(200, bool)
    raw_var = (noisy - still).var()
    assert (smooth_landmarks(noisy, found, strength=0.5) - still).var() < 0.35 * raw_var
    assert (smooth_landmarks(noisy, found, strength=1.0) - still).var() < 0.15 * raw_var


def test_smoothing_follows_a_step_without_lag() -> None:
    truth = _face_points(60)
    truth[30:, :, 0] += 10.0  # the whole face jumps 10 px at frame 30
    noisy = truth + np.random.default_rng(3).normal(0, 0.7, truth.shape).astype(np.float32)
    smoothed = smooth_landmarks(noisy, np.ones(60, bool), strength=0.5)
    jump = (smoothed - truth[0])[:, :, 0].mean(axis=1)
    assert abs(jump[27]) < 1.0 and abs(jump[32] - 10) < 1.0  # settled within 2 frames either side
    assert jump[29] < 5.0 < jump[30]  # the half-way crossing stays at the step: no lag


def test_smoothing_strength_zero_is_identity_and_gaps_are_interpolated() -> None:
    points = np.random.default_rng(4).normal(0, 1, (10, 5, 3)).astype(np.float32)
    assert np.array_equal(smooth_landmarks(points, np.ones(10, bool), strength=0.0), points)
    found = np.ones(10, bool)
    found[[0, 4, 5, 9]] = False
    filled = smooth_landmarks(points, found, strength=0.0)
    assert np.allclose(filled[4], points[3] + (points[6] - points[3]) / 3, atol=1e-6)
    assert np.allclose(filled[5], points[3] + 2 * (points[6] - points[3]) / 3, atol=1e-6)
    assert np.array_equal(filled[0], points[1]) and np.array_equal(filled[9], points[8])
    with pytest.raises(ValueError, match="no frame"):
        smooth_landmarks(points, np.zeros(10, bool))
    with pytest.raises(ValueError, match="0..1"):
        smooth_landmarks(points, found, strength=2.0)


# --- face-alignment (a fake package: no network, no weights) ---------------------------------------------------------


def _fake_face_alignment(monkeypatch: pytest.MonkeyPatch, constructor_error: Exception | None = None) -> None:
    """Install a fake ``face_alignment`` module: a big face on the right and a small one on the left, or none on a
    blank image; its constructor raises ``constructor_error`` when given (like a failed weight download)."""
    grid = np.stack(np.meshgrid(np.linspace(0, 1, 17), np.linspace(0, 1, 4)), axis=-1).reshape(-1, 2)[:68]
    depth = np.linspace(-5, 5, 68)[:, None]

    class FaceAlignment:
        def __init__(self, landmarks_type, device="cuda", flip_input=False):
            if constructor_error is not None:
                raise constructor_error
            self.landmarks_type = landmarks_type

        def get_landmarks_from_image(self, image, detected_faces=None, return_bboxes=False):
            assert return_bboxes and image.dtype == np.uint8 and image.shape[2] == 3
            if image.max() == image.min():
                return None, None, None
            small = np.hstack([grid * 40 + [10, 10], depth]).astype(np.float32)
            big = np.hstack([grid * 120 + [150, 20], depth]).astype(np.float32)
            return [small, big], None, [np.array([10, 10, 50, 50, 0.9]), np.array([150, 20, 270, 140, 0.99])]

    module = types.ModuleType("face_alignment")
    module.LandmarksType = types.SimpleNamespace(TWO_D=1, THREE_D=3)
    module.FaceAlignment = FaceAlignment
    monkeypatch.setitem(sys.modules, "face_alignment", module)


def test_face_alignment_wiring(monkeypatch: pytest.MonkeyPatch, astronaut: np.ndarray) -> None:
    _fake_face_alignment(monkeypatch)
    backend = FaceAlignmentBackend()
    assert backend.scheme == IBUG68_SCHEME and isinstance(backend, LandmarkBackend)
    faces = backend.detect(astronaut)
    assert [face.points.shape for face in faces] == [(68, 3), (68, 3)]
    assert faces[0].area > faces[1].area and faces[0].box[0] == pytest.approx(150)
    assert faces[0].score == pytest.approx(0.99) and faces[0].scheme == IBUG68_SCHEME
    face, count = detect_face(astronaut, backend=backend)
    assert count == 2 and face.box[0] == pytest.approx(150)
    tracked = backend.track(iter([astronaut, np.zeros_like(astronaut), astronaut]))
    assert tracked.found.tolist() == [True, False, True] and tracked.points.shape == (3, 68, 3)
    assert np.allclose(tracked.points[1], faces[0].points, atol=1e-3)


def test_face_alignment_failed_download_says_what_to_do(monkeypatch: pytest.MonkeyPatch) -> None:
    _fake_face_alignment(monkeypatch, urllib.error.URLError("no network"))
    with pytest.raises(ImportError, match="could not download or load its model weights") as info:
        FaceAlignmentBackend()
    assert "checkpoints" in str(info.value) and "mediapipe backend" in str(info.value)


def test_face_alignment_missing_package(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "face_alignment", None)
    with pytest.raises(ImportError, match="pip install face-alignment"):
        FaceAlignmentBackend()


def test_native_logs_are_silenced_while_python_stderr_still_speaks(capfd):
    import os
    import sys

    from flowvq_core.face.landmarks import native_logs_silenced

    with native_logs_silenced():
        os.write(2, b"native chatter\n")
        print("our progress", file=sys.stderr)
    os.write(2, b"native again\n")
    err = capfd.readouterr().err
    assert "our progress" in err and "native chatter" not in err and "native again" in err
