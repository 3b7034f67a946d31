"""Square face crops of images and video frames, and pasting rendered crops back at full resolution.

Coordinates are continuous pixel coordinates: source pixel ``(x, y)`` (column, row) covers ``[x, x + 1) × [y, y + 1)``,
so its centre is at ``(x + 0.5, y + 0.5)``; the same holds in the crop. A :class:`CropBox` is the square
``[x0, x0 + size) × [y0, y0 + size)`` of the source, which may extend past the image (sampled with border
replication), resampled to ``output_size × output_size``. One box serves a whole video (:func:`stable_crop_box`) so the
crop does not jitter; :func:`paste_back` is the inverse warp of :func:`crop_images`, blended with a feathered mask.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

CHUNK_FRAMES = 16
"""Frames resampled at once by :func:`crop_images` and :func:`paste_back`, bounding their temporary memory."""

ANTIALIAS_THRESHOLD = 1.5
"""Resampling that shrinks by more than this factor low-pass filters the source first (against aliasing)."""

_MODES = ("bilinear", "bicubic", "nearest")

Points = TypeVar("Points", np.ndarray, Tensor)


@dataclass(frozen=True)
class CropBox:
    """A square region of the source image (may extend past its borders) resampled to output_size × output_size."""

    x0: float
    """Left edge in source pixels."""
    y0: float
    """Top edge in source pixels."""
    size: float
    """Side in source pixels."""
    output_size: int
    """Side of the crop in pixels."""
    image_height: int
    image_width: int

    def __post_init__(self) -> None:
        # Plain Python numbers, so that boxes built from numpy/torch scalars compare, hash and serialise cleanly.
        for name in ("x0", "y0", "size"):
            value = float(getattr(self, name))
            if not math.isfinite(value):
                raise ValueError(f"CropBox.{name} must be finite, got {value}")
            object.__setattr__(self, name, value)
        for name in ("output_size", "image_height", "image_width"):
            value = getattr(self, name)
            if int(value) != value or value < 1:
                raise ValueError(f"CropBox.{name} must be a positive integer, got {value!r}")
            object.__setattr__(self, name, int(value))
        if self.size <= 0:
            raise ValueError(f"CropBox.size must be positive (a box of zero size cannot be cropped), got {self.size}")

    @property
    def scale(self) -> float:
        """Output pixels per source pixel."""
        return self.output_size / self.size

    def to_crop(self, points: Points | Sequence[float]) -> Points:
        """Map points ``[..., 2+]`` (x, y, then extra columns such as z, which are only scaled) from source to crop."""
        out = _float_copy(points)
        out *= self.scale
        out[..., 0] -= self.x0 * self.scale
        out[..., 1] -= self.y0 * self.scale
        return out

    def to_image(self, points: Points | Sequence[float]) -> Points:
        """Map points ``[..., 2+]`` from crop back to source pixels (the inverse of :meth:`to_crop`)."""
        out = _float_copy(points)
        out /= self.scale
        out[..., 0] += self.x0
        out[..., 1] += self.y0
        return out

    def to_dict(self) -> dict[str, float | int]:
        """A JSON-friendly dict, saved alongside fitted coefficients."""
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> CropBox:
        """Rebuild a box saved with :meth:`to_dict` (extra keys are ignored)."""
        names = [f.name for f in dataclasses.fields(cls)]
        missing = [name for name in names if name not in d]
        if missing:
            raise ValueError(f"CropBox dict is missing {missing}; it needs {names}")
        return cls(**{name: d[name] for name in names})


def face_crop_box(
    points: np.ndarray | Tensor,
    image_height: int,
    image_width: int,
    *,
    output_size: int = 512,
    margin: float = 0.35,
    vertical_shift: float = 0.1,
) -> CropBox:
    """The crop box of one face from its landmarks ``[N, 2+]`` in source pixels.

    The box is centred on the landmarks' bounding-box centre moved up by ``vertical_shift`` × face height (so the
    forehead and hair fit) and its side is the larger face extent grown by ``margin`` on each side.
    """
    _check_options(margin, vertical_shift)
    xy = _landmarks_xy(points, "points", 2)
    (cx, cy), side = _frame_boxes(xy[None], margin, vertical_shift)
    if side[0] <= 0:
        raise ValueError("points span no area (all landmarks coincide), so they give a crop box of zero size")
    return _square(cx[0], cy[0], side[0], output_size, image_height, image_width)


def stable_crop_box(
    points_sequence: np.ndarray | Tensor | Sequence[np.ndarray | Tensor],
    image_height: int,
    image_width: int,
    *,
    output_size: int = 512,
    margin: float = 0.35,
    vertical_shift: float = 0.1,
    percentile: float = 95.0,
) -> CropBox:
    """One crop box for a whole video from per-frame landmarks ``[T, N, 2+]``, so the crop does not jitter.

    The centre is the median of the per-frame box centres (robust to detection outliers); the side is the
    ``percentile`` of the side each frame needs for its own box around that common centre, so head motion stays in
    the crop. Frames with non-finite landmarks (failed detections) are skipped.
    """
    _check_options(margin, vertical_shift)
    if not 0 < percentile <= 100:
        raise ValueError(f"percentile must be in (0, 100], got {percentile}")
    if isinstance(points_sequence, Sequence):
        if len(points_sequence) == 0:
            raise ValueError("points_sequence is empty")
        points_sequence = np.stack([_to_numpy(p) for p in points_sequence])
    xy = _landmarks_xy(points_sequence, "points_sequence", 3, allow_nonfinite=True)
    xy = xy[np.isfinite(xy).all(axis=(1, 2))]
    if len(xy) == 0:
        raise ValueError("points_sequence has no frame with finite landmarks")
    (cx, cy), sides = _frame_boxes(xy, margin, vertical_shift)
    centre_x, centre_y = float(np.median(cx)), float(np.median(cy))
    needed = 2 * np.maximum(np.abs(cx - centre_x), np.abs(cy - centre_y)) + sides
    side = float(np.percentile(needed, percentile))
    if side <= 0:
        raise ValueError("points_sequence spans no area (all landmarks coincide), so it gives a crop box of zero size")
    return _square(centre_x, centre_y, side, output_size, image_height, image_width)


def crop_images(images: Tensor, box: CropBox, *, mode: str = "bilinear") -> Tensor:
    """Resample ``box`` of images ``[B, H, W, C]`` or ``[H, W, C]`` into crops ``[B, S, S, C]`` (S = output_size).

    Parts of the box outside the image repeat its border pixels. When the box shrinks by more than
    :data:`ANTIALIAS_THRESHOLD` the source is low-pass filtered first, so large photos crop without aliasing. Only
    the part of the image under the box is read, in chunks of :data:`CHUNK_FRAMES` frames.
    """
    images = _batched_images(images, "images")
    _check_mode(mode)
    if tuple(images.shape[1:3]) != (box.image_height, box.image_width):
        raise ValueError(
            f"images are {images.shape[1]}x{images.shape[2]} (HxW) but the box was made for "
            f"{box.image_height}x{box.image_width}"
        )
    factor = 1 / box.scale
    # Source region read: the box plus room for the prefilter and the sampling kernel, clamped to the image.
    pad = 3 * max(1, math.ceil(factor)) + 3
    c0, c1 = _clamped_span(box.x0 - pad, box.x0 + box.size + pad, box.image_width)
    r0, r1 = _clamped_span(box.y0 - pad, box.y0 + box.size + pad, box.image_height)
    centres = (torch.arange(box.output_size, dtype=torch.float64) + 0.5) / box.scale
    xs, ys = centres + (box.x0 - c0), centres + (box.y0 - r0)
    out = []
    for chunk in images.split(CHUNK_FRAMES):
        region = chunk[:, r0:r1, c0:c1].permute(0, 3, 1, 2)
        out.append(_resample(region, xs, ys, factor, mode).permute(0, 2, 3, 1))
    return torch.cat(out)


def feathered_mask(
    size: int, *, feather: float = 0.1, device: torch.device | str | None = None, dtype: torch.dtype | None = None
) -> Tensor:
    """A ``[size, size]`` weight: 1 in the middle, falling smoothly (smoothstep) to exactly 0 at the outermost pixels
    over ``feather`` × size pixels, so a pasted crop has no visible seam."""
    _check_feather(feather)
    if size < 1:
        raise ValueError(f"size must be a positive integer, got {size}")
    dtype = dtype or torch.get_default_dtype()
    if feather == 0:
        return torch.ones(size, size, device=device, dtype=dtype)
    index = torch.arange(size, device=device, dtype=dtype)
    ramp = (torch.minimum(index, size - 1 - index) / (feather * size)).clamp(0, 1)
    ramp = ramp * ramp * (3 - 2 * ramp)
    return ramp[:, None] * ramp[None, :]


def paste_back(
    originals: Tensor, crops: Tensor, box: CropBox, *, mask: Tensor | None = None, feather: float = 0.1
) -> Tensor:
    """Warp crops ``[B, S, S, C]`` back into originals ``[H, W, C]`` or ``[1 or B, H, W, C]`` → ``[B, H, W, C]``.

    The inverse of :func:`crop_images`: each crop is blended in with the weights of :func:`paste_back_mask` (the
    feathered mask times the optional ``mask`` ``[B or 1, S, S]``, e.g. the renderer's face mask); pixels outside the
    box keep the original exactly. The result has the originals' device and dtype. Work goes in chunks of
    :data:`CHUNK_FRAMES` frames over the box's pixels only, so long full-HD videos need little beyond the output.
    """
    originals = _batched_images(originals, "originals")
    crops = _batched_images(crops, "crops").to(originals)
    if tuple(originals.shape[1:3]) != (box.image_height, box.image_width):
        raise ValueError(
            f"originals are {originals.shape[1]}x{originals.shape[2]} (HxW) but the box was made for "
            f"{box.image_height}x{box.image_width}"
        )
    batch = crops.shape[0]
    if originals.shape[0] not in (1, batch):
        raise ValueError(f"originals have batch {originals.shape[0]}; expected 1 or the crops' batch {batch}")
    if crops.shape[1:3] != (box.output_size, box.output_size):
        raise ValueError(f"crops are {crops.shape[1]}x{crops.shape[2]} but the box's output_size is {box.output_size}")
    if crops.shape[3] != originals.shape[3]:
        raise ValueError(f"crops have {crops.shape[3]} channels but originals have {originals.shape[3]}")
    weights = _weight_map(box, mask, feather, batch, originals.device, originals.dtype)
    out = originals.expand(batch, -1, -1, -1).clone()
    spans = _paste_spans(box)
    if spans is None:
        return out
    (r0, r1, c0, c1), xs, ys, coverage = spans
    coverage = coverage.to(originals)
    for start in range(0, batch, CHUNK_FRAMES):
        stop = min(start + CHUNK_FRAMES, batch)
        weight = weights[start:stop] if weights.shape[0] > 1 else weights
        source = torch.cat([crops[start:stop].permute(0, 3, 1, 2), weight.expand(stop - start, -1, -1, -1)], dim=1)
        warped = _resample(source, xs, ys, box.scale, "bilinear").permute(0, 2, 3, 1)
        blend = warped[..., -1:].clamp(0, 1) * coverage[..., None]
        out[start:stop, r0:r1, c0:c1].lerp_(warped[..., :-1], blend)
    return out


def paste_back_mask(
    box: CropBox,
    *,
    mask: Tensor | None = None,
    feather: float = 0.1,
    device: torch.device | str | None = None,
    dtype: torch.dtype | None = None,
) -> Tensor:
    """The blend weights :func:`paste_back` uses, ``[B or 1, H, W]`` in 0..1 (a MASK output for ComfyUI).

    ``device``/``dtype`` default to the mask's, else CPU and the default dtype.
    """
    device = device if device is not None else mask.device if mask is not None else None
    dtype = dtype or (mask.dtype if mask is not None and mask.is_floating_point() else torch.get_default_dtype())
    weights = _weight_map(box, mask, feather, None, device, dtype)
    out = torch.zeros(weights.shape[0], box.image_height, box.image_width, device=weights.device, dtype=dtype)
    spans = _paste_spans(box)
    if spans is None:
        return out
    (r0, r1, c0, c1), xs, ys, coverage = spans
    coverage = coverage.to(out)
    for start in range(0, weights.shape[0], CHUNK_FRAMES):
        warped = _resample(weights[start : start + CHUNK_FRAMES], xs, ys, box.scale, "bilinear")[:, 0]
        out[start : start + CHUNK_FRAMES, r0:r1, c0:c1] = warped.clamp(0, 1) * coverage
    return out


def _float_copy(points: Points | Sequence[float]) -> Points:
    """A floating-point copy of points ``[..., 2+]`` (tensors keep device and float dtype; others become numpy)."""
    if isinstance(points, Tensor):
        out = points.clone() if points.is_floating_point() else points.to(torch.get_default_dtype())
    else:
        array = np.asarray(points)
        out = array.astype(array.dtype if np.issubdtype(array.dtype, np.floating) else np.float64, copy=True)
    if out.ndim < 1 or out.shape[-1] < 2:
        raise ValueError(f"points must have shape [..., 2+] (x, y, ...), got {tuple(out.shape)}")
    return out


def _to_numpy(points: np.ndarray | Tensor) -> np.ndarray:
    if isinstance(points, Tensor):
        return points.detach().to("cpu", torch.float64).numpy()
    return np.asarray(points, dtype=np.float64)


def _landmarks_xy(points: np.ndarray | Tensor, name: str, ndim: int, *, allow_nonfinite: bool = False) -> np.ndarray:
    """The x, y columns of landmarks as float64 numpy, checking rank ``ndim`` (``[N, 2+]`` or ``[T, N, 2+]``)."""
    array = _to_numpy(points)
    layout = "[N, 2+]" if ndim == 2 else "[T, N, 2+]"
    if array.ndim != ndim or array.shape[-1] < 2 or array.shape[-2] == 0:
        raise ValueError(f"{name} must have shape {layout} with at least one landmark, got {array.shape}")
    if not allow_nonfinite and not np.isfinite(array[..., :2]).all():
        raise ValueError(f"{name} contain non-finite values")
    return array[..., :2]


def _frame_boxes(
    xy: np.ndarray, margin: float, vertical_shift: float
) -> tuple[tuple[np.ndarray, np.ndarray], np.ndarray]:
    """Per-frame box centres ``(cx [T], cy [T])`` and sides ``[T]`` of landmarks ``[T, N, 2]``."""
    low, high = xy.min(axis=1), xy.max(axis=1)
    width, height = (high - low).T
    cx, cy = ((low + high) / 2).T
    return (cx, cy - vertical_shift * height), np.maximum(width, height) * (1 + 2 * margin)


def _square(cx: float, cy: float, side: float, output_size: int, image_height: int, image_width: int) -> CropBox:
    return CropBox(cx - side / 2, cy - side / 2, side, output_size, image_height, image_width)


def _check_options(margin: float, vertical_shift: float) -> None:
    if not (math.isfinite(margin) and margin >= 0):
        raise ValueError(f"margin must be a non-negative number, got {margin}")
    if not math.isfinite(vertical_shift):
        raise ValueError(f"vertical_shift must be finite, got {vertical_shift}")


def _check_feather(feather: float) -> None:
    if not 0 <= feather <= 0.5:
        raise ValueError(f"feather must be in [0, 0.5] (a fraction of the crop size), got {feather}")


def _check_mode(mode: str) -> None:
    if mode not in _MODES:
        raise ValueError(f"mode must be one of {_MODES}, got {mode!r}")


def _batched_images(images: Tensor, name: str) -> Tensor:
    """Images as ``[B, H, W, C]`` float, from ``[H, W, C]`` or ``[B, H, W, C]``."""
    if not isinstance(images, Tensor):
        raise ValueError(f"{name} must be a torch tensor [B, H, W, C], got {type(images).__name__}")
    if images.ndim == 3:
        images = images[None]
    if images.ndim != 4 or min(images.shape) == 0:
        raise ValueError(f"{name} must have shape [B, H, W, C] or [H, W, C], got {tuple(images.shape)}")
    if not images.is_floating_point():
        raise ValueError(f"{name} must be a float tensor with values in 0..1, got {images.dtype}")
    return images


def _weight_map(
    box: CropBox,
    mask: Tensor | None,
    feather: float,
    batch: int | None,
    device: torch.device | str | None,
    dtype: torch.dtype,
) -> Tensor:
    """Crop-space blend weights ``[1 or B, 1, S, S]``: the feathered mask times ``mask`` (checked against ``batch``)."""
    size = box.output_size
    weights = feathered_mask(size, feather=feather, device=device, dtype=dtype)[None, None]
    if mask is None:
        return weights
    if not isinstance(mask, Tensor):
        raise ValueError(f"mask must be a torch tensor [B, S, S], got {type(mask).__name__}")
    if mask.ndim == 2:
        mask = mask[None]
    if mask.ndim != 3 or mask.shape[1:] != (size, size):
        raise ValueError(f"mask must have shape [B, {size}, {size}] (the box's output_size), got {tuple(mask.shape)}")
    if batch is not None and mask.shape[0] not in (1, batch):
        raise ValueError(f"mask has batch {mask.shape[0]} but there are {batch} crops")
    return weights * mask.to(device=weights.device, dtype=dtype)[:, None]


def _paste_spans(box: CropBox) -> tuple[tuple[int, int, int, int], Tensor, Tensor, Tensor] | None:
    """The image pixels the box touches: ``(r0, r1, c0, c1)``, their centres in crop pixels (x ``[w]``, y ``[h]``)
    and the fraction of each pixel inside the box ``[h, w]``; None when the box misses the image."""
    c0, c1 = max(0, math.floor(box.x0)), min(box.image_width, math.ceil(box.x0 + box.size))
    r0, r1 = max(0, math.floor(box.y0)), min(box.image_height, math.ceil(box.y0 + box.size))
    if c1 <= c0 or r1 <= r0:
        return None
    cols = torch.arange(c0, c1, dtype=torch.float64)
    rows = torch.arange(r0, r1, dtype=torch.float64)

    def inside(start: Tensor, low: float) -> Tensor:
        return ((start + 1).clamp(max=low + box.size) - start.clamp(min=low)).clamp(0, 1)

    coverage = inside(rows, box.y0)[:, None] * inside(cols, box.x0)[None, :]
    xs, ys = (cols + 0.5 - box.x0) * box.scale, (rows + 0.5 - box.y0) * box.scale
    return (r0, r1, c0, c1), xs, ys, coverage


def _clamped_span(low: float, high: float, length: int) -> tuple[int, int]:
    """Integer pixel range covering ``[low, high)``, clamped to ``[0, length)`` but never empty."""
    start = min(max(0, math.floor(low)), length - 1)
    return start, max(start + 1, min(length, math.ceil(high)))


def _resample(source: Tensor, xs: Tensor, ys: Tensor, factor: float, mode: str) -> Tensor:
    """Sample ``source [B, C, h, w]`` at pixel-coordinate columns ``xs [W]`` × rows ``ys [H]`` → ``[B, C, H, W]``,
    replicating the border outside.

    ``factor`` is how much the sampling shrinks (source pixels per output pixel). Above
    :data:`ANTIALIAS_THRESHOLD` the source is low-pass filtered first: area-averaged over ``floor(factor)``² blocks
    (fast, like OpenCV's INTER_AREA; the remaining shrink is below 1.5), or for factors below 2 a small Gaussian.
    Half-precision sources are processed in float32, since half-precision sampling grids are off by up to a pixel.
    """
    dtype = source.dtype
    source = source.to(torch.promote_types(dtype, torch.float32))
    if factor >= 2:
        block = math.floor(factor)
        height, width = source.shape[-2:]
        source = F.avg_pool2d(F.pad(source, (0, -width % block, 0, -height % block), mode="replicate"), block)
        xs, ys = xs / block, ys / block
    elif factor > ANTIALIAS_THRESHOLD:
        source = _gaussian_blur(source, 0.5 * math.sqrt(factor * factor - 1))
    height, width = source.shape[-2:]
    gx = (2 * xs / width - 1).to(source)
    gy = (2 * ys / height - 1).to(source)
    grid = torch.stack(torch.meshgrid(gx, gy, indexing="xy"), dim=-1)
    grid = grid[None].expand(source.shape[0], -1, -1, -1)
    return F.grid_sample(source, grid, mode=mode, padding_mode="border", align_corners=False).to(dtype)


def _gaussian_blur(source: Tensor, sigma: float) -> Tensor:
    """Separable Gaussian filter of ``[B, C, h, w]`` with replicated borders, as weighted sums of shifted views
    (much faster on CPU than a depthwise convolution for the few taps used here)."""
    radius = math.ceil(3 * sigma)
    taps = [math.exp(-0.5 * (i / sigma) ** 2) for i in range(-radius, radius + 1)]
    taps = [tap / sum(taps) for tap in taps]
    height, width = source.shape[-2:]
    padded = F.pad(source, (radius, radius, radius, radius), mode="replicate")
    rows = sum(tap * padded[..., i : i + height, :] for i, tap in enumerate(taps))
    return sum(tap * rows[..., i : i + width] for i, tap in enumerate(taps))
