"""``train``: the flows on prepared data; a killed run resumed equals an uninterrupted one; torchrun on two CPU
processes keeps both ranks identical and only rank 0 writes; a time budget ends a run as its steps would."""

from __future__ import annotations

import csv
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from flowvq_core.checkpoint import read_checkpoint

pytest.importorskip("mediapipe")

ROOT = Path(__file__).resolve().parents[1]
ENV = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)}


@pytest.fixture(scope="module")
def prepared(tmp_path_factory):
    """Two 3-second talking clips in MEAD's layout (actor M003 is a test actor), prepared."""
    from video_helpers import prepared_mead_tree

    return prepared_mead_tree(tmp_path_factory.mktemp("mead"), tmp_path_factory.mktemp("prepared"), frames=75,
                              crop_size=128)  # fmt: skip


def _train(out: Path, data: Path, *extra: str) -> subprocess.Popen:
    command = [sys.executable, "-m", "flowvq_core", "train", "expflow", "--data", str(data), "--out", str(out),
               "--preset", "tiny", "--batch", "4", "--frames", "16", "--seed", "5", "--checkpoint-every", "2",
               "--device", "cpu", *extra]  # fmt: skip
    return subprocess.Popen(command, cwd=ROOT, env=ENV, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def _weights(out: Path) -> dict[str, torch.Tensor]:
    state = load_file(out / "state.safetensors")
    return {k: v for k, v in state.items() if k.startswith(("model.", "optimizer."))}


def test_a_killed_run_resumed_equals_an_uninterrupted_one(prepared, tmp_path):
    whole = _train(tmp_path / "whole", prepared, "--steps", "24")
    assert whole.wait(timeout=300) == 0, whole.stdout.read()
    killed = _train(tmp_path / "killed", prepared, "--steps", "24")
    state = tmp_path / "killed" / "state.safetensors"
    deadline = time.monotonic() + 120
    while not state.is_file() and time.monotonic() < deadline and killed.poll() is None:
        time.sleep(0.01)
    killed.send_signal(signal.SIGKILL)
    killed.wait(timeout=30)
    stopped_at = json.loads(read_checkpoint(state).config_json)["step"]
    assert stopped_at < 24, "the run was killed before it finished"
    resumed = _train(tmp_path / "killed", prepared, "--steps", "24", "--resume")
    output = resumed.communicate(timeout=300)[0]
    assert resumed.returncode == 0 and f"resuming expflow at step {stopped_at}" in output, output
    expected, got = _weights(tmp_path / "whole"), _weights(tmp_path / "killed")
    assert expected.keys() == got.keys() and all(torch.equal(expected[k], got[k]) for k in expected)
    with open(tmp_path / "whole" / "log.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert any(row["validation_nll"] for row in rows), "the test actor's clip is used for validation"
    from flowvq_core.generator import CoefficientGenerator

    generator = CoefficientGenerator.load(tmp_path / "whole" / "generator.safetensors")
    assert generator.projection is not None and generator.projection.bank.shape[1] == 40


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_torchrun_on_two_cpu_processes_keeps_ranks_identical_and_rank_0_writes(prepared, tmp_path):
    out = tmp_path / "ddp"
    command = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node=2", f"--master_port={_free_port()}",
               "-m", "flowvq_core", "train", "poseflow", "--data", str(prepared), "--out", str(out), "--preset",
               "tiny", "--batch", "4", "--frames", "16", "--steps", "4", "--checkpoint-every", "2", "--device",
               "cpu"]  # fmt: skip
    result = subprocess.run(command, cwd=ROOT, env=ENV, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    summary = json.loads((out / "summary.json").read_text())
    assert summary["world"] == 2 and summary["ranks_identical"] and len(summary["checksums"]) == 2
    assert sorted(p.name for p in out.iterdir()) == ["generator.safetensors", "log.csv", "samples",
                                                     "state.safetensors", "summary.json"]  # fmt: skip
    assert sorted(p.name for p in (out / "samples").iterdir()) == ["step_0000002.png", "step_0000004.png"]
    assert result.stdout.count("poseflow: 4 steps") == 1, "only rank 0 reports"


def test_a_corpus_file_trains_too_and_bad_stages_are_named(tmp_path):
    from flowvq_core.bench import speech_like_audio
    from flowvq_core.cli import main
    from flowvq_core.datasets.corpus import CoefficientCorpus
    from flowvq_core.training import FlowTrainingConfig, train_flows

    items = [(speech_like_audio(2.0, seed=i), torch.rand(50, 40).numpy() * 0.3, 0.02 * torch.randn(50, 6).numpy(),
              i % 9, 25.0) for i in range(3)]  # fmt: skip
    CoefficientCorpus.from_waveforms(items).save(tmp_path / "corpus.safetensors")
    config = FlowTrainingConfig(stage="poseflow", preset="tiny", steps=1, batch=2, frames=8, log_every=1)
    summary = train_flows(config, tmp_path / "corpus.safetensors", tmp_path / "run", device="cpu", say=lambda _: None)
    assert summary["steps"] == 1 and (tmp_path / "run" / "generator.safetensors").is_file()
    with pytest.raises(ValueError, match="unknown stage"):
        train_flows(FlowTrainingConfig(stage="vqgan"), tmp_path / "corpus.safetensors", tmp_path / "x")
    assert main(["train", "expflow", "--data", str(tmp_path / "nothing"), "--out", str(tmp_path / "y")]) == 2
    shutil.rmtree(tmp_path / "run")


def test_a_time_budget_ends_expflow_as_its_steps_would_and_poseflow_keeps_the_bank_it_starts_from(tmp_path):
    from flowvq_core.bench import speech_like_audio
    from flowvq_core.datasets.corpus import CoefficientCorpus
    from flowvq_core.generator import CoefficientGenerator
    from flowvq_core.training import FlowTrainingConfig, train_flows

    items = [(speech_like_audio(1.0, seed=i), torch.rand(25, 40).numpy() * 0.3, 0.02 * torch.randn(25, 6).numpy(),
              i % 9, 25.0) for i in range(2)]  # fmt: skip
    CoefficientCorpus.from_waveforms(items).save(tmp_path / "corpus.safetensors")
    settings = {"preset": "tiny", "batch": 2, "frames": 8, "bank_batches": 1}
    config = FlowTrainingConfig(stage="expflow", steps=50, max_minutes=0.0, **settings)
    summary = train_flows(config, tmp_path / "corpus.safetensors", tmp_path / "exp", device="cpu", say=lambda _: None)
    state = json.loads(read_checkpoint(tmp_path / "exp" / "state.safetensors").config_json)
    assert summary["steps"] == 1 and state["step"] == 1, "the budget (0 minutes) is spent after the first step"
    with open(tmp_path / "exp" / "log.csv", newline="") as handle:
        assert [row["step"] for row in csv.DictReader(handle)] == ["1"]
    expression = CoefficientGenerator.load(tmp_path / "exp" / "generator.safetensors")
    assert expression.projection is not None and expression.projection.bank.shape == (2 * 8, 40)
    config = FlowTrainingConfig(stage="poseflow", steps=1, **settings)
    init = str(tmp_path / "exp" / "generator.safetensors")
    train_flows(config, tmp_path / "corpus.safetensors", tmp_path / "pose", init=init, device="cpu", say=lambda _: None)
    both = CoefficientGenerator.load(tmp_path / "pose" / "generator.safetensors")
    before, after = expression.state_dict(), both.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before if k.startswith(("expression.", "projection.")))
    pose = [k for k in before if k.startswith("pose.")]
    assert before.keys() == after.keys() and not all(torch.equal(before[k], after[k]) for k in pose), "PoseFlow trained"


def test_the_log_writes_every_column_to_csv_and_only_numbers_to_tensorboard(tmp_path):
    from flowvq_core.training.loop import TrainingLog

    class Board:
        def __init__(self):
            self.scalars = []

        def add_scalar(self, name, value, step):
            self.scalars.append((name, value, step))

    log = TrainingLog(tmp_path, ("step", "phase", "loss", "accuracy"), main=True, resume=False, say=lambda _: None)
    log.board = Board()
    log.row(step=3, phase="image", loss=0.5, accuracy=None)
    assert log.board.scalars == [("loss", 0.5, 3)]
    log.board = None
    log.close()
    assert (tmp_path / "log.csv").read_text().splitlines() == ["step,phase,loss,accuracy", "3,image,0.5,"]


def test_progress_lines_give_the_speed_and_the_time_left_and_validation_values(tmp_path):
    from flowvq_core.training.loop import TrainingLog

    said = []
    fields = ("step", "loss", "seconds", "validation_l1")
    log = TrainingLog(tmp_path, fields, main=True, resume=False, say=said.append, name="vqig", steps=1000,
                      first_step=100, every_seconds=10)  # fmt: skip
    said.clear()
    log.row(step=200, loss=0.25, seconds=50.0)
    log.row(step=210, loss=0.24, seconds=55.0)  # within 10 s of the last line: quiet
    log.row(step=210, validation_l1=0.125)
    log.row(step=1000, loss=0.2, seconds=60.0)  # the last step always reports
    log.close()
    assert said == ["vqig step 200/1000 · loss 0.25 · 2 steps/s · 6 min left",
                    "vqig step 210/1000 · validation_l1 0.125",
                    "vqig step 1000/1000 · loss 0.2 · 15 steps/s · 0 s left"]  # fmt: skip
