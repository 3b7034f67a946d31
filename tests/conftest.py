"""Shared fixtures: tiny flows in float64 for exact invariants."""

from __future__ import annotations

import pytest
import torch
from flow_helpers import perturb_

from flowvq_core.config import FlowConfig
from flowvq_core.flows import ExpFlow, PoseFlow


@pytest.fixture
def exp_flow() -> ExpFlow:
    torch.manual_seed(0)
    flow = ExpFlow(FlowConfig.expression("tiny", 6)).double()
    perturb_(flow)
    return flow.eval()


@pytest.fixture
def pose_flow() -> PoseFlow:
    torch.manual_seed(1)
    flow = PoseFlow(FlowConfig.pose("tiny", 6)).double()
    perturb_(flow)
    return flow.eval()
