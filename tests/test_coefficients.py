"""Tests for flowvq_core.coefficients: validation, select, safetensors/JSON round trips and the Live Link Face CSV."""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path

import pytest
import torch

from flowvq_core.checkpoint import CheckpointError, save_checkpoint
from flowvq_core.coefficients import KIND, CoefficientSequence
from flowvq_core.face.rig import FACE_MODEL_ID, UNIT_NAMES

# The Live Link Face CSV header, typed out independently of the module under test.
LIVE_LINK_HEADER = [
    "Timecode", "BlendShapeCount", "EyeBlinkLeft", "EyeLookDownLeft", "EyeLookInLeft", "EyeLookOutLeft",
    "EyeLookUpLeft", "EyeSquintLeft", "EyeWideLeft", "EyeBlinkRight", "EyeLookDownRight", "EyeLookInRight",
    "EyeLookOutRight", "EyeLookUpRight", "EyeSquintRight", "EyeWideRight", "JawForward", "JawRight", "JawLeft",
    "JawOpen", "MouthClose", "MouthFunnel", "MouthPucker", "MouthRight", "MouthLeft", "MouthSmileLeft",
    "MouthSmileRight", "MouthFrownLeft", "MouthFrownRight", "MouthDimpleLeft", "MouthDimpleRight",
    "MouthStretchLeft", "MouthStretchRight", "MouthRollLower", "MouthRollUpper", "MouthShrugLower",
    "MouthShrugUpper", "MouthPressLeft", "MouthPressRight", "MouthLowerDownLeft", "MouthLowerDownRight",
    "MouthUpperUpLeft", "MouthUpperUpRight", "BrowDownLeft", "BrowDownRight", "BrowInnerUp", "BrowOuterUpLeft",
    "BrowOuterUpRight", "CheekPuff", "CheekSquintLeft", "CheekSquintRight", "NoseSneerLeft", "NoseSneerRight",
    "TongueOut", "HeadYaw", "HeadPitch", "HeadRoll", "LeftEyeYaw", "LeftEyePitch", "LeftEyeRoll", "RightEyeYaw",
    "RightEyePitch", "RightEyeRoll",
]  # fmt: skip


def make_sequence(samples: int = 2, frames: int = 7, fps: float = 25.0, **metadata: object) -> CoefficientSequence:
    """Random coefficients with the real rig's unit names; expression spans −0.5..1.5 to exercise clipping."""
    generator = torch.Generator().manual_seed(samples * 100 + frames)
    expression = torch.rand(samples, frames, len(UNIT_NAMES), generator=generator) * 2 - 0.5
    pose = torch.randn(samples, frames, 6, generator=generator) * 0.3
    metadata = {"unit_names": UNIT_NAMES, "face_model_id": FACE_MODEL_ID} | metadata
    return CoefficientSequence(expression, pose, fps, **metadata)


def read_csv(path: Path) -> list[list[str]]:
    with open(path, newline="") as handle:
        return list(csv.reader(handle))


def column(rows: list[list[str]], name: str) -> list[float]:
    index = rows[0].index(name)
    return [float(row[index]) for row in rows[1:]]


def timecode_seconds(timecode: str) -> float:
    """How Epic's LiveLinkFaceImporter reads a timecode: hh:mm:ss + frame.zzz / 60."""
    hours, minutes, seconds, frames = timecode.split(":")
    return int(hours) * 3600 + int(minutes) * 60 + int(seconds) + float(frames) / 60


# --- construction and select ---------------------------------------------------------------------------------------


def test_positional_constructor_and_defaults() -> None:
    sequence = CoefficientSequence(torch.zeros(1, 3, 4), torch.zeros(1, 3, 6), 30)
    assert sequence.unit_names is None and sequence.face_model_id is None
    assert sequence.fps == 30.0 and isinstance(sequence.fps, float)
    assert sequence.num_samples == 1 and sequence.num_frames == 3


def test_unit_names_list_becomes_tuple() -> None:
    sequence = CoefficientSequence(torch.zeros(1, 2, 2), torch.zeros(1, 2, 6), 25, ["jawOpen", "mouthClose"])
    assert sequence.unit_names == ("jawOpen", "mouthClose")


@pytest.mark.parametrize(
    ("expression", "pose", "fps", "names", "message"),
    [
        (torch.zeros(3, 4), torch.zeros(1, 3, 6), 25, None, "expression must be a 3-D"),
        (torch.zeros(1, 3, 4), torch.zeros(3, 6), 25, None, "pose must be a 3-D"),
        ([[[0.0]]], torch.zeros(1, 1, 6), 25, None, "got list"),
        (torch.zeros(1, 3, 4), torch.zeros(1, 4, 6), 25, None, "same number of samples B and frames T"),
        (torch.zeros(2, 3, 4), torch.zeros(1, 3, 6), 25, None, "same number of samples B and frames T"),
        (torch.zeros(1, 0, 4), torch.zeros(1, 0, 6), 25, None, "at least one sample and one frame"),
        (torch.zeros(1, 3, 4), torch.zeros(1, 3, 5), 25, None, "pose must have 6 columns"),
        (torch.zeros(1, 3, 4), torch.zeros(1, 3, 6), 0, None, "fps must be a positive number"),
        (torch.zeros(1, 3, 4), torch.zeros(1, 3, 6), math.nan, None, "fps must be a positive number"),
        (torch.zeros(1, 3, 4), torch.zeros(1, 3, 6), True, None, "fps must be a positive number"),
        (torch.zeros(1, 3, 4), torch.zeros(1, 3, 6), "25", None, "fps must be a positive number"),
        (torch.zeros(1, 3, 2), torch.zeros(1, 3, 6), 25, ("jawOpen",), "1 unit_names for 2 expression columns"),
        (torch.zeros(1, 3, 2), torch.zeros(1, 3, 6), 25, ("jawOpen", "jawOpen"), "must be unique"),
        (torch.zeros(1, 3, 2), torch.zeros(1, 3, 6), 25, ("jawOpen", 3), "must be strings"),
        (torch.zeros(1, 3, 2), torch.zeros(1, 3, 6), 25, "ab", "not the string"),
    ],
)
def test_validation_errors(expression: object, pose: object, fps: object, names: object, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        CoefficientSequence(expression, pose, fps, names)


def test_face_model_id_must_be_a_string() -> None:
    with pytest.raises(ValueError, match="face_model_id must be a string"):
        CoefficientSequence(torch.zeros(1, 1, 1), torch.zeros(1, 1, 6), 25, face_model_id=7)


def test_select_keeps_one_sample_and_the_metadata() -> None:
    sequence = make_sequence(samples=3)
    one = sequence.select(2)
    assert one.expression.shape == (1, 7, len(UNIT_NAMES)) and one.pose.shape == (1, 7, 6)
    assert torch.equal(one.expression[0], sequence.expression[2]) and torch.equal(one.pose[0], sequence.pose[2])
    assert (one.fps, one.unit_names, one.face_model_id) == (25.0, UNIT_NAMES, FACE_MODEL_ID)
    for bad in (3, -1):
        with pytest.raises(IndexError, match="samples 0..2"):
            sequence.select(bad)


# --- saving and loading --------------------------------------------------------------------------------------------


def assert_same_metadata(loaded: CoefficientSequence, original: CoefficientSequence) -> None:
    assert (loaded.fps, loaded.unit_names, loaded.face_model_id) == (
        original.fps,
        original.unit_names,
        original.face_model_id,
    )


def test_safetensors_round_trip_is_exact(tmp_path: Path) -> None:
    sequence = make_sequence(fps=29.97)
    path = tmp_path / "sub" / "coefficients.safetensors"
    sequence.save(path)
    loaded = CoefficientSequence.load(path, face_model_id=FACE_MODEL_ID)
    assert torch.equal(loaded.expression, sequence.expression) and torch.equal(loaded.pose, sequence.pose)
    assert loaded.expression.dtype == torch.float32
    assert_same_metadata(loaded, sequence)


def test_json_round_trip_within_rounding(tmp_path: Path) -> None:
    sequence = make_sequence(fps=30)
    path = tmp_path / "coefficients.json"
    sequence.save(str(path))
    loaded = CoefficientSequence.load(str(path), face_model_id=FACE_MODEL_ID)
    assert loaded.expression.shape == sequence.expression.shape and loaded.pose.shape == sequence.pose.shape
    assert torch.allclose(loaded.expression, sequence.expression, atol=1e-6, rtol=0)
    assert torch.allclose(loaded.pose, sequence.pose, atol=1e-6, rtol=0)
    assert_same_metadata(loaded, sequence)


def test_json_is_human_readable(tmp_path: Path) -> None:
    path = tmp_path / "coefficients.json"
    make_sequence(samples=1, frames=3).save(path)
    data = json.loads(path.read_text())
    assert data["kind"] == KIND and data["fps"] == 25.0 and data["face_model_id"] == FACE_MODEL_ID
    assert data["unit_names"] == list(UNIT_NAMES)
    assert data["pose_names"] == ["pitch", "yaw", "roll", "tx", "ty", "scale"]
    assert all(len(str(value).split(".")[-1]) <= 6 for value in data["expression"][0][0])
    assert len(path.read_text().splitlines()) > 3 + 3  # one line per frame, not one huge line


@pytest.mark.parametrize("extension", [".safetensors", ".json"])
def test_round_trip_without_metadata(tmp_path: Path, extension: str) -> None:
    sequence = CoefficientSequence(torch.rand(1, 4, 3), torch.rand(1, 4, 6), 24)
    sequence.save(tmp_path / f"plain{extension}")
    loaded = CoefficientSequence.load(tmp_path / f"plain{extension}")
    assert loaded.unit_names is None and loaded.face_model_id is None and loaded.fps == 24.0


@pytest.mark.parametrize(("extension", "error"), [(".safetensors", CheckpointError), (".json", ValueError)])
def test_other_face_model_is_rejected(tmp_path: Path, extension: str, error: type[Exception]) -> None:
    path = tmp_path / f"clip{extension}"
    make_sequence().save(path)
    with pytest.raises(error, match=f"clip{extension}.*{FACE_MODEL_ID}.*other-face-model"):
        CoefficientSequence.load(path, face_model_id="other-face-model")
    make_sequence(face_model_id=None).save(path)
    with pytest.raises(error, match=f"clip{extension}.*names no face model"):
        CoefficientSequence.load(path, face_model_id=FACE_MODEL_ID)


@pytest.mark.parametrize("action", ["save", "load"])
def test_bad_extension(tmp_path: Path, action: str) -> None:
    path = tmp_path / "clip.npz"
    with pytest.raises(ValueError, match=r"clip\.npz.*\.safetensors or \.json"):
        make_sequence().save(path) if action == "save" else CoefficientSequence.load(path)
    assert not path.exists()


def test_extension_is_case_insensitive(tmp_path: Path) -> None:
    make_sequence().save(tmp_path / "CLIP.JSON")
    assert CoefficientSequence.load(tmp_path / "CLIP.JSON").num_samples == 2


@pytest.mark.parametrize(("extension", "error"), [(".safetensors", CheckpointError), (".json", FileNotFoundError)])
def test_missing_file(tmp_path: Path, extension: str, error: type[Exception]) -> None:
    with pytest.raises(error, match=f"nothing{extension}.*does not exist"):
        CoefficientSequence.load(tmp_path / f"nothing{extension}")


@pytest.mark.parametrize(("extension", "error"), [(".safetensors", CheckpointError), (".json", ValueError)])
def test_truncated_file(tmp_path: Path, extension: str, error: type[Exception]) -> None:
    path = tmp_path / f"clip{extension}"
    make_sequence().save(path)
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    with pytest.raises(error, match=f"clip{extension}"):
        CoefficientSequence.load(path)


def test_garbage_safetensors(tmp_path: Path) -> None:
    path = tmp_path / "clip.safetensors"
    path.write_bytes(b"\x00\x01not a safetensors file at all")
    with pytest.raises(CheckpointError, match="clip.safetensors.*not a readable safetensors file"):
        CoefficientSequence.load(path)


def test_safetensors_of_another_kind(tmp_path: Path) -> None:
    path = tmp_path / "model.safetensors"
    save_checkpoint(path, {"w": torch.zeros(2)}, kind="flowvq-generator", config_json="{}", face_model_id="x")
    with pytest.raises(CheckpointError, match="model.safetensors.*'flowvq-generator'.*expected 'flowvq-coefficients'"):
        CoefficientSequence.load(path)


@pytest.mark.parametrize(
    ("tensors", "config", "message"),
    [
        ({"expression": torch.zeros(1, 2, 3)}, {"fps": 25, "unit_names": None}, "no pose tensor"),
        ({"expression": torch.zeros(1, 2, 3), "pose": torch.zeros(1, 2, 6)}, {"unit_names": None}, "KeyError"),
        ({"expression": torch.zeros(1, 2, 3), "pose": torch.zeros(1, 3, 6)}, {"fps": 25, "unit_names": None}, "same"),
        (
            {"expression": torch.zeros(1, 2, 3), "pose": torch.zeros(1, 2, 6)},
            {"fps": 25, "unit_names": ["a"]},
            "1 unit",
        ),
    ],
)
def test_damaged_safetensors_content(tmp_path: Path, tensors: dict, config: dict, message: str) -> None:
    path = tmp_path / "clip.safetensors"
    save_checkpoint(path, tensors, kind=KIND, config_json=json.dumps(config), face_model_id="")
    with pytest.raises(CheckpointError, match=f"clip.safetensors.*{message}"):
        CoefficientSequence.load(path)


def json_file(tmp_path: Path, **changes: object) -> Path:
    """A valid JSON coefficient file with ``changes`` applied (a value of ``...`` deletes the key)."""
    path = tmp_path / "clip.json"
    make_sequence(samples=1, frames=3).save(path)
    data = json.loads(path.read_text())
    for key, value in changes.items():
        if value is ...:
            del data[key]
        else:
            data[key] = value
    path.write_text(json.dumps(data))
    return path


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"kind": "something-else"}, "'something-else' file, not 'flowvq-coefficients'"),
        ({"pose": ..., "fps": ...}, "lacks the keys fps, pose"),
        ({"format_version": 2}, "format version 2"),
        ({"pose_names": ["yaw", "pitch", "roll", "tx", "ty", "scale"]}, "pose columns"),
        ({"expression": [[[0.0, 1.0], [0.5]]]}, "expression is not a rectangular"),
        ({"expression": [[["a", "b"]]]}, "expression is not a rectangular"),
        ({"pose": [[[0.0] * 6] * 2]}, "same number of samples B and frames T"),
        ({"expression": [[[0.0] * 39] * 3]}, "40 unit_names for 39 expression columns"),
        ({"expression": [0.0, 1.0]}, "expression must be a 3-D"),
        ({"fps": "fast"}, "fps must be a positive number"),
    ],
)
def test_bad_json_content(tmp_path: Path, changes: dict, message: str) -> None:
    with pytest.raises(ValueError, match=f"clip.json.*{message}"):
        CoefficientSequence.load(json_file(tmp_path, **changes))


@pytest.mark.parametrize(("text", "message"), [("{not json", "not readable JSON"), ("[1, 2]", "JSON list")])
def test_invalid_json(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "clip.json"
    path.write_text(text)
    with pytest.raises(ValueError, match=f"clip.json.*{message}"):
        CoefficientSequence.load(path)


def test_save_leaves_no_temporary_files(tmp_path: Path) -> None:
    sequence = make_sequence()
    for name in ("a.json", "b.safetensors"):
        sequence.save(tmp_path / name)
    sequence.to_arkit_csv(tmp_path / "c.csv")
    assert sorted(path.name for path in tmp_path.iterdir()) == ["a.json", "b.safetensors", "c.csv"]


# --- Live Link Face CSV --------------------------------------------------------------------------------------------


def test_arkit_csv_layout_and_values(tmp_path: Path) -> None:
    sequence = make_sequence(samples=2, frames=9)
    path = tmp_path / "face.csv"
    sequence.to_arkit_csv(path, sample=1)
    rows = read_csv(path)
    assert rows[0] == LIVE_LINK_HEADER and len(rows[0]) == 63
    assert len(rows) == 1 + 9 and all(len(row) == 63 for row in rows)
    assert {row[1] for row in rows[1:]} == {"61"}
    expected = sequence.expression[1, :, UNIT_NAMES.index("jawOpen")].clamp(0, 1)
    assert torch.allclose(
        torch.tensor(column(rows, "JawOpen"), dtype=torch.float64), expected.double(), atol=1e-9, rtol=0
    )
    assert min(column(rows, "JawOpen")) == 0.0 and max(column(rows, "JawOpen")) == 1.0  # clipping happened
    for name in UNIT_NAMES:
        values = column(rows, name[0].upper() + name[1:])
        assert min(values) >= 0.0 and max(values) <= 1.0
    ours = {name[0].upper() + name[1:] for name in UNIT_NAMES}
    missing = [name for name in LIVE_LINK_HEADER[2:54] if name not in ours]
    assert set(missing) == {
        "EyeLookDownLeft", "EyeLookInLeft", "EyeLookOutLeft", "EyeLookUpLeft", "EyeLookDownRight",
        "EyeLookInRight", "EyeLookOutRight", "EyeLookUpRight", "JawForward", "MouthDimpleLeft",
        "MouthDimpleRight", "TongueOut",
    }  # fmt: skip
    for name in missing + LIVE_LINK_HEADER[57:]:
        assert set(column(rows, name)) == {0.0}, name


def test_arkit_csv_head_rotation_convention(tmp_path: Path) -> None:
    pose = torch.zeros(1, 2, 6)
    pose[0, 0, :3] = torch.tensor([0.1, 0.3, 0.2])  # our pitch (nose down), yaw (nose to image right), roll
    sequence = CoefficientSequence(torch.zeros(1, 2, 1), pose, 25, ("jawOpen",))
    sequence.to_arkit_csv(tmp_path / "head.csv")
    rows = read_csv(tmp_path / "head.csv")
    # Live Link Face: positive HeadYaw turns to the subject's own right = our negative yaw; pitch keeps its sign.
    assert column(rows, "HeadYaw") == pytest.approx([-0.3, 0.0])
    assert column(rows, "HeadPitch") == pytest.approx([0.1, 0.0])
    assert column(rows, "HeadRoll") == pytest.approx([-0.2, 0.0])
    assert "-0.0000000000" not in (tmp_path / "head.csv").read_text()


@pytest.mark.parametrize(
    ("fps", "expected"),
    [
        (25, {0: "00:00:00:00.000", 1: "00:00:00:02.400", 24: "00:00:00:57.600", 25: "00:00:01:00.000"}),
        (30, {0: "00:00:00:00.000", 1: "00:00:00:02.000", 29: "00:00:00:58.000", 30: "00:00:01:00.000"}),
    ],
)
def test_arkit_csv_timecodes(tmp_path: Path, fps: int, expected: dict[int, str]) -> None:
    frames = 2 * fps + 3
    sequence = CoefficientSequence(torch.zeros(1, frames, 1), torch.zeros(1, frames, 6), fps, ("jawOpen",))
    sequence.to_arkit_csv(tmp_path / "t.csv")
    timecodes = [row[0] for row in read_csv(tmp_path / "t.csv")[1:]]
    assert {index: timecodes[index] for index in expected} == expected
    assert timecodes[2 * fps] == "00:00:02:00.000"
    seconds = [timecode_seconds(timecode) for timecode in timecodes]
    assert seconds == pytest.approx([index / fps for index in range(frames)], abs=1e-9)
    assert all(later > earlier for earlier, later in zip(seconds, seconds[1:], strict=False))


def test_arkit_csv_start_timecode_carries_into_minutes_and_hours(tmp_path: Path) -> None:
    sequence = CoefficientSequence(torch.zeros(1, 3, 1), torch.zeros(1, 3, 6), 30, ("jawOpen",))
    sequence.to_arkit_csv(tmp_path / "t.csv", start_timecode="13:59:59:58.000")
    timecodes = [row[0] for row in read_csv(tmp_path / "t.csv")[1:]]
    assert timecodes == ["13:59:59:58.000", "14:00:00:00.000", "14:00:00:02.000"]


def test_arkit_csv_non_integer_fps(tmp_path: Path) -> None:
    frames = 40
    sequence = CoefficientSequence(torch.zeros(1, frames, 1), torch.zeros(1, frames, 6), 30000 / 1001, ("jawOpen",))
    sequence.to_arkit_csv(tmp_path / "t.csv", start_timecode="00:00:00:00")
    seconds = [timecode_seconds(row[0]) for row in read_csv(tmp_path / "t.csv")[1:]]
    assert seconds == pytest.approx([index * 1001 / 30000 for index in range(frames)], abs=1e-4)


@pytest.mark.parametrize("timecode", ["0:00:00:00", "00:60:00:00.000", "00:00:00:60.000", "00:00:00:00.1234", ""])
def test_arkit_csv_bad_start_timecode(tmp_path: Path, timecode: str) -> None:
    with pytest.raises(ValueError, match="start_timecode"):
        make_sequence().to_arkit_csv(tmp_path / "t.csv", start_timecode=timecode)


def test_arkit_csv_needs_unit_names(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="has no unit names"):
        make_sequence(unit_names=None).to_arkit_csv(tmp_path / "t.csv")
    assert not (tmp_path / "t.csv").exists()


def test_arkit_csv_rejects_units_without_arkit_shape(tmp_path: Path) -> None:
    sequence = CoefficientSequence(torch.zeros(1, 2, 2), torch.zeros(1, 2, 6), 25, ("jawOpen", "earWiggle"))
    with pytest.raises(ValueError, match="earWiggle"):
        sequence.to_arkit_csv(tmp_path / "t.csv")


def test_arkit_csv_bad_sample(tmp_path: Path) -> None:
    with pytest.raises(IndexError, match="samples 0..1"):
        make_sequence().to_arkit_csv(tmp_path / "t.csv", sample=2)
