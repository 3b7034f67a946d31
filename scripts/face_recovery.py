"""Render the astronaut with known coefficients, extract them back, and print the errors.

Run from the repository root: ``python scripts/face_recovery.py``. Each case sets jawOpen, both eyeBlinks, and adds
yaw/pitch (degrees) to the photo's pose; the table shows what single-photo extraction, extraction against the
photo's identity, and extraction against the identity with its eye appearance (``extract(photo, eye_appearance=True)``)
read back.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import torch
from skimage import data

from flowvq_core.face import GeometricRenderer, extract
from flowvq_core.face.crop import paste_back
from flowvq_core.face.rig import unit_index

CASES = [  # jawOpen, eyeBlink, yaw°, pitch°
    (0.6, 0.0, 0, 0),
    (0.1, 0.8, 0, 0),
    (0.4, 0.5, 10, 0),
    (0.3, 0.0, 0, 8),
    (0.5, 1.0, -12, -6),
    (0.2, 0.3, 5, 5),
    (0.0, 0.6, -6, 3),
]


def main() -> None:
    photo = data.astronaut()
    face = extract(photo, eye_appearance=True)
    landmarks_only = dataclasses.replace(face, eye_appearance=None)
    renderer = GeometricRenderer()
    source = renderer.prepare(face.crop_image(photo), face.neutral, face.expression, face.pose)
    original = torch.from_numpy(photo).float() / 255
    print(f"{'jaw':>5} {'blink':>5} {'yaw':>4} {'pitch':>5} | {'mode':<8} {'jaw':>5} {'blinkL':>6} {'blinkR':>6} "
          f"{'yaw':>6} {'pitch':>6}")  # fmt: skip
    worst: dict[str, np.ndarray] = {}
    total: dict[str, np.ndarray] = {}
    for jaw, blink, yaw, pitch in CASES:
        expression, pose = face.expression.clone(), face.pose.clone()
        expression[unit_index("jawOpen")] = jaw
        expression[unit_index("eyeBlinkLeft")] = expression[unit_index("eyeBlinkRight")] = blink
        pose[1] += np.radians(yaw)
        pose[0] += np.radians(pitch)
        frame, _ = renderer.render(source, expression[None], pose[None])
        image = (paste_back(original, frame, face.crop)[0].numpy() * 255).round().astype(np.uint8)
        for mode, identity in (("single", None), ("identity", landmarks_only), ("eyes", face)):
            got = extract(image, identity=identity)
            read = [float(got.expression[unit_index(n)]) for n in ("jawOpen", "eyeBlinkLeft", "eyeBlinkRight")]
            angles = np.degrees((got.pose[:2] - face.pose[:2]).numpy())[[1, 0]]
            errors = np.abs([read[0] - jaw, read[1] - blink, read[2] - blink, angles[0] - yaw, angles[1] - pitch])
            worst[mode] = np.maximum(worst.get(mode, errors), errors)
            total[mode] = total.get(mode, 0) + errors / len(CASES)
            print(f"{jaw:>5.2f} {blink:>5.2f} {yaw:>4} {pitch:>5} | {mode:<8} {read[0]:>5.2f} {read[1]:>6.2f} "
                  f"{read[2]:>6.2f} {angles[0]:>6.1f} {angles[1]:>6.1f}")  # fmt: skip
    for mode, errors in worst.items():
        print(f"worst |error| {mode:<8}: jaw {errors[0]:.2f}, blink {max(errors[1:3]):.2f}, "
              f"yaw {errors[3]:.1f}°, pitch {errors[4]:.1f}°")  # fmt: skip
        mean = total[mode]
        print(f"mean  |error| {mode:<8}: jaw {mean[0]:.2f}, blink {mean[1:3].mean():.2f}, "
              f"yaw {mean[3]:.1f}°, pitch {mean[4]:.1f}°")  # fmt: skip


if __name__ == "__main__":
    main()
