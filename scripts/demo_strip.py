"""A still of a talking-head video for the README: evenly spaced frames side by side, with their times.

python -m flowvq_core demo && python scripts/demo_strip.py demo.mp4 docs/demo_strip.png
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from flowvq_core.video import read_video  # noqa: E402


def strip(frames: np.ndarray, fps: float, count: int, height: int) -> Image.Image:
    picks = np.linspace(0, len(frames) - 1, count + 2)[1:-1].round().astype(int)
    tiles = []
    for index in picks:
        tile = Image.fromarray(frames[index])
        tile = tile.resize((round(tile.width * height / tile.height), height), Image.LANCZOS)
        ImageDraw.Draw(tile).text((6, 4), f"{index / fps:.2f} s", fill=(255, 255, 255))
        tiles.append(tile)
    canvas = Image.new("RGB", (sum(t.width for t in tiles) + 2 * (len(tiles) - 1), height), "white")
    left = 0
    for tile in tiles:
        canvas.paste(tile, (left, 0))
        left += tile.width + 2
    return canvas


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("video", nargs="?", default="demo.mp4")
    parser.add_argument("output", nargs="?", default="docs/demo_strip.png")
    parser.add_argument("--frames", type=int, default=8)
    parser.add_argument("--height", type=int, default=192)
    args = parser.parse_args()
    clip = read_video(args.video)
    strip(clip.frames, clip.fps, args.frames, args.height).save(args.output, optimize=True)
    print(f"wrote {args.output}")


if __name__ == "__main__":
    main()
