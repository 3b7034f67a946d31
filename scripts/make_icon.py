"""The pack's icon for the ComfyUI registry: the 9 emotions of ``docs/emotions.png`` in a 3 × 3 grid.

Run from the repository root after ``scripts/emotion_grid.py``: ``python scripts/make_icon.py`` → ``docs/icon.jpg``.
"""

from __future__ import annotations

from pathlib import Path

from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
EMOTIONS = 9
SIDE = 400


def main() -> None:
    grid = Image.open(ROOT / "docs" / "emotions.png").convert("RGB")
    tile = grid.width / EMOTIONS
    cell = SIDE // 3
    icon = Image.new("RGB", (3 * cell, 3 * cell))
    for index in range(EMOTIONS):
        left = round(index * tile) + 8
        face = grid.crop((left, 16, left + round(tile) - 16, 16 + round(tile) - 16))
        icon.paste(face.resize((cell, cell), Image.LANCZOS), ((index % 3) * cell, (index // 3) * cell))
    icon.save(ROOT / "docs" / "icon.jpg", quality=88)
    print("wrote docs/icon.jpg")


if __name__ == "__main__":
    main()
