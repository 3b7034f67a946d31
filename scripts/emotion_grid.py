"""docs/emotions.png: the astronaut saying the same words under each of the 9 emotions (bundled generator).

    python scripts/emotion_grid.py [docs/emotions.png]

Each tile is the frame where the generated expression is furthest from neutral talking, head pose held at the
photo's so the faces compare; the label gives the emotion.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw
from skimage import data

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from flowvq_core.emotions import EMOTIONS  # noqa: E402
from flowvq_core.pipeline import TalkingFacePipeline  # noqa: E402
from flowvq_core.synthetic.espeak import speak  # noqa: E402

TEXT = "I never thought I would see this place again."
TILE = 224


def main() -> None:
    output = sys.argv[1] if len(sys.argv) > 1 else "docs/emotions.png"
    pipeline = TalkingFacePipeline()
    portrait = pipeline.prepare(data.astronaut())
    spoken = speak(TEXT)
    speech = pipeline.audio((spoken.waveform, spoken.sample_rate))
    neutral = pipeline.coefficients(portrait, speech, emotion="neutral", seed=0)
    tiles = []
    for emotion in EMOTIONS:
        coefficients = pipeline.coefficients(portrait, speech, emotion=emotion, seed=0)
        distance = (coefficients.expression[0] - neutral.expression[0]).abs().sum(-1)
        frame = int(distance.argmax()) if emotion != "neutral" else speech.num_frames // 2
        expression = coefficients.expression[0, frame : frame + 1]
        pose = portrait.face.pose[None]
        pixels = pipeline.renderer.render_frames(portrait.source, expression, pose)[0]
        tile = Image.fromarray((pixels.clamp(0, 1).numpy() * 255).round().astype(np.uint8)).resize((TILE, TILE))
        ImageDraw.Draw(tile).text((6, 4), emotion, fill=(255, 255, 255))
        tiles.append(tile)
    canvas = Image.new("RGB", (TILE * len(tiles) + 2 * (len(tiles) - 1), TILE), "white")
    for index, tile in enumerate(tiles):
        canvas.paste(tile, (index * (TILE + 2), 0))
    canvas.save(output, optimize=True)
    print(f"wrote {output}")


if __name__ == "__main__":
    main()
