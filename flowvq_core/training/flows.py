"""``train expflow`` / ``train poseflow``: the flows of paper §3.2 on prepared data, resumable, on one or many devices.

Every step's batch and random draws (history dropout, consistency samples) come from a seed made of (seed, rank,
step), so a run stopped at any checkpoint and resumed with ``--resume`` takes exactly the steps an uninterrupted run
takes. Checkpoints (``state.safetensors``: weights, Adam's state, the step) are written by rank 0 every
``checkpoint_every`` steps, with a usable ``generator.safetensors`` beside them; ``log.csv`` gets the losses (and
TensorBoard when it is installed). After ExpFlow the manifold-projection bank is built and stored in the generator;
PoseFlow keeps the bank of the generator it starts from (``init``), whose ExpFlow it leaves as it is.
"""

from __future__ import annotations

import dataclasses
import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import Tensor, nn

from ..config import GeneratorConfig
from ..datasets.corpus import CoefficientCorpus
from ..errors import InvalidOptionError
from ..face.rig import FACE_MODEL_ID, NUM_UNITS
from ..flows import ManifoldProjection
from ..flows.context import SequenceBatch
from ..generator import CoefficientGenerator
from . import distributed
from .loop import (
    ConfigFile,
    StopRequest,
    TrainingLog,
    WeightAverage,
    resume_from,
    run_summary,
    step_seed,
    stopped,
    warmup_learning_rate,
)
from .state import save_training_state

STAGES = {"expflow": "expression", "poseflow": "pose"}
LOG_FIELDS = ("step", "loss", "nll", "consistency", "lr", "seconds", "validation_nll")
DEQUANTISATION_NOISE = {"expression": 0.01, "pose": 0.001}
"""Noise added to the training coefficients: clipped units sit exactly at 0, a point mass no density can fit."""


@dataclass
class FlowTrainingConfig(ConfigFile):
    stage: str = "expflow"
    preset: str = "small"
    steps: int = 6000
    batch: int = 64
    frames: int = 40
    learning_rate: float = 1e-3
    warmup_steps: int = 50
    max_grad_norm: float = 1.0
    checkpoint_every: int = 200
    log_every: int = 10
    validation_batches: int = 4
    seed: int = 0
    amp: bool = False
    """bfloat16 autocast on CUDA (off by default: the flows' log-determinants lose precision in 16 bits)."""
    ema_decay: float = 0.0
    """Exponential moving average of the weights (e.g. 0.999); the written generator then holds the average."""
    bank_batches: int = 8
    max_minutes: float | None = None
    """Stop at the first step that ends after this many minutes of training and finish as if ``steps`` were reached
    (bank, summary): a time budget for a leased GPU."""


class _Loss(nn.Module):
    """The flow's training loss as a module call, so DistributedDataParallel sees it (and averages gradients)."""

    def __init__(self, flow: nn.Module):
        super().__init__()
        self.flow = flow

    def forward(self, batch: SequenceBatch) -> tuple[Tensor, Tensor, Tensor]:
        loss = self.flow.loss(batch)
        return loss.total, loss.nll, loss.consistency


def _batch(sampler, kind: str, config: FlowTrainingConfig, seed: int) -> SequenceBatch:
    generator = torch.Generator().manual_seed(seed)
    batch = sampler.batch(kind, config.batch, config.frames, generator)
    noise = torch.randn(batch.coefficients.shape, generator=generator) * DEQUANTISATION_NOISE[kind]
    return dataclasses.replace(batch, coefficients=batch.coefficients + noise.to(batch.coefficients.device))


def load_corpus(data: str | Path, split: str) -> CoefficientCorpus | None:
    """A prepared folder's clips of ``split`` (``prepare``'s output), or a corpus file (used whole for training)."""
    from ..datasets.prepare import load_prepared_corpus

    data = Path(data)
    if data.is_file():
        return CoefficientCorpus.load(data) if split == "train" else None
    try:
        return load_prepared_corpus(data, split)
    except ValueError:
        if split == "train":
            raise
        return None


def train_flows(
    config: FlowTrainingConfig,
    data: str | Path,
    out: str | Path,
    *,
    resume: bool = False,
    init: str | None = None,
    device: str = "auto",
    say: Callable[[str], None] = print,
) -> dict:
    """Train ``config.stage`` on ``data`` into ``out``; returns the summary also written as ``summary.json``."""
    if config.stage not in STAGES:
        raise InvalidOptionError(f"unknown stage {config.stage!r}; choose one of {', '.join(STAGES)}")
    kind = STAGES[config.stage]
    ranks = distributed.setup(device)
    out = Path(out)
    state_path, generator_path = out / "state.safetensors", out / "generator.safetensors"
    if ranks.main:
        out.mkdir(parents=True, exist_ok=True)
    say = say if ranks.main else (lambda _: None)
    stop: StopRequest | None = None
    try:
        corpus = load_corpus(data, "train")
        validation = load_corpus(data, "test")
        torch.manual_seed(config.seed)  # the same initial weights on every rank
        generator = CoefficientGenerator(
            GeneratorConfig.preset(config.preset, expression_dim=NUM_UNITS, pose_dim=6), face_model_id=FACE_MODEL_ID
        )
        if init:
            start_from = CoefficientGenerator.load(init)
            generator.load_state_dict(start_from.state_dict(), strict=False)
            if kind == "pose":
                generator.projection = start_from.projection
        generator = generator.to(ranks.device)
        flow = getattr(generator, kind)
        sampler = corpus.sampler(ranks.device)
        flow.train()
        with torch.no_grad():  # actnorm's data-dependent initialisation, on the same batch on every rank
            flow.loss(_batch(sampler, kind, config, step_seed(config.seed, 0, -1)))
        optimizer = torch.optim.Adam(flow.parameters(), lr=config.learning_rate)
        average = WeightAverage(flow, config.ema_decay)
        start = 0
        if resume:
            start = resume_from(state_path, {"model": flow}, {"optimizer": optimizer}, average, stage=config.stage,
                                say=say)  # fmt: skip
        module: nn.Module = _Loss(flow)
        if ranks.distributed:
            module = nn.parallel.DistributedDataParallel(
                module, device_ids=[ranks.device.index] if ranks.device.type == "cuda" else None
            )
        log = TrainingLog(out, LOG_FIELDS, main=ranks.main, resume=start > 0, say=say, name=config.stage,
                          steps=config.steps, first_step=start)  # fmt: skip
        began = time.perf_counter()
        deadline = None if config.max_minutes is None else time.monotonic() + 60 * config.max_minutes
        stop = StopRequest(enabled=not ranks.distributed)  # from here on Ctrl-C ends the run at a step's end
        done = start
        for step in range(start, config.steps):
            warmup_learning_rate(optimizer, config.learning_rate, step, config.warmup_steps)
            seed = step_seed(config.seed, ranks.rank, step)
            torch.manual_seed(seed)
            batch = _batch(sampler, kind, config, seed)
            autocast = torch.autocast("cuda", torch.bfloat16, enabled=config.amp and ranks.device.type == "cuda")
            with autocast:
                total, nll, consistency = module(batch)
            optimizer.zero_grad(set_to_none=True)
            total.backward()
            torch.nn.utils.clip_grad_norm_(flow.parameters(), config.max_grad_norm)
            optimizer.step()
            average.update()
            done = step + 1
            last = done == config.steps or _out_of_time(ranks, deadline)
            if done % config.log_every == 0 or last:
                losses = {name: float(value.detach()) for name, value in
                          (("loss", total), ("nll", nll), ("consistency", consistency))}  # fmt: skip
                log.row(step=done, lr=optimizer.param_groups[0]["lr"], seconds=round(time.perf_counter() - began, 2),
                        **losses)  # fmt: skip
            stopping = stop.requested
            if done % config.checkpoint_every == 0 or last or stopping:
                if ranks.main:
                    extra = {"config": dataclasses.asdict(config)}
                    save_training_state(state_path, {"model": flow}, {"optimizer": optimizer}, step=done,
                                        tensors=average.state(), extra=extra, face_model_id=FACE_MODEL_ID)  # fmt: skip
                    with average.applied():
                        generator.save(generator_path)  # save_checkpoint copies every tensor to the CPU
                    if validation is not None:
                        with average.applied():  # the weights the written generator holds
                            log.row(step=done, validation_nll=_validate(flow, validation, kind, config, ranks.device))
                            curves = _sample_curves(generator, validation, ranks.device)
                        log.samples(torch.tensor(curves).permute(2, 0, 1) / 255, done)
                distributed.barrier(ranks)
            if stopping:
                return stopped(config.stage, done, start, say, log)
            if last:
                break
        flow.eval()
        summary = run_summary(ranks, flow, stage=config.stage, steps=done, resumed_from=start)
        if ranks.main:
            if kind == "expression":
                _store_bank(generator, flow, average, sampler, config, generator_path)
            (out / "summary.json").write_text(json.dumps(summary, indent=1) + "\n", encoding="utf-8")
            say(f"{config.stage}: {done} steps → {generator_path}")
        log.close()
        return summary
    finally:
        if stop is not None:
            stop.restore()
        distributed.teardown(ranks)


def _out_of_time(ranks: distributed.Ranks, deadline: float | None) -> bool:
    """Whether the time budget is spent, agreed by every rank (one rank stopping alone would hang the others)."""
    if deadline is None:
        return False
    return any(distributed.gather(ranks, time.monotonic() > deadline))


@torch.no_grad()
def _validate(flow: nn.Module, corpus: CoefficientCorpus, kind: str, config: FlowTrainingConfig, device) -> float:
    """Mean NLL on the validation clips over fixed batches (the same at every checkpoint)."""
    sampler = corpus.sampler(device)
    flow.eval()
    frames = min(config.frames, int(sampler.lengths.max()))
    values = []
    for index in range(config.validation_batches):
        generator = torch.Generator().manual_seed(step_seed(config.seed, -1, index))
        batch = sampler.batch(kind, config.batch, frames, generator)
        values.append(float(flow.loss(batch, consistency_weight=0.0).nll))
    flow.train()
    return float(np.mean(values))


@torch.no_grad()
def _sample_curves(generator: CoefficientGenerator, corpus: CoefficientCorpus, device) -> np.ndarray:
    """The curves [H, W, 3] uint8 the generator draws for the first validation clip's speech (seed 0)."""
    from ..audio import AudioFeatures, mel_windows
    from ..curves import plot_curves

    clip = corpus.clips[0]
    frames = len(clip.expression)
    speech = AudioFeatures(waveform=torch.zeros(1), windows=mel_windows(clip.mel, frames, clip.fps).to(device),
                           fps=clip.fps)  # fmt: skip
    was_training = generator.training
    generator.eval()
    sequence = generator.generate(speech, clip.expression[0].to(device), clip.pose[0].to(device), clip.label)
    generator.train(was_training)
    return plot_curves(sequence)


@torch.no_grad()
def _store_bank(generator, flow, average: WeightAverage, sampler, config: FlowTrainingConfig, path: Path) -> None:
    """Encode training frames into the manifold-projection bank (paper §3.2) and store it in the generator file."""
    with average.applied():
        flow.eval()
        batches = [sampler.batch("expression", config.batch, config.frames,
                                 torch.Generator().manual_seed(step_seed(config.seed, -2, i)))
                   for i in range(config.bank_batches)]  # fmt: skip
        generator.projection = ManifoldProjection.from_flow(flow, batches)
        generator.projection.bank = generator.projection.bank.cpu()
        generator.projection.bank_labels = generator.projection.bank_labels.cpu()
        generator.save(path)  # save_checkpoint copies every tensor to the CPU
