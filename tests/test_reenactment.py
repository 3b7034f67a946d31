"""Self-reenactment scores, and reading the real clips they run on."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image
from video_helpers import astronaut_talking_frames

from flowvq_core.evaluation.clips import read_animation
from flowvq_core.evaluation.reenactment import face_region_mask, reenactment_scores, score_frames, self_reenact


@pytest.fixture(scope="module")
def reenacted():
    """12 frames of the astronaut talking and turning, reenacted by the geometric renderer from the first."""
    pytest.importorskip("mediapipe")
    from flowvq_core.face import GeometricRenderer

    return self_reenact(astronaut_talking_frames(12, size=256, turn=0.3), GeometricRenderer(), crop_size=256)


def test_identical_frames_score_perfectly(reenacted):
    from flowvq_core.evaluation.face_measures import track_frames

    real = reenacted[0][:4]
    points = track_frames(real).points
    scores = reenactment_scores(real, real.copy(), points, points.copy())
    assert scores.frames == 3 and scores.ssim == pytest.approx(1.0)
    assert scores.m_lmd == pytest.approx(0.0, abs=1e-3) and scores.f_lmd == pytest.approx(0.0, abs=1e-3)
    assert scores.cpbd_rendered == pytest.approx(scores.cpbd_source)
    assert scores.lip_gap_correlation == pytest.approx(1.0)
    with pytest.raises(ValueError, match="no frame after the first"):
        reenactment_scores(real, real, points, points, found=np.array([True, False, False, False]))


def test_reproducing_the_motion_beats_holding_the_first_frame(reenacted):
    real, rendered, fitted = reenacted
    assert real.shape == rendered.shape == (12, 256, 256, 3) and real.dtype == rendered.dtype == np.uint8
    assert fitted.found.all() and fitted.crop.output_size == 256
    scores = score_frames(real, rendered)
    assert scores.frames == 11
    assert scores.ssim > scores.ssim_hold
    assert scores.m_lmd < scores.m_lmd_hold and scores.f_lmd < scores.f_lmd_hold
    assert scores.lip_gap_correlation is not None and scores.lip_gap_correlation > 0.8


def test_face_region_mask_fills_the_face_oval():
    from flowvq_core.face.topology import face_topology

    oval = face_topology().loops["face_oval"]
    angle = np.linspace(0, 2 * np.pi, len(oval), endpoint=False)
    points = np.zeros((478, 3))
    points[oval, 0], points[oval, 1] = 50.5 + 30 * np.cos(angle), 40.5 + 20 * np.sin(angle)
    mask = face_region_mask(points, 80, 100)
    assert mask.shape == (80, 100) and mask[40, 50] and not mask[40, 85] and not mask[5, 50]
    assert mask.sum() == pytest.approx(np.pi * 30 * 20, rel=0.05)


def _write_webp(path, durations: list[int], size: tuple[int, int] = (40, 20)) -> None:
    frames = []
    for index in range(len(durations)):
        pixels = np.zeros((size[1], size[0], 3), np.uint8)
        pixels[:, : size[0] // 2] = (200, 10 * index, 0)  # left half red, right half blue
        pixels[:, size[0] // 2 :] = (0, 10 * index, 200)
        frames.append(Image.fromarray(pixels))
    frames[0].save(path, save_all=True, append_images=frames[1:], duration=durations, lossless=True)


def test_read_animation_gives_frames_fps_and_a_region(tmp_path):
    path = tmp_path / "clip.webp"
    _write_webp(path, [50] * 6)
    frames, fps = read_animation(path)
    assert frames.shape == (6, 20, 40, 3) and frames.dtype == np.uint8 and fps == pytest.approx(20.0)
    right, _ = read_animation(path, region=(0.5, 0.0, 1.0, 1.0))
    assert right.shape == (6, 20, 20, 3) and (right[..., 2] == 200).all() and (right[..., 0] == 0).all()
    bottom, _ = read_animation(path, region=(0.0, 0.5, 1.0, 1.0))
    assert bottom.shape == (6, 10, 40, 3) and (bottom[:, :, :20] == frames[:, 10:, :20]).all()
    assert (frames[3, 0, 0] == (200, 30, 0)).all(), "frames in order"


def test_read_animation_names_the_file_it_cannot_read(tmp_path):
    with pytest.raises(FileNotFoundError, match="missing.webp"):
        read_animation(tmp_path / "missing.webp")
    broken = tmp_path / "broken.webp"
    broken.write_bytes(b"not an image at all")
    with pytest.raises(ValueError, match="broken.webp"):
        read_animation(broken)
    still = tmp_path / "still.png"
    Image.new("RGB", (40, 40)).save(still)
    with pytest.raises(ValueError, match="still.png.*still image"):
        read_animation(still)
    _write_webp(tmp_path / "clip.webp", [40, 40, 40])
    with pytest.raises(ValueError, match="region"):
        read_animation(tmp_path / "clip.webp", region=(0.5, 0.0, 0.4, 1.0))
