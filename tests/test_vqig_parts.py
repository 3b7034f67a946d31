"""The VQIG's motion parts on tiny tensors: coefficient windows, the mapping network, AdaIN, the warp."""

from __future__ import annotations

import pytest
import torch

from flowvq_core.vqig.adain import AdaIN
from flowvq_core.vqig.config import VQIGConfig
from flowvq_core.vqig.mapping import MappingNetwork, coefficient_windows
from flowvq_core.vqig.warping import WarpingNetwork, warp

TINY = VQIGConfig.preset("tiny")


def test_coefficient_windows_centre_each_frame_and_repeat_the_edges():
    coefficients = torch.arange(5.0).view(1, 5, 1).expand(1, 5, 2)
    windows = coefficient_windows(coefficients, 3)
    assert windows.shape == (5, 2, 3)
    assert (
        windows[0, 0].tolist() == [0, 0, 1]
        and windows[2, 0].tolist() == [1, 2, 3]
        and windows[4, 0].tolist() == [3, 4, 4]
    )


def test_mapping_network_gives_one_descriptor_per_frame_and_depends_on_motion():
    torch.manual_seed(0)
    mapping = MappingNetwork(TINY)
    coefficients = torch.rand(2, 6, TINY.coefficient_dim)
    descriptors = mapping(coefficient_windows(coefficients, TINY.window))
    assert descriptors.shape == (12, TINY.descriptor_dim)
    moved = coefficients.clone()
    moved[:, :, 0] += 0.5
    assert not torch.allclose(mapping(coefficient_windows(moved, TINY.window)), descriptors)


def test_adain_starts_as_instance_norm_and_then_takes_the_descriptor_statistics():
    torch.manual_seed(0)
    norm = AdaIN(4, 8)
    features = 3 + 2 * torch.randn(2, 4, 6, 6)
    out = norm(features, torch.randn(2, 8))
    assert torch.allclose(out.mean((-2, -1)), torch.zeros(2, 4), atol=1e-5)
    with torch.no_grad():
        norm.affine.bias.copy_(torch.tensor([1.0, 1, 1, 1, 5, 5, 5, 5]))  # γ = 1 → scale 2, β = 5
    out = norm(features, torch.zeros(2, 8))
    assert torch.allclose(out.mean((-2, -1)), torch.full((2, 4), 5.0), atol=1e-4)
    assert torch.allclose(out.std((-2, -1), unbiased=False), torch.full((2, 4), 2.0), atol=1e-3)


def test_warp_is_exact_for_zero_flow_and_shifts_by_a_known_flow():
    image = torch.rand(1, 3, 16, 16)
    assert torch.allclose(warp(image, torch.zeros(1, 2, 4, 4)), image, atol=1e-6)
    one_pixel = torch.zeros(1, 2, 4, 4)
    one_pixel[:, 0] = 2 / 16  # x offsets in −1..1 units: one pixel to the right
    shifted = warp(image, one_pixel)
    assert torch.allclose(shifted[..., :-1], image[..., 1:], atol=1e-5)


def test_warping_network_starts_as_the_identity_and_outputs_flow_at_a_quarter():
    torch.manual_seed(0)
    network = WarpingNetwork(TINY)
    source = torch.rand(2, 3, 64, 64)
    warped, flow = network(source, torch.randn(2, TINY.descriptor_dim))
    assert flow.shape == (2, 2, 16, 16) and torch.allclose(warped, source, atol=1e-5)
    warped.sum().backward()
    assert network.flow.weight.grad is not None and network.flow.weight.grad.abs().sum() > 0


def test_unknown_preset_is_named():
    with pytest.raises(ValueError, match="unknown VQIG preset 'big'"):
        VQIGConfig.preset("big")
