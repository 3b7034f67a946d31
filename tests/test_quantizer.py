"""The vector quantizer on tiny random tensors: nearest codes, straight-through gradients, EMA, dead codes."""

from __future__ import annotations

import pytest
import torch

from flowvq_core.vq import VectorQuantizer


def _features(batch: int = 2, dim: int = 8, size: int = 5, seed: int = 0) -> torch.Tensor:
    return torch.randn(batch, dim, size, size, generator=torch.Generator().manual_seed(seed))


def _quantizer(**options) -> VectorQuantizer:
    torch.manual_seed(0)
    quantizer = VectorQuantizer(num_codes=16, dim=8, **options)
    with torch.no_grad():
        quantizer.codebook.copy_(torch.randn(16, 8))
    return quantizer


def test_indices_are_the_true_nearest_codes():
    quantizer = _quantizer()
    features = _features()
    out = quantizer(features)
    flat = features.permute(0, 2, 3, 1).reshape(-1, 8)
    brute = torch.cdist(flat, quantizer.codebook).argmin(1)
    assert torch.equal(out.indices.flatten(), brute)
    assert torch.allclose(out.quantized, quantizer.lookup(out.indices))
    assert out.quantized.shape == features.shape and out.indices.shape == (2, 5, 5)


def test_gradients_pass_straight_through_to_the_encoder_and_the_codebook_learns_from_its_loss():
    quantizer = _quantizer(commitment=0.25)
    features = _features().requires_grad_(True)
    out = quantizer(features)
    (out.quantized.sum() + out.loss).backward()
    codes = quantizer.codebook[out.indices].permute(0, 3, 1, 2)
    commitment_grad = 2 * 0.25 * (features - codes) / features.numel()
    assert torch.allclose(features.grad, 1 + commitment_grad, atol=1e-6), "identity from the straight-through path"
    assert quantizer.codebook.grad is not None and quantizer.codebook.grad.abs().sum() > 0
    expected = ((features - codes) ** 2).mean() * (1 + 0.25)
    assert torch.allclose(out.loss, expected.detach(), atol=1e-6)


def test_ema_codes_move_to_the_mean_of_their_vectors():
    quantizer = _quantizer(ema_decay=0.5)
    assert not quantizer.codebook.requires_grad
    features = _features()
    for _ in range(30):
        out = quantizer(features)
    flat = features.permute(0, 2, 3, 1).reshape(-1, 8)
    for code in out.indices.unique():
        members = flat[out.indices.flatten() == code]
        assert torch.allclose(quantizer.codebook[code], members.mean(0), atol=1e-3)
    assert torch.allclose(out.loss, 0.25 * ((out.quantized - features) ** 2).mean(), atol=1e-6)


def test_dead_codes_are_counted_and_restarted_on_encoder_vectors():
    quantizer = _quantizer()
    features = _features()
    with torch.no_grad():
        quantizer.codebook[8:] += 100.0  # far away: never chosen
    for _ in range(600):
        quantizer(features)
    report = quantizer.usage_report()
    assert report.dead_codes >= 8 and report.used_fraction <= 0.5 and 1 <= report.perplexity <= 8
    restarted = quantizer.restart_dead_codes(features, generator=torch.Generator().manual_seed(1))
    assert restarted == report.dead_codes
    flat = features.permute(0, 2, 3, 1).reshape(-1, 8)
    nearest_vector = torch.cdist(quantizer.codebook[8:], flat).min(1).values
    assert (nearest_vector < 0.1).all(), "restarted codes sit on encoder outputs"
    assert quantizer.usage_report().dead_codes == 0


def test_batch_perplexity_counts_the_codes_used():
    quantizer = _quantizer()
    one = quantizer(quantizer.codebook[3].view(1, 8, 1, 1).expand(1, 8, 4, 4).contiguous())
    assert torch.allclose(one.perplexity, torch.tensor(1.0))
    every = quantizer(quantizer.codebook.t().reshape(1, 8, 4, 4).contiguous())
    assert torch.allclose(every.perplexity, torch.tensor(16.0), atol=1e-3)


def test_a_wrong_channel_count_is_named():
    with pytest.raises(ValueError, match="3 channels"):
        _quantizer()(torch.zeros(1, 3, 2, 2))


def test_autocast_does_not_round_the_nearest_code_search():
    """Under bfloat16 autocast (``train --amp``) codes are still chosen by float32 distances."""
    torch.manual_seed(1)
    quantizer = VectorQuantizer(512, 64)
    features = torch.randn(2, 64, 8, 8)
    exact = quantizer(features)
    with torch.autocast("cpu", torch.bfloat16):
        mixed = quantizer(features.bfloat16())
    rounded_input = quantizer(features.bfloat16().float())
    assert mixed.quantized.dtype == torch.float32
    assert torch.equal(mixed.indices, rounded_input.indices)
    assert (exact.indices == mixed.indices).float().mean() > 0.95
