"""Render docs/face_units.png: the astronaut with each expression unit at its maximum, labelled.

Run from the repository root: ``python scripts/face_units.py [--output docs/face_units.png]``.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageDraw
from skimage import data

from flowvq_core.face import UNIT_NAMES, GeometricRenderer, extract
from flowvq_core.face.rig import unit_index

TILE = 192
COLUMNS = 7


def render_units() -> list[tuple[str, np.ndarray]]:
    portrait = data.astronaut()
    face = extract(portrait)
    renderer = GeometricRenderer()
    crop = face.crop_image(portrait)
    source = renderer.prepare(crop, face.neutral, face.expression, face.pose)
    neutral = torch.zeros_like(face.expression)
    rows = [neutral.clone()]
    for name in UNIT_NAMES:
        expression = neutral.clone()
        expression[unit_index(name)] = 1.0
        rows.append(expression)
    frames, _ = renderer.render(source, torch.stack(rows), face.pose.expand(len(rows), -1))
    images = [(frame.numpy() * 255).round().astype(np.uint8) for frame in frames]
    return [("photo", (crop.numpy() * 255).round().astype(np.uint8)), ("all units 0", images[0])] + list(
        zip(UNIT_NAMES, images[1:], strict=True)
    )


def contact_sheet(tiles: list[tuple[str, np.ndarray]]) -> Image.Image:
    rows = -(-len(tiles) // COLUMNS)
    sheet = Image.new("RGB", (COLUMNS * TILE, rows * (TILE + 18)), "white")
    draw = ImageDraw.Draw(sheet)
    for index, (label, image) in enumerate(tiles):
        x, y = (index % COLUMNS) * TILE, (index // COLUMNS) * (TILE + 18)
        sheet.paste(Image.fromarray(image).resize((TILE, TILE), Image.LANCZOS), (x, y + 18))
        draw.text((x + 4, y + 3), label, fill="black")
    return sheet


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--output", type=Path, default=Path("docs/face_units.png"))
    args = parser.parse_args()
    args.output.parent.mkdir(parents=True, exist_ok=True)
    contact_sheet(render_units()).save(args.output, optimize=True)
    print(f"wrote {args.output}")


if __name__ == "__main__":
    main()
