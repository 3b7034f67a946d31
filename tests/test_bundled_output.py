"""The bundled generator and the geometric renderer give the outputs they gave when this fixture was made, so a
restructuring that should change nothing users get is checked to change nothing.

The fixture (tests/fixtures/bundled_output.npz) was made at commit 6cdf2a6 with
``FLOWVQ_WRITE_FIXTURES=1 python -m pytest tests/test_bundled_output.py``; remake it only for a change that is meant
to change the output, and say so in the commit.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
import torch

FIXTURE = Path(__file__).parent / "fixtures" / "bundled_output.npz"


def _bundled_output() -> dict[str, np.ndarray]:
    from skimage import data

    from flowvq_core.bench import speech_like_audio
    from flowvq_core.pipeline import TalkingFacePipeline

    pipeline = TalkingFacePipeline(crop_size=128)
    result = pipeline(data.astronaut(), (speech_like_audio(2.0), 16000), emotion="happy", strength=1.2, seed=7)
    frames = result.frames[::10]
    small = torch.nn.functional.avg_pool2d(frames.permute(0, 3, 1, 2), 2).permute(0, 2, 3, 1)
    return {
        "expression": result.coefficients.expression[0].numpy(),
        "pose": result.coefficients.pose[0].numpy(),
        "frames": (small * 255 + 0.5).clamp(0, 255).to(torch.uint8).numpy(),
    }


def test_bundled_model_output_is_unchanged():
    pytest.importorskip("mediapipe")
    output = _bundled_output()
    if os.environ.get("FLOWVQ_WRITE_FIXTURES") == "1":
        np.savez_compressed(FIXTURE, **output)
        pytest.skip(f"wrote {FIXTURE}")
    expected = np.load(FIXTURE)
    assert output["expression"].shape == expected["expression"].shape == (50, 40)
    np.testing.assert_allclose(output["expression"], expected["expression"], atol=1e-6)
    np.testing.assert_allclose(output["pose"], expected["pose"], atol=1e-6)
    difference = np.abs(output["frames"].astype(int) - expected["frames"].astype(int))
    assert difference.max() <= 1, f"rendered frames moved by up to {difference.max()} grey levels"
