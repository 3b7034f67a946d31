"""The bundled model's build script still runs end to end (tiny preset, a few steps, a fake corpus)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np

from flowvq_core.datasets.corpus import CoefficientCorpus
from flowvq_core.face.rig import FACE_MODEL_ID, NUM_UNITS
from flowvq_core.generator import CoefficientGenerator, SamplingDefaults

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "build_default_model.py"


def test_train_writes_a_loadable_generator_with_its_bank_and_sampling_defaults(tmp_path):
    rng = np.random.default_rng(0)
    items = []
    for label in range(9):
        frames = 30
        waveform = (0.1 * rng.standard_normal(frames * 640)).astype(np.float32)
        expression = (0.3 * rng.random((frames, NUM_UNITS))).astype(np.float32)
        pose = (np.array([0, 0, 0, 0.5, 0.47, 0.2]) + 0.01 * rng.standard_normal((frames, 6))).astype(np.float32)
        items.append((waveform, expression, pose, label, 25.0))
    CoefficientCorpus.from_waveforms(items).save(tmp_path / "corpus.safetensors")
    output = tmp_path / "generator.safetensors"
    command = [sys.executable, str(SCRIPT), "train", "--corpus", str(tmp_path / "corpus.safetensors"),
               "--out", str(output), "--preset", "tiny", "--expression-steps", "2", "--pose-steps", "2",
               "--batch", "4", "--frames", "20", "--bank-batches", "1", "--device", "cpu",
               "--sampling-temperature", "1.1", "--no-projection"]  # fmt: skip
    subprocess.run(command, check=True, capture_output=True, timeout=300)
    generator = CoefficientGenerator.load(output, face_model_id=FACE_MODEL_ID)
    assert generator.sampling == SamplingDefaults(temperature=1.1, use_projection=False)
    assert generator.projection is not None and generator.projection.bank.shape == (4 * 20, NUM_UNITS)
    assert generator.config.expression.dim == NUM_UNITS and generator.config.pose.dim == 6
