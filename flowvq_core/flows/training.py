"""A minimal optimisation loop for one coefficient flow (the full trainers live with the training tools)."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import torch

from .coefficient_flow import CoefficientFlow
from .context import SequenceBatch


@dataclass
class TrainingLog:
    nll: list[float]
    consistency: list[float]


def train_flow(
    flow: CoefficientFlow,
    next_batch: Callable[[int], SequenceBatch],
    steps: int,
    *,
    learning_rate: float = 1e-3,
    warmup_steps: int = 50,
    max_grad_norm: float = 1.0,
    progress: Callable[[int, int], None] | None = None,
    deadline: float | None = None,
) -> TrainingLog:
    """Adam with linear warm-up and gradient clipping on ``flow.loss``; ``next_batch(step)`` supplies the data.

    The first batch also performs the actnorm data-dependent initialisation. With ``deadline`` (a
    ``time.monotonic()`` value) training stops early at the first step that ends after it.
    """
    flow.train()
    optimizer = torch.optim.Adam(flow.parameters(), lr=learning_rate)
    schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: min(1.0, (step + 1) / max(1, warmup_steps)))
    log = TrainingLog([], [])
    for step in range(steps):
        loss = flow.loss(next_batch(step))
        optimizer.zero_grad(set_to_none=True)
        loss.total.backward()
        torch.nn.utils.clip_grad_norm_(flow.parameters(), max_grad_norm)
        optimizer.step()
        schedule.step()
        log.nll.append(loss.nll.item())
        log.consistency.append(loss.consistency.item())
        if progress is not None:
            progress(step + 1, steps)
        if deadline is not None and time.monotonic() > deadline:
            break
    flow.eval()
    return log
