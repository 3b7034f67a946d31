"""Photo → fitted face: the public entry points ``extract(image)`` and ``extract_video(frames)``."""

from __future__ import annotations

import functools
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from torch import Tensor

from ..errors import InvalidOptionError, NoFaceError
from .crop import CropBox, crop_images, face_crop_box, stable_crop_box
from .eye_appearance import EyeAppearance
from .fitting import fit_single, fit_to_neutral
from .images import to_rgb_uint8
from .landmarks import IBUG68_SCHEME, MEDIAPIPE_SCHEME, LandmarkBackend, detect_face, get_backend
from .rig import FACE_MODEL_ID, UNIT_NAMES, ExpressionRig
from .topology import IBUG68_TO_MESH, NUM_VERTICES


@dataclass
class FittedFace:
    """One subject's face as the rig sees it in one photo."""

    neutral: Tensor
    """[468, 3] the identity's neutral mesh in canonical head space (what the rig deforms)."""
    expression: Tensor
    """[U] β of the photo (unit names in ``unit_names``)."""
    pose: Tensor
    """[6] ρ of the photo: pitch, yaw, roll (radians), tx, ty (crop units), scale."""
    crop: CropBox
    """Where the face crop lies in the photo."""
    landmarks: np.ndarray
    """[N, 3] the detected landmarks in photo pixels."""
    num_faces: int = 1
    """How many faces the photo held (the largest was fitted)."""
    eye_appearance: EyeAppearance | None = None
    """This subject's eyes rendered from wide open to closed (``extract(..., eye_appearance=True)``): later photos
    and frames fitted against this face read their blinks from it, about twice as precisely as from landmarks."""
    face_model_id: str = FACE_MODEL_ID
    unit_names: tuple[str, ...] = UNIT_NAMES

    @functools.cached_property
    def rig(self) -> ExpressionRig:
        return ExpressionRig(self.neutral.double())

    def crop_image(self, image: Any) -> Tensor:
        """The face crop [S, S, 3] (float 0..1) of ``image`` (the photo this face was fitted on)."""
        rgb = torch.tensor(to_rgb_uint8(image)).float() / 255  # a copy: the photo may be a read-only array
        return crop_images(rgb, self.crop)[0]


@dataclass
class FittedVideo:
    """A subject's coefficients over the frames of a video, relative to one neutral mesh."""

    neutral: Tensor
    expression: Tensor
    """[T, U]"""
    pose: Tensor
    """[T, 6]"""
    crop: CropBox
    """One stable crop for the whole video."""
    found: np.ndarray
    """[T] whether a face was found in each frame (missing frames carry interpolated landmarks)."""
    unit_names: tuple[str, ...] = field(default=UNIT_NAMES)

    @property
    def missing_frames(self) -> list[int]:
        return np.flatnonzero(~self.found).tolist()


def _crop_units(points: np.ndarray, box: CropBox, count: int = NUM_VERTICES) -> Tensor:
    """The first ``count`` landmarks (the mesh vertices, without FaceMesh's iris points) in crop units."""
    return torch.as_tensor(box.to_crop(points[..., :count, :]) / box.output_size, dtype=torch.float64)


def _mesh_vertices(scheme: str, identity: FittedFace | None, name: str) -> np.ndarray | None:
    """Which mesh vertex each landmark of ``scheme`` is (None: the full mesh), or a clear error."""
    if scheme == MEDIAPIPE_SCHEME:
        return None
    if scheme != IBUG68_SCHEME:
        raise InvalidOptionError(f"{name}: landmarks of scheme {scheme!r} cannot be fitted to the {FACE_MODEL_ID} rig")
    if identity is None:
        raise InvalidOptionError(
            f"{name}: 68 face-alignment landmarks cannot define a face on their own; extract a photo of the same "
            "person with the mediapipe backend first and pass it as identity"
        )
    return np.array(IBUG68_TO_MESH)


def extract(
    image: Any,
    *,
    identity: FittedFace | None = None,
    backend: str | LandmarkBackend = "mediapipe",
    crop_size: int = 512,
    margin: float = 0.35,
    name: str = "image",
    eye_appearance: bool = False,
) -> FittedFace:
    """Fit the face model to the largest face of one photo (numpy HxWx3 uint8/float, or a tensor).

    With ``identity`` (a face fitted earlier on another photo of the same person) the photo is fitted against that
    neutral mesh, so every unit is measured, and its eyes against the identity's eye appearance when it has one;
    otherwise the photo defines the identity (see ``fitting.py``). ``eye_appearance=True`` also renders this face's
    eyes at every opening (about a second on a CPU) so that faces fitted against it read blinks precisely.
    """
    rgb = to_rgb_uint8(image, name=name)
    landmarks, count = detect_face(rgb, backend=backend, name=name)
    vertices = _mesh_vertices(landmarks.scheme, identity, name)
    box = face_crop_box(landmarks.points, rgb.shape[0], rgb.shape[1], output_size=crop_size, margin=margin)
    points = _crop_units(landmarks.points, box, len(vertices) if vertices is not None else NUM_VERTICES)
    if identity is None:
        neutral, beta, pose = fit_single(points)
    else:
        neutral = identity.neutral.double()
        appearance = identity.eye_appearance
        read_eyes = None if appearance is None else functools.partial(appearance.measure_images, [rgb], box)
        beta, pose = fit_to_neutral(points, neutral, identity.rig.units, vertices, read_eyes)
    face = FittedFace(
        neutral=neutral.float(),
        expression=beta.float(),
        pose=pose.float(),
        crop=box,
        landmarks=landmarks.points,
        num_faces=count,
    )
    if eye_appearance:
        face.eye_appearance = EyeAppearance.from_face(face.crop_image(rgb), face.neutral, face.expression, face.pose)
    return face


def _rgb_frames(frames: Iterable[Any]) -> Iterable[np.ndarray]:
    for index, frame in enumerate(frames):
        yield to_rgb_uint8(frame, name=f"frame {index}", allow_blank=True)


def extract_video(
    frames: Iterable[Any],
    *,
    identity: FittedFace | None = None,
    backend: str | LandmarkBackend = "mediapipe",
    crop_size: int = 512,
    margin: float = 0.35,
    smoothing: float = 0.5,
) -> FittedVideo:
    """Track and fit every frame of a video against one neutral mesh (``identity``, else the first frame's).

    When ``frames`` can be read twice (a list, an array or a tensor of frames), the eyes are measured against the
    subject's eye appearance (the identity's, else rendered from the first frame with a face): a second pass over
    the frames, about 20 ms each. A one-pass iterator reads them from the landmarks' lid apertures instead.
    """
    detector = get_backend(backend) if isinstance(backend, str) else backend
    first_shape: list[tuple[int, int]] = []
    rereadable = isinstance(frames, Sequence | np.ndarray | Tensor)

    def checked(stream: Iterable[Any]) -> Iterable[np.ndarray]:
        for rgb in _rgb_frames(stream):
            first_shape.append(rgb.shape[:2])
            yield rgb

    tracked = detector.track(checked(frames), smoothing=smoothing)
    if not tracked.found.any():
        raise NoFaceError("any frame of the video")
    height, width = first_shape[0]
    vertices = _mesh_vertices(tracked.scheme, identity, "video")
    box = stable_crop_box(tracked.points, height, width, output_size=crop_size, margin=margin)
    points = _crop_units(tracked.points, box, len(vertices) if vertices is not None else NUM_VERTICES)
    first = int(np.flatnonzero(tracked.found)[0])
    if identity is None:
        neutral, first_beta, first_pose = fit_single(points[first])
        rig = ExpressionRig(neutral)
        appearance = None
        if rereadable:
            first_frame = to_rgb_uint8(frames[first], name=f"frame {first}")
            appearance = EyeAppearance.from_face(crop_images(torch.from_numpy(first_frame).float() / 255, box)[0],
                                                 neutral, first_beta, first_pose)  # fmt: skip
    else:
        neutral, rig, appearance = identity.neutral.double(), identity.rig, identity.eye_appearance
    read_eyes = None
    if appearance is not None and rereadable:
        read_eyes = functools.partial(appearance.measure_images, _rgb_frames(frames), box)
    beta, pose = fit_to_neutral(points, neutral, rig.units, vertices, read_eyes)
    return FittedVideo(
        neutral=neutral.float(), expression=beta.float(), pose=pose.float(), crop=box, found=tracked.found
    )
