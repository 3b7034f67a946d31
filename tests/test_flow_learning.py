"""A learning check: a tiny ExpFlow learns audio- and emotion-driven motion from synthetic sequences."""

from __future__ import annotations

import numpy as np
import torch

from flowvq_core.config import FlowConfig
from flowvq_core.flows import ExpFlow, ManifoldProjection, SequenceBatch
from flowvq_core.training.loop import warmup_learning_rate

DIM, FRAMES, FPS, EMOTIONS_USED = 6, 12, 25.0, 3


class SyntheticTalkers:
    """x_t = identity + offset[emotion] + e_t · mouth + noise, where e_t is the speech energy shown in the mel."""

    def __init__(self, seed: int = 0):
        generator = np.random.default_rng(seed)
        self.offsets = generator.normal(0.0, 1.0, (EMOTIONS_USED, DIM))
        direction = generator.normal(0.0, 1.0, DIM)
        self.mouth = 1.5 * direction / np.linalg.norm(direction)

    @staticmethod
    def energy(generator: np.random.Generator, frames: int) -> np.ndarray:
        t = np.arange(frames) / FPS
        curve = sum(np.sin(2 * np.pi * generator.uniform(0.5, 3.0) * t + generator.uniform(0, 6.3)) for _ in range(3))
        return 1 / (1 + np.exp(-2 * curve))

    def batch(self, seed: int, size: int = 8, frames: int = FRAMES, labels: np.ndarray | None = None):
        generator = np.random.default_rng(seed)
        energy = np.stack([self.energy(generator, frames) for _ in range(size)])
        labels = generator.integers(0, EMOTIONS_USED, size) if labels is None else labels
        identity = generator.normal(0.0, 0.3, (size, DIM))
        x = identity[:, None] + self.offsets[labels][:, None] + energy[..., None] * self.mouth
        x += generator.normal(0.0, 0.03, x.shape)
        windows = -4 + 8 * energy[..., None, None] + generator.normal(0.0, 0.1, (size, frames, 80, 16))
        return SequenceBatch(
            coefficients=torch.tensor(x, dtype=torch.float32),
            windows=torch.tensor(windows, dtype=torch.float32).clamp(-4, 4),
            labels=torch.tensor(labels),
            source=torch.tensor(identity, dtype=torch.float32),
        ), energy


def _fit(flow: ExpFlow, data: SyntheticTalkers, steps: int, learning_rate: float) -> tuple[list[float], list[float]]:
    """Adam with 50 warm-up steps and gradients clipped at 1 (the flow trainer's settings) on the synthetic batches;
    every step's NLL and consistency loss."""
    flow.train()
    optimizer = torch.optim.Adam(flow.parameters(), lr=learning_rate)
    nll, consistency = [], []
    for step in range(steps):
        warmup_learning_rate(optimizer, learning_rate, step, 50)
        loss = flow.loss(data.batch(step)[0])
        optimizer.zero_grad(set_to_none=True)
        loss.total.backward()
        torch.nn.utils.clip_grad_norm_(flow.parameters(), 1.0)
        optimizer.step()
        nll.append(loss.nll.item())
        consistency.append(loss.consistency.item())
    flow.eval()
    return nll, consistency


def test_tiny_exp_flow_learns_audio_and_emotion():
    torch.manual_seed(0)
    data = SyntheticTalkers()
    flow = ExpFlow(FlowConfig.expression("tiny", DIM))
    nll, consistency = _fit(flow, data, steps=500, learning_rate=3e-3)
    assert np.mean(nll[-20:]) < np.mean(nll[:20]) - 1.0, "the likelihood improves"
    assert min(consistency) > 0, "the consistency loss is computed and trained"

    held_out, energy = data.batch(seed=10_000, size=6, frames=50, labels=np.array([0, 1, 2, 0, 1, 2]))
    generator = torch.Generator().manual_seed(0)
    correlations, means = [], []
    for clip in range(6):
        generated = flow.generate(
            held_out.windows[clip], held_out.source[clip], held_out.labels[clip], temperature=0.7, generator=generator
        )[0].numpy()
        mouth = (generated - held_out.source[clip].numpy()) @ data.mouth
        correlations.append(np.corrcoef(mouth, energy[clip])[0, 1])
        truth = held_out.coefficients[clip].numpy()
        correlations.append(np.corrcoef(generated.ravel(), truth.ravel())[0, 1])
        means.append((generated - held_out.source[clip].numpy()).mean(0))
    assert min(correlations) > 0.8, f"generated motion follows the held-out truth: {np.round(correlations, 3)}"

    def distance(a, b):
        return float(np.linalg.norm(a - b))

    for clip, label in enumerate([0, 1, 2, 0, 1, 2]):
        own = distance(means[clip] - energy[clip].mean() * data.mouth, data.offsets[label])
        others = [
            distance(means[clip] - energy[clip].mean() * data.mouth, data.offsets[k]) for k in range(3) if k != label
        ]
        assert own < min(others), f"clip {clip} shows its own emotion"

    projection = ManifoldProjection.from_flow(flow, [data.batch(seed, size=32)[0] for seed in range(5)])
    assert projection.bank.shape == (5 * 32 * FRAMES, DIM)
    projected = flow.generate(
        held_out.windows[1], held_out.source[1], 1, generator=torch.Generator().manual_seed(1), projection=projection
    )[0].numpy()
    assert np.corrcoef(projected.ravel(), held_out.coefficients[1].numpy().ravel())[0, 1] > 0.8
