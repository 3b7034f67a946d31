"""Input images as C-contiguous RGB uint8 arrays, the one format the face detectors take.

Accepts what ComfyUI and Python users pass around (numpy or torch; uint8 or float in 0..1; grayscale, RGB, RGBA;
a single image or a ComfyUI IMAGE batch ``[B, H, W, C]``) and rejects, with a message naming the input and saying
what to do, what cannot hold a detectable face (wrong shape, NaN, tiny, blank).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

from ..errors import BadImageError, InputNotFoundError

MIN_SIDE = 32
"""Images with a side shorter than this are rejected: no detector finds a face in them."""

_FLOAT_RANGE_SLACK = 0.5
"""Float values beyond [-slack, 1 + slack] mean the image is not in 0..1 (e.g. 0..255), so clipping would ruin it."""


def to_rgb_uint8(image: Any, *, name: str = "image", allow_blank: bool = False) -> np.ndarray:
    """Convert one image to a C-contiguous ``[H, W, 3]`` uint8 RGB array.

    ``image`` is a numpy array or torch tensor ``[H, W]``, ``[H, W, 1|3|4]`` or a ComfyUI IMAGE batch of one
    ``[1, H, W, C]``; uint8 (0..255), another integer type with values in 0..255, or float in 0..1 (slight overshoot
    is clipped). RGBA is composited over white. ``allow_blank`` accepts a constant image (a black video frame, which
    simply holds no face); by default it is an error because a blank picture is almost always a wiring mistake.
    """
    array = _as_numpy(image)
    if array.ndim == 4:
        if array.shape[0] != 1:
            raise BadImageError(
                f"{name}: got a batch of {array.shape[0]} images {tuple(array.shape)}; pass one image "
                "(e.g. pick one with an image-batch selector node)"
            )
        array = array[0]
    if array.ndim == 2:
        array = array[:, :, None]
    if array.ndim != 3 or array.shape[2] not in (1, 3, 4):
        raise BadImageError(
            f"{name}: expected an image of shape [H, W], [H, W, C] or [1, H, W, C] with C = 1, 3 or 4 (channels "
            f"last), got {tuple(array.shape)}"
        )
    height, width = array.shape[:2]
    if array.size == 0:
        raise BadImageError(f"{name}: the image is empty {tuple(array.shape)}; pass a picture with a face")
    if min(height, width) < MIN_SIDE:
        raise BadImageError(f"{name}: {width}×{height} px is too small to find a face; give at least 64×64")
    rgb = _channels_to_rgb(_to_unit_float_or_uint8(array, name))
    if not allow_blank and (rgb == rgb[0, 0]).all():
        raise BadImageError(f"{name}: blank image (every pixel is the same colour); pass a picture with a face")
    return np.ascontiguousarray(rgb)


def to_rgb_uint8_batch(images: Any, *, name: str = "images", allow_blank: bool = False) -> np.ndarray:
    """Convert a batch (ComfyUI IMAGE ``[B, H, W, C]``, numpy ``[B, H, W, C]`` or a list of images) to
    ``[B, H, W, 3]`` uint8. All images must have the same size; each is checked as by :func:`to_rgb_uint8`.
    """
    if isinstance(images, torch.Tensor | np.ndarray):
        if images.ndim != 4:
            raise BadImageError(
                f"{name}: expected a batch of images [B, H, W, C], got shape {tuple(images.shape)}; "
                "for a single image use a batch of one"
            )
    elif not isinstance(images, Sequence):
        raise BadImageError(f"{name}: expected an image batch or a list of images, got {type(images).__name__}")
    if len(images) == 0:
        raise BadImageError(f"{name}: the batch is empty; pass at least one image")
    frames = [to_rgb_uint8(image, name=f"{name}[{i}]", allow_blank=allow_blank) for i, image in enumerate(images)]
    sizes = {frame.shape for frame in frames}
    if len(sizes) > 1:
        raise BadImageError(f"{name}: the images differ in size ({sorted(sizes)}); resize them to one size")
    return np.stack(frames)


def _as_numpy(image: Any) -> np.ndarray:
    """A numpy view/copy of a tensor or array-like, without changing its dtype (except bfloat16 → float32)."""
    if isinstance(image, torch.Tensor):
        tensor = image.detach().cpu()
        if tensor.dtype == torch.bfloat16:
            tensor = tensor.float()
        return tensor.numpy()
    return np.asarray(image)


def _to_unit_float_or_uint8(array: np.ndarray, name: str) -> np.ndarray:
    """Check the value range of ``array`` and return it as uint8."""
    if np.issubdtype(array.dtype, np.floating):
        if not np.isfinite(array).all():
            raise BadImageError(f"{name}: the image contains NaN or infinite values; check the node that produced it")
        low, high = float(array.min()), float(array.max())
        if low < -_FLOAT_RANGE_SLACK or high > 1 + _FLOAT_RANGE_SLACK:
            raise BadImageError(
                f"{name}: float image values span {low:g}..{high:g} but must lie in 0..1 (divide 0..255 values by 255)"
            )
        return np.rint(np.clip(array, 0.0, 1.0) * 255.0).astype(np.uint8)
    if array.dtype == np.uint8:
        return array
    if np.issubdtype(array.dtype, np.integer):
        low, high = int(array.min()), int(array.max())
        if low < 0 or high > 255:
            raise BadImageError(
                f"{name}: integer image values span {low}..{high}; give uint8 (0..255) or float in 0..1"
            )
        return array.astype(np.uint8)
    raise BadImageError(f"{name}: unsupported image dtype {array.dtype}; give uint8 (0..255) or float in 0..1")


def _channels_to_rgb(array: np.ndarray) -> np.ndarray:
    """``[H, W, 1|3|4]`` uint8 → ``[H, W, 3]``: gray is repeated, RGBA is composited over white."""
    channels = array.shape[2]
    if channels == 1:
        return np.repeat(array, 3, axis=2)
    if channels == 4:
        alpha = array[:, :, 3:].astype(np.float32) / 255.0
        blended = array[:, :, :3].astype(np.float32) * alpha + 255.0 * (1.0 - alpha)
        return np.rint(blended).astype(np.uint8)
    return array


def load_image(path: str | os.PathLike[str]) -> np.ndarray:
    """Read an image file (PNG, JPEG, WebP, …) as RGB uint8, upright by its EXIF orientation, with clear errors."""
    from PIL import Image, ImageOps, UnidentifiedImageError

    if not os.path.isfile(path):
        raise InputNotFoundError(f"image {path}: no such file")
    try:
        with Image.open(path) as opened:
            upright = ImageOps.exif_transpose(opened)
            return to_rgb_uint8(np.array(upright.convert("RGBA" if "A" in upright.getbands() else "RGB")),
                                name=f"image {path}")  # fmt: skip
    except (UnidentifiedImageError, OSError) as error:
        raise BadImageError(f"image {path}: not a readable image ({error}); use PNG or JPEG") from error
