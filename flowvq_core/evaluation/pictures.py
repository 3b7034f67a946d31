"""Pictures of the evaluation a person would rather look at than read: labelled image grids and motion curves."""

from __future__ import annotations

import functools
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from ..face import topology as topo

BACKGROUND, TEXT, GRID = (250, 250, 248), (30, 30, 30), (215, 215, 210)
PALETTE = ((220, 60, 60), (40, 120, 220), (240, 160, 30), (60, 160, 90), (150, 80, 200), (90, 90, 90),
           (20, 170, 180), (200, 100, 150))  # fmt: skip


@functools.lru_cache(maxsize=8)
def _font(size: int) -> ImageFont.ImageFont:
    """The default font at ``size``, loaded once per size (every caption asks for one)."""
    try:
        return ImageFont.load_default(size=size)
    except TypeError:  # Pillow < 10.1 has one bitmap size
        return ImageFont.load_default()


def _save(image: Image.Image, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.name}.partial.png")
    image.save(partial)
    partial.replace(path)
    return path


def image_grid(
    rows: Sequence[tuple[str, Sequence[tuple[np.ndarray, str]]]],
    column_titles: Sequence[str],
    path: Path,
    *,
    title: str = "",
    tile: int = 160,
) -> Path:
    """A PNG grid: one row per (row title, [(image uint8 [H, W, 3], caption)]), column titles on top."""
    label_width, header, caption = 130, 26 + (24 if title else 0), 16
    columns = max(len(cells) for _, cells in rows)
    sheet = Image.new("RGB", (label_width + columns * tile, header + len(rows) * (tile + caption)), BACKGROUND)
    draw = ImageDraw.Draw(sheet)
    if title:
        draw.text((8, 4), title, fill=TEXT, font=_font(16))
    for c, name in enumerate(column_titles):
        draw.text((label_width + c * tile + 4, header - 20), name, fill=TEXT, font=_font(13))
    for r, (name, cells) in enumerate(rows):
        top = header + r * (tile + caption)
        draw.text((6, top + tile // 2 - 8), name, fill=TEXT, font=_font(13))
        for c, (image, text) in enumerate(cells):
            picture = Image.fromarray(np.ascontiguousarray(image)).resize((tile, tile), Image.Resampling.LANCZOS)
            sheet.paste(picture, (label_width + c * tile, top))
            draw.text((label_width + c * tile + 3, top + tile + 1), text, fill=TEXT, font=_font(11))
    return _save(sheet, path)


def mouth_crop(frame: np.ndarray, points: np.ndarray, scale: float = 1.8) -> np.ndarray:
    """A square close-up [N, N, 3] of the mouth: the outer-lip landmarks' box, widened ``scale`` times."""
    lips = points[topo.face_topology().regions["lips_outer"], :2]
    centre = (lips.min(0) + lips.max(0)) / 2
    half = max(float((lips.max(0) - lips.min(0)).max()) * scale / 2, 8.0)
    x0, y0 = np.floor(centre - half).astype(int)
    x1, y1 = np.ceil(centre + half).astype(int)
    padded = np.pad(frame, ((max(0, -y0), max(0, y1 - frame.shape[0])), (max(0, -x0), max(0, x1 - frame.shape[1])),
                            (0, 0)), mode="edge")  # fmt: skip
    return padded[y0 + max(0, -y0) : y1 + max(0, -y0), x0 + max(0, -x0) : x1 + max(0, -x0)]


def curve_panels(
    panels: Sequence[tuple[str, Sequence[tuple[str, np.ndarray, float]]]],
    path: Path,
    *,
    title: str = "",
    width: int = 900,
    panel_height: int = 220,
) -> Path:
    """Stacked line plots, one per (panel title, [(series name, values [T], fps)]), time in seconds along x."""
    header = 30 if title else 6
    image = Image.new("RGB", (width, header + len(panels) * panel_height), BACKGROUND)
    draw = ImageDraw.Draw(image)
    if title:
        draw.text((8, 6), title, fill=TEXT, font=_font(16))
    left, right = 50, 170
    for p, (name, series) in enumerate(panels):
        top, bottom = header + p * panel_height + 20, header + (p + 1) * panel_height - 22
        draw.text((left, top - 18), name, fill=TEXT, font=_font(13))
        values = np.concatenate([np.asarray(s, float) for _, s, _ in series]) if series else np.zeros(1)
        low, high = float(np.nanmin(values)), float(np.nanmax(values))
        if high - low < 1e-9:
            low, high = low - 1, high + 1
        seconds = max((len(s) / fps for _, s, fps in series), default=1.0)
        for tick in np.linspace(low, high, 3):
            y = bottom - (tick - low) / (high - low) * (bottom - top)
            draw.line([(left, y), (width - right, y)], fill=GRID)
            draw.text((4, y - 6), f"{tick:.1f}", fill=TEXT, font=_font(10))
        draw.text((width - right - 40, bottom + 4), f"{seconds:.1f} s", fill=TEXT, font=_font(10))
        for k, (label, values, fps) in enumerate(series):
            colour = PALETTE[k % len(PALETTE)]
            xs = left + np.arange(len(values)) / fps / seconds * (width - right - left)
            ys = bottom - (np.asarray(values, float) - low) / (high - low) * (bottom - top)
            draw.line(list(zip(xs.tolist(), ys.tolist(), strict=True)), fill=colour, width=2)
            draw.text((width - right + 8, top + 14 * k), label, fill=colour, font=_font(11))
    return _save(image, path)
