"""CPBD, the Cumulative Probability of Blur Detection (Narvekar & Karam, IEEE TIP 2011): a no-reference sharpness
score in 0..1 (higher is sharper), the usual sharpness row of talking-face papers.

Implemented from the paper's description, on grey levels 0..255 (BT.601 luma of RGB):
1. Canny edges (scikit-image, σ = 1, on 0..1 grey) mark the edge pixels.
2. Each edge pixel's width is the distance between the intensity extrema on either side of it: walking from the
   pixel along its gradient while the intensity keeps falling behind it and rising ahead of it. The reference
   implementation measures only edge pixels whose gradient (np.gradient) lies within 22.5° of horizontal, along
   rows. Here those are measured along rows and, in the same way, the edge pixels whose gradient lies within 22.5°
   of vertical along columns, so the horizontal edges of the lips, lids and brows count too and a transposed image
   scores the same; diagonal edges are left out, as in the reference (their widths along rows or columns read √2
   too wide for the w_JNB below, which was calibrated on near-axial edges). An ideal step measures 2 pixels.
3. The image is cut into 64×64 blocks (full blocks from the top left, as the reference; a remainder strip is left
   out). Edge blocks hold more than 0.2 % Canny edge pixels; a block's contrast (max − min grey) sets its
   just-noticeable blur width w_JNB: 5 when it is at most 50, else 3.
4. P_blur(e) = 1 − exp(−|w(e) / w_JNB|^β), β = 3.6, and CPBD is the share of the measured edge pixels of edge
   blocks with P_blur at most P_JNB = 63 %, rounded to a percent as the reference's histogram does (so w = w_JNB,
   P_blur = 1 − 1/e ≈ 63.2 %, counts as sharp).

An image without edge blocks (flat, or too small for one block) scores 0, as in the reference.
"""

from __future__ import annotations

import numpy as np

BLOCK = 64
EDGE_BLOCK_SHARE = 0.002
"""A block is an edge block with more than this share of edge pixels."""
BETA = 3.6
CONTRAST_THRESHOLD = 50.0
"""Block contrast (0..255) up to which the just-noticeable blur width is WIDE_JNB, above it NARROW_JNB."""
WIDE_JNB, NARROW_JNB = 5.0, 3.0
P_JNB_PERCENT = 63
MAX_STEPS = 100
"""Steps walked on each side of an edge pixel (the reference's limit); far past any just-noticeable width."""
CANNY_SIGMA = 1.0
LUMA = np.array([0.2989, 0.5870, 0.1140])
"""BT.601 weights (MATLAB's rgb2gray, which the reference code uses)."""

_AXIS_STEPS = np.array([(1, 0), (0, 1), (-1, 0), (0, -1)])
"""(dx, dy) up a gradient at atan2(gy, gx) ≈ 0°, 90°, 180°, 270° (image axes, y downwards)."""


def grey_255(image: np.ndarray) -> np.ndarray:
    """[H, W] float64 grey levels 0..255 of an [H, W] or [H, W, 3] image (uint8, or float in 0..1)."""
    array = np.asarray(image)
    scale = 1.0 if array.dtype == np.uint8 else 255.0
    array = array.astype(np.float64)
    if array.ndim == 3 and array.shape[2] in (3, 4):
        array = array[..., :3] @ LUMA
    if array.ndim != 2:
        raise ValueError(f"cpbd needs an image [H, W] or [H, W, 3], got shape {array.shape}")
    return array * scale


def axial_edges(grey: np.ndarray, edges: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The edge pixels whose gradient lies within 22.5° of an image axis → (rows [N], cols [N], steps [N, 2]), the
    step (dx, dy) pointing up the gradient."""
    gradient_y, gradient_x = np.gradient(grey)
    rows, cols = np.nonzero(edges)
    octant = np.round(np.arctan2(gradient_y[rows, cols], gradient_x[rows, cols]) / (np.pi / 4)).astype(int) % 8
    kept = octant % 2 == 0
    return rows[kept], cols[kept], _AXIS_STEPS[octant[kept] // 2]


def edge_widths(grey: np.ndarray, rows: np.ndarray, cols: np.ndarray, steps: np.ndarray) -> np.ndarray:
    """[N] width in pixels of the edges at pixels (rows, cols) of ``grey``: from the intensity minimum behind each
    pixel to the maximum ahead of it along ``steps`` [N, 2] (dx, dy up the gradient)."""
    return _run_length(grey, rows, cols, -steps, falling=True) + _run_length(grey, rows, cols, steps, falling=False)


def _run_length(grey: np.ndarray, rows: np.ndarray, cols: np.ndarray, step: np.ndarray, *, falling: bool) -> np.ndarray:
    """Steps from each pixel along ``step`` [N, 2] to the first local extremum: the intensity keeps falling (or
    rising) from step k to k + 1 until it stops or the image ends (at least 1, as the reference counts)."""
    height, width = grey.shape
    length = np.ones(len(rows))
    going = np.ones(len(rows), bool)
    for k in range(1, MAX_STEPS + 1):
        inner_x, inner_y = cols + k * step[:, 0], rows + k * step[:, 1]
        outer_x, outer_y = inner_x + step[:, 0], inner_y + step[:, 1]
        inside = (outer_x >= 0) & (outer_x < width) & (outer_y >= 0) & (outer_y < height)
        going &= inside
        if not going.any():
            break
        index = np.flatnonzero(going)
        change = grey[outer_y[index], outer_x[index]] - grey[inner_y[index], inner_x[index]]
        going[index] = change < 0 if falling else change > 0
        length[going] += 1
    return length


def cpbd(image: np.ndarray, mask: np.ndarray | None = None) -> float:
    """CPBD sharpness in 0..1 of an image [H, W] or [H, W, 3] (uint8, or float 0..1); higher is sharper.

    ``mask`` [H, W] bool restricts it to a region (a face): Canny runs inside it (its border makes no edges), a
    block is an edge block when more than 0.2 % of its pixels inside the mask are edges, and its contrast is taken
    over those pixels.
    """
    from skimage.feature import canny

    grey = grey_255(image)
    region = np.ones(grey.shape, bool) if mask is None else np.asarray(mask, bool)
    if region.shape != grey.shape:
        raise ValueError(f"cpbd: mask {region.shape} does not match the image {grey.shape}")
    edges = canny(grey / 255.0, sigma=CANNY_SIGMA, mask=region) & region
    rows, cols, steps = axial_edges(grey, edges)
    widths = np.zeros(grey.shape)  # 0 where nothing was measured: every measured width is at least 2
    widths[rows, cols] = edge_widths(grey, rows, cols, steps)
    sharp = total = 0
    for top in range(0, grey.shape[0] - BLOCK + 1, BLOCK):
        for left in range(0, grey.shape[1] - BLOCK + 1, BLOCK):
            block = (slice(top, top + BLOCK), slice(left, left + BLOCK))
            inside = region[block]
            if edges[block].sum() <= EDGE_BLOCK_SHARE * inside.sum():
                continue
            values = grey[block][inside]
            jnb = WIDE_JNB if values.max() - values.min() <= CONTRAST_THRESHOLD else NARROW_JNB
            block_widths = widths[block]
            p_blur = 1.0 - np.exp(-((block_widths[block_widths > 0] / jnb) ** BETA))
            sharp += int((np.round(p_blur * 100) <= P_JNB_PERCENT).sum())
            total += len(p_blur)
    return sharp / total if total else 0.0
