"""Every flow layer and the whole flow: exact round trips and log-dets against brute-force Jacobians (float64)."""

from __future__ import annotations

from collections.abc import Callable

import pytest
import torch
from flow_helpers import perturb_, random_batch

from flowvq_core.flows import (
    CompositeTransform,
    ConditionalAffineCoupling,
    FlowCondition,
    FlowStep,
    InvertibleLinearLU,
    MultiActNorm,
    Transform,
)

DIM, HIDDEN, TOKENS, ROWS = 5, 8, 4, 3


def _condition(seed: int = 0) -> FlowCondition:
    generator = torch.Generator().manual_seed(seed)
    return FlowCondition(
        context=torch.randn(ROWS, TOKENS, HIDDEN, generator=generator, dtype=torch.float64),
        labels=torch.tensor([0, 2, 1]),
    )


def _row(condition: FlowCondition, index: int) -> FlowCondition:
    return FlowCondition(condition.context[index : index + 1], condition.labels[index : index + 1])


def _brute_force_logdet(function: Callable, inputs: torch.Tensor, condition: FlowCondition) -> torch.Tensor:
    values = []
    for index in range(inputs.shape[0]):
        row_condition = _row(condition, index)
        jacobian = torch.autograd.functional.jacobian(
            lambda row, c=row_condition: function(row.unsqueeze(0), c)[0].squeeze(0), inputs[index]
        )
        values.append(torch.linalg.slogdet(jacobian).logabsdet)
    return torch.stack(values)


LAYERS: dict[str, Callable[[], Transform]] = {
    "multi_actnorm": lambda: MultiActNorm(DIM, num_classes=3),
    "plain_actnorm": lambda: MultiActNorm(DIM, num_classes=1),
    "invertible_1x1": lambda: InvertibleLinearLU(DIM),
    "coupling": lambda: ConditionalAffineCoupling(DIM, HIDDEN, heads=2, layers=2),
    "flow_step": lambda: FlowStep(DIM, HIDDEN, num_classes=3, heads=2),
    "three_steps": lambda: CompositeTransform(FlowStep(DIM, HIDDEN, num_classes=3, heads=2) for _ in range(3)),
}


@pytest.fixture(params=sorted(LAYERS))
def layer(request) -> Transform:
    torch.manual_seed(0)
    module = LAYERS[request.param]().double()
    perturb_(module)
    return module.eval()


def test_round_trip(layer: Transform):
    condition = _condition()
    inputs = torch.randn(ROWS, DIM, dtype=torch.float64)
    latent, _ = layer(inputs, condition)
    restored, _ = layer.inverse(latent, condition)
    assert (restored - inputs).abs().max() < 1e-8
    assert not torch.allclose(latent, inputs), "a perturbed layer should not be the identity"


def test_logdet_matches_jacobian(layer: Transform):
    condition = _condition()
    inputs = torch.randn(ROWS, DIM, dtype=torch.float64)
    _, logdet = layer(inputs, condition)
    assert torch.allclose(logdet, _brute_force_logdet(layer, inputs, condition), atol=1e-8)
    latent, _ = layer(inputs, condition)
    _, inverse_logdet = layer.inverse(latent, condition)
    assert torch.allclose(inverse_logdet, -logdet, atol=1e-8)


def test_coupling_starts_near_identity():
    coupling = ConditionalAffineCoupling(DIM, HIDDEN, heads=2).double()
    inputs = torch.randn(ROWS, DIM, dtype=torch.float64)
    outputs, logdet = coupling(inputs, _condition())
    scale = torch.sigmoid(torch.tensor(2.0, dtype=torch.float64))
    assert torch.allclose(outputs[:, : DIM // 2], inputs[:, : DIM // 2])
    assert torch.allclose(outputs[:, DIM // 2 :], inputs[:, DIM // 2 :] * scale)
    assert torch.allclose(logdet, (DIM - DIM // 2) * torch.log(scale).expand(ROWS))


def test_multi_actnorm_data_dependent_init_is_shared_by_all_classes():
    actnorm = MultiActNorm(DIM, num_classes=4).double().train()
    inputs = 3 + 2 * torch.randn(256, DIM, dtype=torch.float64)
    condition = FlowCondition(torch.zeros(256, 1, 1), torch.randint(0, 4, (256,)))
    outputs, _ = actnorm(inputs, condition)
    assert torch.allclose(outputs.mean(0), torch.zeros(DIM, dtype=torch.float64), atol=1e-8)
    assert torch.allclose(outputs.std(0, unbiased=False), torch.ones(DIM, dtype=torch.float64), atol=1e-5)
    assert torch.equal(actnorm.bias[0], actnorm.bias[3]) and torch.equal(actnorm.logscale[1], actnorm.logscale[2])
    before = actnorm.bias.clone()
    actnorm(inputs + 10, condition)
    assert torch.equal(before, actnorm.bias), "initialisation must happen once"


def test_multi_actnorm_uses_each_rows_emotion():
    actnorm = MultiActNorm(DIM, num_classes=3).double().eval()
    with torch.no_grad():
        actnorm.bias[1] += 5
    inputs = torch.zeros(3, DIM, dtype=torch.float64)
    outputs, _ = actnorm(inputs, _condition())
    assert torch.allclose(outputs[2], torch.full((DIM,), 5.0, dtype=torch.float64))
    assert torch.allclose(outputs[0], torch.zeros(DIM, dtype=torch.float64))


def test_invertible_1x1_logdet_is_log_abs_det_of_weight():
    conv = InvertibleLinearLU(DIM).double()
    perturb_(conv)
    _, logdet = conv(torch.randn(2, DIM, dtype=torch.float64), _condition())
    assert torch.allclose(logdet[0], torch.linalg.slogdet(conv.weight()).logabsdet, atol=1e-10)


@pytest.mark.parametrize("which", ["exp_flow", "pose_flow"])
def test_whole_flow_round_trip_and_logdet(which, request):
    flow = request.getfixturevalue(which)
    batch = random_batch(flow, batch=2, frames=3)
    context = flow.sequence_context(batch)
    x = batch.coefficients.flatten(0, 1)
    z, logdet = flow.encode(x, context)
    assert (flow.decode(z, context) - x).abs().max() < 1e-8
    condition = flow.condition(context)
    assert torch.allclose(logdet, _brute_force_logdet(flow.steps, x, condition), atol=1e-8)
