"""Real clips for the evaluation: the frames of an animated image (webp, GIF, APNG) or a video file, and their rate.

The talking-head previews the evaluation uses are animated webps, two of them before/after composites, so a
``region`` of the frame (fractions of its width and height) can be cut out as it is read.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from ..errors import BadVideoError, InputNotFoundError, InvalidOptionError

VIDEO_SUFFIXES = (".mp4", ".mov", ".mkv", ".webm", ".avi", ".m4v")
"""Read with PyAV (``flowvq_core.video``); anything else is opened as an image by Pillow."""


def read_animation(
    path: str | os.PathLike[str], region: tuple[float, float, float, float] | None = None
) -> tuple[np.ndarray, float]:
    """(frames [T, H, W, 3] uint8 RGB, fps) of an animated image or a video, cut to ``region`` = (x0, y0, x1, y1) as
    fractions of the frame when given (e.g. (0.5, 0, 1, 1): the right half).

    An animated image's rate is its frame count over the sum of its frame durations; transparency is composited
    over white. A single still image, or one without frame durations, is an error: it has no rate to report.
    """
    path = Path(path)
    if not path.is_file():
        raise InputNotFoundError(f"clip {path}: no such file")
    if path.suffix.lower() in VIDEO_SUFFIXES:
        from ..video import read_video

        clip = read_video(path)
        frames, fps = clip.frames, clip.fps
    else:
        frames, fps = _read_image_frames(path)
    return (frames if region is None else _cut(frames, region, path)), fps


def _read_image_frames(path: Path) -> tuple[np.ndarray, float]:
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as animation:
            frames, durations = [], []
            for index in range(getattr(animation, "n_frames", 1)):
                animation.seek(index)
                animation.load()  # the frame's duration is known once it is decoded
                durations.append(animation.info.get("duration") or 0)
                rgba = animation.convert("RGBA")
                white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
                frames.append(np.asarray(Image.alpha_composite(white, rgba).convert("RGB")))
    except (UnidentifiedImageError, OSError) as error:
        raise BadVideoError(f"clip {path}: cannot be decoded as an animated image or a video ({error})") from error
    if len(frames) < 2 or sum(durations) <= 0:
        raise BadVideoError(
            f"clip {path}: {'a still image' if len(frames) < 2 else 'no frame durations'}, so no frame rate; "
            "give an animated image with frame timing or a video file"
        )
    return np.stack(frames), 1000.0 * len(frames) / sum(durations)


def _cut(frames: np.ndarray, region: tuple[float, float, float, float], path: Path) -> np.ndarray:
    x0, y0, x1, y1 = region
    if not (0 <= x0 < x1 <= 1 and 0 <= y0 < y1 <= 1):
        raise InvalidOptionError(
            f"clip {path}: region {region} must be (x0, y0, x1, y1) with 0 ≤ x0 < x1 ≤ 1, 0 ≤ y0 < y1 ≤ 1"
        )
    height, width = frames.shape[1:3]
    rows = slice(round(y0 * height), max(round(y1 * height), round(y0 * height) + 1))
    cols = slice(round(x0 * width), max(round(x1 * width), round(x0 * width) + 1))
    return np.ascontiguousarray(frames[:, rows, cols])
