"""The VQIG learns motion: trained on frames the geometric renderer made of the astronaut (jaw and head moving),
it reproduces frames it did not see better than the source image does (the identity baseline)."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from flowvq_core.vq import CodebookConfig, CodebookModel, CodebookTrainer
from flowvq_core.vqig import VQIG, VQIGConfig, VQIGTrainer
from flowvq_core.vqig.mapping import coefficient_windows


def _psnr(a: torch.Tensor, b: torch.Tensor) -> float:
    return 10 * math.log10(4 / F.mse_loss(a.clamp(-1, 1), b).item())


@pytest.fixture(scope="module")
def motion():
    """24 frames at 64 px of the astronaut talking (jawOpen) and turning (±8° yaw), their windows, the source."""
    pytest.importorskip("mediapipe")
    from skimage import data

    from flowvq_core.face import GeometricRenderer, extract
    from flowvq_core.face.rig import unit_index

    photo = data.astronaut()
    face = extract(photo)
    renderer = GeometricRenderer()
    source = renderer.prepare(face.crop_image(photo), face.neutral, face.expression, face.pose)
    phase = torch.linspace(0, 2 * math.pi, 24)
    expression, pose = face.expression.repeat(24, 1), face.pose.repeat(24, 1)
    expression[:, unit_index("jawOpen")] = 0.4 + 0.4 * torch.sin(2 * phase)
    pose[:, 1] += math.radians(8) * torch.sin(phase)
    frames = renderer.render_frames(source, expression, pose)
    small = F.interpolate(frames.permute(0, 3, 1, 2), size=64, mode="area") * 2 - 1
    still = F.interpolate(face.crop_image(photo)[None].permute(0, 3, 1, 2), size=64, mode="area") * 2 - 1
    windows = coefficient_windows(torch.cat([expression, pose], 1)[None], VQIGConfig.preset("tiny").window)
    return still, small, windows


def test_code_level_training_lowers_the_code_loss():
    torch.manual_seed(0)
    model = VQIG(VQIGConfig.preset("tiny"))
    trainer = VQIGTrainer(model, learning_rate=1e-3)
    source, targets = torch.rand(1, 3, 64, 64) * 2 - 1, torch.rand(4, 3, 64, 64) * 2 - 1
    windows = torch.rand(4, model.config.coefficient_dim, model.config.window)
    first = trainer.code_step(source, targets, windows)
    for _ in range(40):
        last = trainer.code_step(source, targets, windows)
    assert last.code < 0.5 * first.code and last.accuracy > first.accuracy
    step = trainer.image_step(source, targets, windows)
    assert math.isfinite(step.image) and step.adversarial is None


@pytest.mark.slow
def test_the_tiny_vqig_reproduces_unseen_frames_of_a_motion_better_than_the_source(motion):
    source, frames, windows = motion
    held_out = list(range(0, 24, 3))  # every third frame stays unseen; the other two thirds train
    train = [i for i in range(24) if i % 3]
    torch.manual_seed(0)
    codebook = CodebookModel(CodebookConfig.preset("tiny"))
    trainer = CodebookTrainer(codebook, learning_rate=2e-3, adversarial_start=10**9, restart_every=100,
                              say=lambda _: None)  # fmt: skip
    pool = torch.cat([frames[train], source])
    generator = torch.Generator().manual_seed(0)
    for _ in range(400):
        trainer.step(pool[torch.randperm(len(pool), generator=generator)[:8]])
    model = VQIG(VQIGConfig.preset("tiny"), codebook)
    vqig_trainer = VQIGTrainer(model, learning_rate=1e-3)
    for _ in range(300):
        pick = torch.tensor(train)[torch.randperm(len(train), generator=generator)[:8]]
        vqig_trainer.code_step(source, frames[pick], windows[pick])
    model.eval()
    with torch.no_grad():
        count = len(held_out)
        codes = model.source_codes(source).expand(count, -1, -1, -1)
        made = model(source.expand(count, -1, -1, -1), codes, windows[held_out]).image
    generated, baseline = _psnr(made, frames[held_out]), _psnr(source.expand(count, -1, -1, -1), frames[held_out])
    assert generated > baseline + 2, (generated, baseline)
