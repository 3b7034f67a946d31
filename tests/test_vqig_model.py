"""The VQIG on the tiny preset: shapes, what is frozen and what learns, the straight-through decode."""

from __future__ import annotations

import pytest
import torch

from flowvq_core.vq import CodebookModel
from flowvq_core.vqig.config import VQIGConfig
from flowvq_core.vqig.losses import code_level_losses, image_level_loss
from flowvq_core.vqig.mapping import coefficient_windows
from flowvq_core.vqig.model import VQIG

TINY = VQIGConfig.preset("tiny")


@pytest.fixture
def vqig():
    torch.manual_seed(0)
    return VQIG(TINY)


def _batch(frames: int = 3):
    torch.manual_seed(1)
    source = torch.rand(1, 3, 64, 64) * 2 - 1
    windows = coefficient_windows(torch.rand(1, frames, TINY.coefficient_dim), TINY.window)
    return source.expand(frames, -1, -1, -1), windows


def test_shapes_and_the_frozen_codebook_stage(vqig):
    source, windows = _batch()
    codes = vqig.source_codes(source[:1]).expand(3, -1, -1, -1)
    out = vqig(source, codes, windows)
    assert out.logits.shape == (3, 256, 128) and out.indices.shape == (3, 16, 16)
    assert out.image.shape == (3, 3, 64, 64) and out.warped.shape == (3, 3, 64, 64)
    assert out.features.shape == (3, 32, 16, 16)
    assert torch.allclose(out.image, vqig.codebook.decode_indices(out.indices), atol=1e-5)
    assert not any(p.requires_grad for p in vqig.codebook.parameters())
    encoder_state = vqig.codebook.encoder.state_dict()
    assert all(torch.equal(v, encoder_state[k]) for k, v in vqig.warped_encoder.state_dict().items()), "E_w = E_h"
    assert all(p.requires_grad for p in vqig.warped_encoder.parameters())


def test_code_level_losses_train_the_predictor_and_not_the_codebook(vqig):
    source, windows = _batch()
    codes = vqig.source_codes(source[:1]).expand(3, -1, -1, -1)
    target = vqig.codebook.encode(torch.rand(3, 3, 64, 64) * 2 - 1)
    losses = code_level_losses(vqig(source, codes, windows), target.indices, target.quantized, source)
    assert losses.warp is None and torch.isclose(losses.total, losses.code + losses.feature)
    losses.total.backward()
    assert vqig.predictor.head[1].weight.grad.abs().sum() > 0
    assert vqig.mapping.first.weight.grad is not None
    assert all(p.grad is None for p in vqig.codebook.parameters())


def test_the_straight_through_decode_lets_image_losses_reach_the_predictor(vqig):
    source, windows = _batch(2)
    codes = vqig.source_codes(source[:1]).expand(2, -1, -1, -1)
    plain = vqig(source, codes, windows)
    through = vqig(source, codes, windows, straight_through=True)
    assert torch.allclose(plain.image, through.image, atol=1e-5), "the same codes, only the gradient differs"
    image_level_loss(through, torch.zeros_like(source)).backward()
    assert vqig.predictor.head[1].weight.grad.abs().sum() > 0


def test_a_codebook_of_another_size_is_refused():
    with pytest.raises(ValueError, match="config differs"):
        VQIG(TINY, CodebookModel())


@pytest.mark.slow
def test_paper_preset_shapes_at_512_batch_1():
    config = VQIGConfig.preset("paper")
    model = VQIG(config).eval()
    source = torch.zeros(1, 3, 512, 512)
    windows = coefficient_windows(torch.zeros(1, 1, config.coefficient_dim), config.window)
    with torch.no_grad():
        out = model(source, model.source_codes(source), windows)
    assert out.logits.shape == (1, 256, 1024) and out.image.shape == (1, 3, 512, 512)
