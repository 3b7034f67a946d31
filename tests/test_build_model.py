"""The bundled model's build script runs end to end (tiny preset, a few steps, a fake corpus) and trains through
``train expflow`` / ``train poseflow``'s trainer: its runs are the trainer's, and equal the command's."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from flowvq_core.datasets.corpus import CoefficientCorpus
from flowvq_core.face.rig import FACE_MODEL_ID, NUM_UNITS
from flowvq_core.generator import CoefficientGenerator, SamplingDefaults

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "scripts" / "build_default_model.py"
ENV = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)}
SETTINGS = ("--preset", "tiny", "--batch", "4", "--frames", "20", "--device", "cpu")
TRAINER_FILES = ["generator.safetensors", "log.csv", "state.safetensors", "summary.json"]


@pytest.fixture(scope="module")
def build(tmp_path_factory) -> Path:
    """A corpus file of 9 random clips and a tiny build on it; the folder holding both."""
    folder = tmp_path_factory.mktemp("build")
    rng = np.random.default_rng(0)
    items = []
    for label in range(9):
        frames = 30
        waveform = (0.1 * rng.standard_normal(frames * 640)).astype(np.float32)
        expression = (0.3 * rng.random((frames, NUM_UNITS))).astype(np.float32)
        pose = (np.array([0, 0, 0, 0.5, 0.47, 0.2]) + 0.01 * rng.standard_normal((frames, 6))).astype(np.float32)
        items.append((waveform, expression, pose, label, 25.0))
    CoefficientCorpus.from_waveforms(items).save(folder / "corpus.safetensors")
    command = [sys.executable, str(SCRIPT), "train", "--corpus", str(folder / "corpus.safetensors"), "--out",
               str(folder / "generator.safetensors"), "--work", str(folder / "runs"), "--expression-steps", "2",
               "--pose-steps", "2", *SETTINGS, "--sampling-temperature", "1.1", "--no-projection"]  # fmt: skip
    subprocess.run(command, check=True, capture_output=True, env=ENV, timeout=300)
    return folder


def test_train_writes_a_loadable_generator_with_its_bank_and_sampling_defaults(build):
    generator = CoefficientGenerator.load(build / "generator.safetensors", face_model_id=FACE_MODEL_ID)
    assert generator.sampling == SamplingDefaults(temperature=1.1, use_projection=False)
    assert generator.projection is not None and generator.projection.bank.shape == (8 * 4 * 20, NUM_UNITS)
    assert generator.config.expression.dim == NUM_UNITS and generator.config.pose.dim == 6
    for stage in ("expflow", "poseflow"):
        assert sorted(p.name for p in (build / "runs" / stage).iterdir()) == TRAINER_FILES


def test_its_expflow_run_equals_train_expflow_on_the_same_corpus_file(build, tmp_path):
    command = [sys.executable, "-m", "flowvq_core", "train", "expflow", "--data", str(build / "corpus.safetensors"),
               "--out", str(tmp_path), "--steps", "2", *SETTINGS]  # fmt: skip
    subprocess.run(command, check=True, capture_output=True, cwd=ROOT, env=ENV, timeout=300)
    expected = load_file(tmp_path / "state.safetensors")
    got = load_file(build / "runs" / "expflow" / "state.safetensors")
    assert expected.keys() == got.keys() and all(torch.equal(expected[k], got[k]) for k in expected)
    command_generator = CoefficientGenerator.load(tmp_path / "generator.safetensors").state_dict()
    built = CoefficientGenerator.load(build / "generator.safetensors").state_dict()
    kept = [k for k in command_generator if k.startswith(("expression.", "projection."))]
    assert len(kept) > 2 and all(torch.equal(command_generator[k], built[k]) for k in kept)
