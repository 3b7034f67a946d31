"""A sequence of face coefficients: expression β, pose ρ and the frame rate they were made for.

Saved as safetensors (exact, via :mod:`flowvq_core.checkpoint`) or human-readable JSON, and exported as a Live Link
Face CSV so the motion can drive ARKit-rigged 3D avatars (Unreal's LiveLinkFaceImporter, Blender and Maya add-ons).
"""

from __future__ import annotations

import json
import math
import numbers
import os
import re
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

import numpy as np
import torch
from torch import Tensor

from .checkpoint import CheckpointError, read_checkpoint, save_checkpoint
from .errors import BadFileError, InputNotFoundError, InvalidOptionError
from .face.pose import POSE_NAMES
from .files import atomic_write_text

KIND = "flowvq-coefficients"
"""The ``kind`` written into every coefficient file; loading any other kind is an error."""
JSON_FORMAT_VERSION = 1

LIVE_LINK_FACE_SHAPES: tuple[str, ...] = (
    "EyeBlinkLeft", "EyeLookDownLeft", "EyeLookInLeft", "EyeLookOutLeft", "EyeLookUpLeft", "EyeSquintLeft",
    "EyeWideLeft", "EyeBlinkRight", "EyeLookDownRight", "EyeLookInRight", "EyeLookOutRight", "EyeLookUpRight",
    "EyeSquintRight", "EyeWideRight", "JawForward", "JawRight", "JawLeft", "JawOpen", "MouthClose", "MouthFunnel",
    "MouthPucker", "MouthRight", "MouthLeft", "MouthSmileLeft", "MouthSmileRight", "MouthFrownLeft",
    "MouthFrownRight", "MouthDimpleLeft", "MouthDimpleRight", "MouthStretchLeft", "MouthStretchRight",
    "MouthRollLower", "MouthRollUpper", "MouthShrugLower", "MouthShrugUpper", "MouthPressLeft", "MouthPressRight",
    "MouthLowerDownLeft", "MouthLowerDownRight", "MouthUpperUpLeft", "MouthUpperUpRight", "BrowDownLeft",
    "BrowDownRight", "BrowInnerUp", "BrowOuterUpLeft", "BrowOuterUpRight", "CheekPuff", "CheekSquintLeft",
    "CheekSquintRight", "NoseSneerLeft", "NoseSneerRight", "TongueOut",
)  # fmt: skip
"""The 52 ARKit blendshape columns of a Live Link Face CSV, in the app's order."""
LIVE_LINK_FACE_ROTATIONS: tuple[str, ...] = (
    "HeadYaw", "HeadPitch", "HeadRoll", "LeftEyeYaw", "LeftEyePitch", "LeftEyeRoll", "RightEyeYaw", "RightEyePitch",
    "RightEyeRoll",
)  # fmt: skip
LIVE_LINK_FACE_COLUMNS = ("Timecode", "BlendShapeCount", *LIVE_LINK_FACE_SHAPES, *LIVE_LINK_FACE_ROTATIONS)
_BLEND_SHAPE_COUNT = len(LIVE_LINK_FACE_SHAPES) + len(LIVE_LINK_FACE_ROTATIONS)  # 61, as the app writes it
_TIMECODE_RATE = 60  # the Timecode frame field counts 1/60 s, whatever the data rate
_TIMECODE = re.compile(r"(\d{2,}):([0-5]\d):([0-5]\d):([0-5]\d(?:\.\d{1,3})?)")
_FORMATS = {".safetensors": "safetensors", ".json": "json"}
_JSON_KEYS = ("kind", "format_version", "fps", "face_model_id", "unit_names", "pose_names", "expression", "pose")


@dataclass
class CoefficientSequence:
    expression: Tensor
    """[B, T, D] expression coefficients β̂ (B samples of T frames)."""
    pose: Tensor
    """[B, T, P] head pose ρ̂ (pitch, yaw, roll, tx, ty, scale)."""
    fps: float
    unit_names: tuple[str, ...] | None = None
    """Names of the D expression columns (ARKit names for the open rig), or None when unknown."""
    face_model_id: str | None = None
    """The face model the coefficients belong to, or None when unknown."""

    def __post_init__(self) -> None:
        """Reject inconsistent shapes and metadata here, so every later step can trust them."""
        for label, tensor in (("expression", self.expression), ("pose", self.pose)):
            if not isinstance(tensor, Tensor) or tensor.ndim != 3:
                got = f"shape {tuple(tensor.shape)}" if isinstance(tensor, Tensor) else type(tensor).__name__
                raise ValueError(f"{label} must be a 3-D [B, T, ·] tensor, got {got}")
        if 0 in self.expression.shape[:2]:
            raise ValueError(f"a sequence needs at least one sample and one frame, got {tuple(self.expression.shape)}")
        if self.expression.shape[:2] != self.pose.shape[:2]:
            raise ValueError(
                f"expression {tuple(self.expression.shape)} and pose {tuple(self.pose.shape)} must have the same "
                "number of samples B and frames T"
            )
        if self.pose.shape[2] != len(POSE_NAMES):
            raise ValueError(
                f"pose must have {len(POSE_NAMES)} columns ({', '.join(POSE_NAMES)}), got {self.pose.shape[2]}"
            )
        fps = self.fps
        if isinstance(fps, bool) or not isinstance(fps, numbers.Real) or not (math.isfinite(fps) and fps > 0):
            raise ValueError(f"fps must be a positive number, got {fps!r}")
        self.fps = float(fps)
        if self.unit_names is not None:
            if isinstance(self.unit_names, str):
                raise ValueError(f"unit_names must be a sequence of names, not the string {self.unit_names!r}")
            self.unit_names = tuple(self.unit_names)
            if not all(isinstance(name, str) for name in self.unit_names):
                raise ValueError(f"unit_names must be strings, got {self.unit_names!r}")
            if len(set(self.unit_names)) != len(self.unit_names):
                raise ValueError(f"unit_names must be unique, got {self.unit_names!r}")
            if len(self.unit_names) != self.expression.shape[2]:
                raise ValueError(
                    f"{len(self.unit_names)} unit_names for {self.expression.shape[2]} expression columns; "
                    "give one name per column"
                )
        if self.face_model_id is not None and not isinstance(self.face_model_id, str):
            raise ValueError(f"face_model_id must be a string or None, got {self.face_model_id!r}")

    @property
    def num_frames(self) -> int:
        return self.expression.shape[1]

    @property
    def num_samples(self) -> int:
        return self.expression.shape[0]

    def select(self, sample: int) -> CoefficientSequence:
        """Sample ``sample`` (0-based) alone, as a sequence with B = 1 and the same metadata."""
        if not 0 <= sample < self.num_samples:
            raise IndexError(f"sample {sample} does not exist; this sequence has samples 0..{self.num_samples - 1}")
        return CoefficientSequence(
            self.expression[sample : sample + 1],
            self.pose[sample : sample + 1],
            self.fps,
            self.unit_names,
            self.face_model_id,
        )

    def save(self, path: str | os.PathLike[str]) -> None:
        """Write to ``path`` by extension: ``.safetensors`` (exact float32) or ``.json`` (readable, 6 decimals)."""
        path = os.fspath(path)
        if _format_of(path) == "safetensors":
            config = {"fps": self.fps, "unit_names": _list_or_none(self.unit_names), "pose_names": list(POSE_NAMES)}
            save_checkpoint(
                path,
                {"expression": self.expression.float(), "pose": self.pose.float()},
                kind=KIND,
                config_json=json.dumps(config),
                face_model_id=self.face_model_id or "",
            )
            return
        header = {
            "kind": KIND,
            "format_version": JSON_FORMAT_VERSION,
            "fps": self.fps,
            "face_model_id": self.face_model_id,
            "unit_names": _list_or_none(self.unit_names),
            "pose_names": list(POSE_NAMES),
        }
        fields = [f"  {json.dumps(key)}: {json.dumps(value)}" for key, value in header.items()]
        fields += [f'  "expression": {_json_frames(self.expression)}', f'  "pose": {_json_frames(self.pose)}']
        atomic_write_text(path, "{\n" + ",\n".join(fields) + "\n}\n")

    @classmethod
    def load(cls, path: str | os.PathLike[str], *, face_model_id: str | None = None) -> CoefficientSequence:
        """Read a file written by :meth:`save`; ``face_model_id``, when given, must match the file's.

        Problems with a safetensors file raise :class:`CheckpointError`, problems with a JSON file ``ValueError``
        (CheckpointError is one too); every message names the file.
        """
        path = os.fspath(path)
        if _format_of(path) == "safetensors":
            sequence = _load_safetensors(path)
            error: type[ValueError] = CheckpointError
        else:
            sequence = _load_json(path)
            error = BadFileError
        if face_model_id is not None and sequence.face_model_id != face_model_id:
            made = (
                f"was made for face model {sequence.face_model_id!r}"
                if sequence.face_model_id
                else "names no face model"
            )
            raise error(
                f"Coefficient file {path!r} {made} but {face_model_id!r} is in use; "
                "extract the coefficients again with this face model."
            )
        return sequence

    def to_arkit_csv(
        self, path: str | os.PathLike[str], *, sample: int = 0, start_timecode: str = "00:00:00:00.000"
    ) -> None:
        """Write sample ``sample`` as a Live Link Face CSV, so the motion drives ARKit-rigged avatars.

        Layout as the Live Link Face app writes it: ``Timecode, BlendShapeCount`` (61), the 52 ARKit shapes, then
        the head and eye rotations; one row per frame, values with 10 decimals. Each unit maps by name (``jawOpen``
        → ``JawOpen``), clipped to 0..1; shapes without a unit and the eye rotations are 0.

        Timecode is ``HH:MM:SS:FF.fff`` where ``FF.fff`` counts 1/60 s whatever the data rate: Epic's
        LiveLinkFaceImporter (UnrealEngine, Engine/Plugins/Experimental/LiveLinkFaceImporter) reads it as
        ``seconds + FF.fff / 60``, and the app's own takes (e.g. those in
        github.com/alexdjulin/LiveLinkFace-CSV-Retarget-For-Motionbuilder) step FF by 2 at 30 fps. ``start_timecode``
        uses the same form and is added to every frame's time ``index / fps``.

        Head angles are radians, as in the app's takes: there the eye columns obey tan(roll) = sin(yaw)·tan(pitch)
        exactly in radians (Unreal's in-engine ARKit face support instead scales degrees / 180). The same takes
        fix the signs — positive yaw turns towards the subject's own right, positive pitch down — so
        HeadYaw = −yaw, HeadPitch = pitch, HeadRoll = −roll of our pose (the selfie-mirror of our convention:
        positive HeadRoll tilts the head's top towards the subject's own left). The public takes all have head
        rotation switched off, so the head signs assume the app treats head and eyes alike. Translation and scale
        have no column and are dropped.
        """
        if self.unit_names is None:
            raise BadFileError(
                "this sequence has no unit names, so its expression columns cannot be matched to ARKit shapes; "
                "set unit_names (e.g. flowvq_core.face.rig.UNIT_NAMES)"
            )
        shapes = {name: name[:1].upper() + name[1:] for name in self.unit_names}
        unknown = [name for name, shape in shapes.items() if shape not in LIVE_LINK_FACE_SHAPES]
        if unknown:
            raise BadFileError(
                f"units {', '.join(unknown)} have no ARKit blendshape; a Live Link Face CSV cannot hold them"
            )
        chosen = self.select(sample)
        expression = chosen.expression[0].detach().cpu().double().clamp(0, 1).numpy()
        pitch, yaw, roll = chosen.pose[0, :, :3].detach().cpu().double().numpy().T
        values = np.zeros((self.num_frames, _BLEND_SHAPE_COUNT))
        for index, shape in enumerate(shapes.values()):
            values[:, LIVE_LINK_FACE_SHAPES.index(shape)] = expression[:, index]
        head = len(LIVE_LINK_FACE_SHAPES)
        values[:, head : head + 3] = np.stack([-yaw, pitch, -roll], -1)
        values += 0.0  # turns -0.0 (a negated zero angle) into 0.0
        start = _parse_timecode(start_timecode)
        rate = Fraction(self.fps).limit_denominator(10_000)  # exact for 25, 30, 30000/1001, …
        rows = [",".join(LIVE_LINK_FACE_COLUMNS)]
        for frame, row in enumerate(values):
            timecode = _format_timecode(start + frame / rate)
            rows.append(",".join([timecode, str(_BLEND_SHAPE_COUNT), *(f"{value:.10f}" for value in row)]))
        atomic_write_text(os.fspath(path), "\n".join(rows) + "\n")


def _format_of(path: str) -> str:
    """``"safetensors"`` or ``"json"`` from the extension of ``path``."""
    extension = os.path.splitext(path)[1].lower()
    if extension not in _FORMATS:
        raise InvalidOptionError(f"Coefficient file {path!r} has an unsupported extension; use .safetensors or .json")
    return _FORMATS[extension]


def _list_or_none(names: tuple[str, ...] | None) -> list[str] | None:
    return None if names is None else list(names)


def _json_frames(tensor: Tensor) -> str:
    """[B, T, C] as JSON text with one frame per line, values rounded to 6 decimals."""
    array = np.round(tensor.detach().cpu().double().numpy(), 6)
    samples = [",\n".join(f"      {json.dumps(frame)}" for frame in sample.tolist()) for sample in array]
    return "[\n" + ",\n".join(f"    [\n{frames}\n    ]" for frames in samples) + "\n  ]"


def _load_safetensors(path: str) -> CoefficientSequence:
    """A coefficient safetensors file, its kind, tensors and config checked; every problem is a CheckpointError."""
    checkpoint = read_checkpoint(path, kind=KIND)
    problem = f"Coefficient file {path!r} is damaged; save it again"
    missing = [name for name in ("expression", "pose") if name not in checkpoint.tensors]
    if missing:
        raise CheckpointError(f"{problem} (no {' or '.join(missing)} tensor).")
    try:
        config = json.loads(checkpoint.config_json)
        sequence = CoefficientSequence(
            checkpoint.tensors["expression"],
            checkpoint.tensors["pose"],
            config["fps"],
            config["unit_names"],
            checkpoint.face_model_id or None,
        )
    except (ValueError, KeyError, TypeError) as error:
        raise CheckpointError(f"{problem} ({type(error).__name__}: {error}).") from error
    return sequence


def _load_json(path: str) -> CoefficientSequence:
    """A coefficient JSON file, its keys, version and arrays checked; every problem is a ValueError naming it."""
    try:
        with open(path, encoding="utf-8") as handle:
            data = json.load(handle)
    except FileNotFoundError as error:
        raise InputNotFoundError(f"Coefficient file {path!r} does not exist; check the path.") from error
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise BadFileError(f"Coefficient file {path!r} is not readable JSON ({error}); save it again.") from error
    if not isinstance(data, dict):
        raise BadFileError(f"Coefficient file {path!r} holds a JSON {type(data).__name__}, not an object.")
    missing = [key for key in _JSON_KEYS if key not in data]
    if missing:
        raise BadFileError(f"Coefficient file {path!r} lacks the keys {', '.join(missing)}; save it again.")
    if data["kind"] != KIND:
        raise BadFileError(f"{path!r} is a {data['kind']!r} file, not {KIND!r} coefficients.")
    version = data["format_version"]
    if not isinstance(version, int) or isinstance(version, bool) or not 1 <= version <= JSON_FORMAT_VERSION:
        raise BadFileError(
            f"Coefficient file {path!r} has format version {version!r}; this flowvq_core reads 1 to "
            f"{JSON_FORMAT_VERSION} (update flowvq_core for newer files)."
        )
    if data["pose_names"] != list(POSE_NAMES):
        raise BadFileError(
            f"Coefficient file {path!r} has pose columns {data['pose_names']!r}, expected {list(POSE_NAMES)}."
        )
    try:
        return CoefficientSequence(
            _json_array(data["expression"], "expression"),
            _json_array(data["pose"], "pose"),
            data["fps"],
            data["unit_names"],
            data["face_model_id"],
        )
    except (ValueError, TypeError) as error:
        raise BadFileError(f"Coefficient file {path!r} is inconsistent: {error}") from error


def _json_array(value: Any, label: str) -> Tensor:
    """A nested [B][T][C] list of numbers as a float32 tensor; ragged or non-numeric lists are rejected."""
    try:
        array = np.array(value, dtype=np.float64)
    except (ValueError, TypeError) as error:
        raise ValueError(f"{label} is not a rectangular [B, T, ·] array of numbers ({error})") from error
    return torch.from_numpy(array).float()


def _parse_timecode(text: str) -> Fraction:
    """``HH:MM:SS:FF.fff`` (FF.fff in 1/60 s) → seconds."""
    match = _TIMECODE.fullmatch(text) if isinstance(text, str) else None
    if match is None:
        raise ValueError(
            f"start_timecode {text!r} is not HH:MM:SS:FF.fff (minutes and seconds below 60, FF.fff below 60, "
            "counted in 1/60 s)"
        )
    hours, minutes, seconds, frames = match.groups()
    return int(hours) * 3600 + int(minutes) * 60 + int(seconds) + Fraction(frames) / _TIMECODE_RATE


def _format_timecode(time: Fraction) -> str:
    """Seconds → ``HH:MM:SS:FF.fff``; the sub-frame is truncated to 1/1000 so it never rounds up to 60."""
    whole = math.floor(time)
    frames = (time - whole) * _TIMECODE_RATE
    frame = math.floor(frames)
    thousandths = math.floor((frames - frame) * 1000)
    hours, rest = divmod(whole, 3600)
    minutes, seconds = divmod(rest, 60)
    return f"{hours:02d}:{minutes:02d}:{seconds:02d}:{frame:02d}.{thousandths:03d}"
