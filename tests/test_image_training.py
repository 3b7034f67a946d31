"""``train codebook`` / ``train vqig``: the image stages on prepared face frames, exact resume, torchrun on two CPU
processes, and the data they draw (``PreparedFaces``)."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from flowvq_core.checkpoint import read_checkpoint

pytest.importorskip("mediapipe")

ROOT = Path(__file__).resolve().parents[1]
ENV = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)}
TINY = {"preset": "tiny", "batch": 3, "log_every": 1, "workers": 0, "max_grad_norm": 1.0}


@pytest.fixture(scope="module")
def prepared(tmp_path_factory):
    """Two 2-second talking clips in MEAD's layout at 64 px (M003 is a test actor), prepared."""
    from video_helpers import prepared_mead_tree

    return prepared_mead_tree(tmp_path_factory.mktemp("mead"), tmp_path_factory.mktemp("prepared"), frames=50,
                              crop_size=64)  # fmt: skip


@pytest.fixture(scope="module")
def codebook_file(prepared, tmp_path_factory):
    from flowvq_core.training import ImageTrainingConfig, train_images

    out = tmp_path_factory.mktemp("codebook")
    config = ImageTrainingConfig(stage="codebook", steps=3, checkpoint_every=3, adversarial_start=1, **TINY)
    train_images(config, prepared, out, device="cpu", say=lambda _: None)
    return out / "codebook.safetensors"


def _state(out: Path) -> dict[str, torch.Tensor]:
    return {k: v for k, v in load_file(out / "state.safetensors").items() if not k.startswith("rng.")}


def test_prepared_faces_draw_by_seed_frames_in_range_and_the_coefficients_of_their_target(prepared):
    from flowvq_core.datasets.corpus import CoefficientCorpus
    from flowvq_core.datasets.face_images import PreparedFaces
    from flowvq_core.video import read_video

    faces = PreparedFaces(prepared, "train", size=32)
    assert len(faces) == 50 and len(faces.clips) == 1, "W011's clip is the training split's"
    first = faces.image_batch(5, torch.Generator().manual_seed(3))
    again = PreparedFaces(prepared, "train", size=32).image_batch(5, torch.Generator().manual_seed(3))
    assert first.shape == (5, 3, 32, 32) and torch.equal(first, again)
    assert float(first.min()) >= -1 and float(first.max()) <= 1 and float(first.std()) > 0.1
    motion = faces.motion_batch(4, 9, torch.Generator().manual_seed(0))
    assert motion.sources.shape == motion.targets.shape == (4, 3, 32, 32)
    clip = CoefficientCorpus.load(faces.clips[0][1]).clips[0]
    coefficients = torch.cat([clip.expression, clip.pose], -1)
    assert motion.windows.shape == (4, coefficients.shape[1], 9)
    frames = torch.from_numpy(read_video(faces.clips[0][0]).frames).permute(0, 3, 1, 2).float() / 127.5 - 1
    frames = torch.nn.functional.interpolate(frames, size=32, mode="bilinear", antialias=True)
    for target, window in zip(motion.targets, motion.windows, strict=True):
        index = int(((frames - target) ** 2).flatten(1).mean(1).argmin())
        assert torch.allclose(window[:, 4], coefficients[index]), "the window is centred on the target's frame"
    with pytest.raises(ValueError, match="no video clips"):
        PreparedFaces(prepared / "nowhere", "train", size=32).motion_batch(1, 9, torch.Generator())


def test_a_codebook_run_resumed_from_its_checkpoint_equals_an_uninterrupted_one(prepared, tmp_path):
    """Also with the PatchGAN joining mid-run, code restarts, and batches built by data-loading workers."""
    from flowvq_core.training import ImageTrainingConfig, train_images
    from flowvq_core.vq import load_codebook

    settings = {**TINY, "stage": "codebook", "adversarial_start": 2, "restart_every": 2, "checkpoint_every": 2}
    quiet = {"device": "cpu", "say": lambda _: None}
    whole = train_images(ImageTrainingConfig(steps=4, **settings), prepared, tmp_path / "whole", **quiet)
    train_images(ImageTrainingConfig(steps=2, **settings), prepared, tmp_path / "parts", **quiet)
    workers = {**settings, "workers": 2}
    resumed = train_images(ImageTrainingConfig(steps=4, **workers), prepared, tmp_path / "parts", resume=True, **quiet)
    assert resumed["resumed_from"] == 2 and whole["resumed_from"] == 0
    expected, got = _state(tmp_path / "whole"), _state(tmp_path / "parts")
    assert expected.keys() == got.keys() and any(k.startswith("discriminator_optimizer.") for k in got)
    assert all(torch.equal(expected[k], got[k]) for k in expected)
    assert whole["validation"]["validation_psnr"] > 0 and 0 < whole["validation"]["codebook_usage"] <= 1
    loaded = load_codebook(tmp_path / "whole" / "codebook.safetensors")
    assert loaded.discriminator is not None and loaded.model.config.image_size == 64
    assert sorted(p.name for p in (tmp_path / "whole" / "samples").iterdir()) == ["step_0000002.png",
                                                                                 "step_0000004.png"]  # fmt: skip


def test_a_vqig_trains_both_stages_over_the_codebook_file_and_renders(prepared, codebook_file, tmp_path):
    from flowvq_core.face.rig import NUM_UNITS
    from flowvq_core.training import ImageTrainingConfig, train_images
    from flowvq_core.vq import load_codebook
    from flowvq_core.vqig import VQIGRenderer

    config = ImageTrainingConfig(stage="vqig", steps=2, code_steps=1, checkpoint_every=2, **TINY)
    summary = train_images(config, prepared, tmp_path, codebook=str(codebook_file), device="cpu", say=lambda _: None)
    rows = (tmp_path / "log.csv").read_text().splitlines()
    assert [row.split(",")[1] for row in rows[1:3]] == ["code", "image"], "code level first, then image level"
    assert 0 <= summary["validation"]["validation_accuracy"] <= 1
    renderer = VQIGRenderer.load(tmp_path / "vqig.safetensors")
    frozen = load_codebook(codebook_file).model.state_dict()
    assert all(torch.equal(renderer.model.codebook.state_dict()[k], v) for k, v in frozen.items()), "E_h, C, D_h"
    source = renderer.prepare(torch.rand(64, 64, 3), torch.zeros(468, 3), torch.zeros(NUM_UNITS), torch.zeros(6))
    assert renderer.render_frames(source, torch.rand(3, NUM_UNITS), torch.zeros(3, 6)).shape == (3, 64, 64, 3)
    more = ImageTrainingConfig(stage="vqig", steps=1, code_steps=0, checkpoint_every=1, **TINY)
    train_images(more, prepared, tmp_path / "more", init=str(tmp_path / "vqig.safetensors"),
                 codebook=str(codebook_file), device="cpu", say=lambda _: None)  # fmt: skip
    assert any(k.startswith("discriminator.") for k in _state(tmp_path / "more")), "--codebook lends its PatchGAN"


def test_bad_training_requests_say_what_to_do(prepared, tmp_path, capsys):
    from flowvq_core.cli import main
    from flowvq_core.training import ImageTrainingConfig, train_images

    with pytest.raises(ValueError, match="--codebook"):
        train_images(ImageTrainingConfig(stage="vqig", **TINY), prepared, tmp_path / "a", device="cpu")
    with pytest.raises(ValueError, match="no face images"):
        train_images(ImageTrainingConfig(stage="codebook", **TINY), tmp_path, tmp_path / "b", device="cpu")
    with pytest.raises(ValueError, match="unknown stage"):
        ImageTrainingConfig(stage="gan")
    assert main(["train", "codebook", "--data", str(prepared), "--out", str(tmp_path / "c"), "--frames", "8"]) == 2
    assert "--frames do not apply to train codebook" in capsys.readouterr().err


def test_a_config_file_sets_the_run_and_flags_override_it(prepared, tmp_path):
    from flowvq_core.cli import main

    settings = tmp_path / "codebook.json"
    settings.write_text(json.dumps({"preset": "tiny", "steps": 5, "batch": 2, "workers": 0, "log_every": 1,
                                    "checkpoint_every": 2, "learning_rate": 3e-4}))  # fmt: skip
    out = tmp_path / "run"
    command = ["train", "codebook", "--data", str(prepared), "--out", str(out), "--config", str(settings)]
    assert main([*command, "--steps", "2", "--device", "cpu"]) == 0
    state = json.loads(read_checkpoint(out / "state.safetensors").config_json)
    assert state["step"] == 2 and state["extra"]["config"]["learning_rate"] == 3e-4
    assert state["extra"]["config"]["batch"] == 2 and state["extra"]["config"]["adversarial_start"] == 30_000


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.mark.parametrize("stage", ["codebook", "vqig"])
def test_torchrun_trains_the_image_stages_on_two_cpu_processes(prepared, codebook_file, tmp_path, stage):
    """The adaptive adversarial weight, the discriminator step and code restarts under DistributedDataParallel."""
    out = tmp_path / stage
    command = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node=2", f"--master_port={_free_port()}",
               "-m", "flowvq_core", "train", stage, "--data", str(prepared), "--out", str(out), "--preset", "tiny",
               "--batch", "2", "--steps", "3", "--checkpoint-every", "3", "--workers", "0",
               "--device", "cpu"]  # fmt: skip
    command += ["--adversarial-start", "1"] if stage == "codebook" else ["--codebook", str(codebook_file),
                                                                        "--code-steps", "1"]  # fmt: skip
    result = subprocess.run(command, cwd=ROOT, env=ENV, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    summary = json.loads((out / "summary.json").read_text())
    assert summary["world"] == 2 and summary["ranks_identical"] and len(summary["checksums"]) == 2
    assert result.stdout.count(f"{stage}: 3 steps") == 1, "only rank 0 reports"


@pytest.mark.slow
def test_the_tiny_codebook_learns_the_prepared_frames_through_train(prepared, tmp_path):
    """The whole path (prepared frames → batches → trainer → validation on the test actor) learns: above 25 dB."""
    import csv

    from flowvq_core.training import ImageTrainingConfig, train_images

    config = ImageTrainingConfig(stage="codebook", preset="tiny", steps=300, batch=4, learning_rate=1e-3, workers=0,
                                 checkpoint_every=100, log_every=100, adversarial_start=10**6)  # fmt: skip
    train_images(config, prepared, tmp_path, device="cpu", say=lambda _: None)
    with open(tmp_path / "log.csv", newline="") as handle:
        psnr = [float(row["validation_psnr"]) for row in csv.DictReader(handle) if row["validation_psnr"]]
    assert len(psnr) == 3 and psnr[-1] > 25 and psnr[-1] > psnr[0], psnr


def test_ctrl_c_finishes_the_step_saves_the_state_and_resume_continues_exactly(prepared, tmp_path):
    """SIGINT to the whole process group (what a terminal's Ctrl-C does, data-loading workers included)."""
    import signal
    import time

    from flowvq_core.checkpoint import read_checkpoint

    def command(out: Path, steps: int, *extra: str) -> list[str]:
        return [sys.executable, "-m", "flowvq_core", "train", "codebook", "--data", str(prepared), "--out", str(out),
                "--preset", "tiny", "--batch", "2", "--steps", str(steps), "--checkpoint-every", "1000",
                "--log-every", "1", "--workers", "2", "--device", "cpu", *extra]  # fmt: skip

    run = subprocess.Popen(command(tmp_path / "stopped", 1000), cwd=ROOT, env=ENV, stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, text=True, start_new_session=True)  # fmt: skip
    log = tmp_path / "stopped" / "log.csv"
    deadline = time.monotonic() + 120
    while (not log.is_file() or len(log.read_text().splitlines()) < 4) and time.monotonic() < deadline:
        time.sleep(0.05)
    os.killpg(run.pid, signal.SIGINT)
    output = run.communicate(timeout=120)[0]
    assert run.returncode == 0, output[-3000:]
    stopped_at = json.loads(read_checkpoint(tmp_path / "stopped" / "state.safetensors").config_json)["step"]
    assert 3 <= stopped_at < 1000 and f"stopped at step {stopped_at} (Ctrl-C)" in output
    total = str(stopped_at + 2)
    for out, extra in ((tmp_path / "stopped", ["--resume"]), (tmp_path / "whole", [])):
        subprocess.run(command(out, int(total), *extra), cwd=ROOT, env=ENV, check=True, capture_output=True)
    expected, got = _state(tmp_path / "whole"), _state(tmp_path / "stopped")
    assert expected.keys() == got.keys() and all(torch.equal(expected[k], got[k]) for k in expected)
