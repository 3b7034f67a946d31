"""What every trainer's loop shares: per-step seeds (exact resume), a moving average of weights, the CSV and
TensorBoard log, and a checksum to compare ranks."""

from __future__ import annotations

import contextlib
import csv
import hashlib
import json
import signal
import threading
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Self

import torch
from torch import Tensor, nn

from . import distributed
from .state import load_training_state


class ConfigFile:
    """``from_file``: a training config from a JSON file of its field names, command-line overrides on top."""

    @classmethod
    def from_file(cls, path: str, **overrides) -> Self:
        values = json.loads(Path(path).read_text(encoding="utf-8"))
        return cls(**{**values, **{k: v for k, v in overrides.items() if v is not None}})


class StopRequest:
    """Ctrl-C while training: the current step finishes, the loop writes a checkpoint and stops (a second Ctrl-C
    stops at once). Only for a single process in the main thread; elsewhere Ctrl-C keeps its usual meaning."""

    def __init__(self, enabled: bool):
        self.requested = False
        self._previous = None
        if enabled and threading.current_thread() is threading.main_thread():
            self._previous = signal.signal(signal.SIGINT, self._handle)

    def _handle(self, signum, frame) -> None:
        if self.requested:
            raise KeyboardInterrupt
        self.requested = True

    def restore(self) -> None:
        if self._previous is not None:
            signal.signal(signal.SIGINT, self._previous)
            self._previous = None


def resume_from(
    path: Path,
    modules: dict[str, nn.Module],
    optimizers: dict[str, torch.optim.Optimizer],
    average: WeightAverage,
    *,
    stage: str,
    say: Callable[[str], None],
) -> int:
    """Load a run's state (weights, optimizers, weight average) from ``path`` when it exists; returns its step."""
    if not path.is_file():
        return 0
    state = load_training_state(path, modules, optimizers)
    average.load(state.tensors)
    say(f"resuming {stage} at step {state.step}")
    return state.step


def run_summary(ranks: distributed.Ranks, module: nn.Module, **facts) -> dict:
    """What a finished run reports: ``facts``, the world size, and whether every rank holds the same weights."""
    checksums = distributed.gather(ranks, checksum(module))
    return {**facts, "world": ranks.world, "ranks_identical": len(set(checksums)) == 1, "checksums": checksums}


def stopped(stage: str, step: int, start: int, say: Callable[[str], None], log: TrainingLog) -> dict:
    """Say where a run stopped on Ctrl-C (after its checkpoint) and what it returns instead of a full summary."""
    say(f"{stage}: stopped at step {step} (Ctrl-C); its state is saved: the same command with --resume continues")
    log.close()
    return {"stage": stage, "stopped_at": step, "resumed_from": start}


def step_seed(seed: int, rank: int, step: int) -> int:
    """A seed that depends only on (seed, rank, step): a resumed run draws what an uninterrupted one draws."""
    digest = hashlib.sha256(f"{seed}/{rank}/{step}".encode()).digest()
    return int.from_bytes(digest[:8], "little") & (2**63 - 1)


def checksum(module: nn.Module) -> str:
    """A short hash of the module's parameters (equal on every rank after a correct distributed run)."""
    digest = hashlib.sha256()
    for parameter in module.parameters():
        digest.update(parameter.detach().cpu().contiguous().numpy().tobytes())
    return digest.hexdigest()[:16]


def warmup_learning_rate(optimizer: torch.optim.Optimizer, base: float, step: int, warmup_steps: int) -> None:
    """Linear warm-up of the learning rate over the first ``warmup_steps`` steps."""
    for group in optimizer.param_groups:
        group["lr"] = base * min(1.0, (step + 1) / max(1, warmup_steps))


class WeightAverage:
    """An exponential moving average of a module's trainable parameters (``decay`` 0 keeps none)."""

    def __init__(self, module: nn.Module, decay: float):
        self.module = module
        self.decay = decay
        self.parameters = [p for p in module.parameters() if p.requires_grad]
        self.kept = [p.detach().clone() for p in self.parameters] if decay > 0 else None

    @torch.no_grad()
    def update(self) -> None:
        if self.kept is not None:
            for kept, parameter in zip(self.kept, self.parameters, strict=True):
                kept.lerp_(parameter.detach(), 1 - self.decay)

    def state(self) -> dict[str, Tensor]:
        """The average as named tensors (for the training state), empty when there is none."""
        return {} if self.kept is None else {str(i): kept for i, kept in enumerate(self.kept)}

    def load(self, tensors: dict[str, Tensor]) -> None:
        if self.kept is not None and tensors:
            for i, kept in enumerate(self.kept):
                kept.copy_(tensors[str(i)])

    @contextlib.contextmanager
    def applied(self) -> Iterator[None]:
        """The module's parameters swapped for their average inside the block (to write or validate it)."""
        if self.kept is None:
            yield
            return
        saved = [p.detach().clone() for p in self.parameters]
        with torch.no_grad():
            for parameter, kept in zip(self.parameters, self.kept, strict=True):
                parameter.copy_(kept)
        try:
            yield
        finally:
            with torch.no_grad():
                for parameter, value in zip(self.parameters, saved, strict=True):
                    parameter.copy_(value)


PROGRESS_KEYS = ("loss", "nll", "reconstruction", "code", "accuracy", "validation_nll", "validation_l1",
                 "validation_psnr", "validation_accuracy", "codebook_usage")  # fmt: skip
"""The columns a progress line shows, when the row has them."""


class TrainingLog:
    """``log.csv`` with fixed columns (and TensorBoard when installed), written by rank 0 only, which also prints a
    progress line (step, main losses, speed, time left) at most every ``every_seconds`` and for validation rows."""

    def __init__(
        self,
        out: Path,
        fields: Iterable[str],
        *,
        main: bool,
        resume: bool,
        say: Callable[[str], None],
        name: str = "",
        steps: int = 0,
        first_step: int = 0,
        every_seconds: float = 10.0,
    ):
        self.handle = self.writer = self.board = None
        self.out = out
        self.say, self.name, self.steps, self.first_step = say, name, steps, first_step
        self.every_seconds, self.said_at = every_seconds, -float("inf")
        if not main:
            return
        path = out / "log.csv"
        fresh = not (resume and path.is_file())
        self.handle = path.open("w" if fresh else "a", newline="", encoding="utf-8")
        self.writer = csv.DictWriter(self.handle, fieldnames=list(fields))
        if fresh:
            self.writer.writeheader()
        try:
            from torch.utils.tensorboard import SummaryWriter

            self.board = SummaryWriter(str(out / "tensorboard"))
        except ImportError:
            say("TensorBoard is not installed: logging to log.csv only (pip install tensorboard for curves)")

    def row(self, **values: float | int | str | None) -> None:
        if self.writer is None:
            return
        self.writer.writerow(values)
        self.handle.flush()
        if self.board is not None:
            for name, value in values.items():
                if name != "step" and isinstance(value, int | float):  # not the phase's name
                    self.board.add_scalar(name, value, values["step"])
        self._progress(values)

    def _progress(self, values: dict) -> None:
        """``name step 1200/800000 · loss 0.31 · 4.6 steps/s · 2 d 3 h left`` (or the validation values)."""
        step, seconds = int(values["step"]), values.get("seconds")
        validation = any(key.startswith("validation_") for key in values)
        if not validation and (seconds is None or (seconds - self.said_at < self.every_seconds and step < self.steps)):
            return
        shown = [f"{key} {values[key]:.4g}" for key in PROGRESS_KEYS if isinstance(values.get(key), int | float)]
        parts = [f"{self.name} step {step}/{self.steps}", *shown]
        if not validation:
            self.said_at = seconds
            rate = (step - self.first_step) / max(seconds, 1e-9)
            parts += [f"{rate:.3g} steps/s", f"{_duration((self.steps - step) / max(rate, 1e-9))} left"]
        self.say(" · ".join(parts))

    def samples(self, image: Tensor, step: int) -> None:
        """A picture of what the model makes [3, H, W] (0..1): ``samples/step_<n>.png`` and TensorBoard's images."""
        if self.writer is None:
            return
        from PIL import Image

        folder = self.out / "samples"
        folder.mkdir(exist_ok=True)
        pixels = (image.permute(1, 2, 0).clamp(0, 1) * 255).round().to(torch.uint8).cpu().numpy()
        Image.fromarray(pixels).save(folder / f"step_{step:07d}.png")
        if self.board is not None:
            self.board.add_image("samples", image, step)

    def close(self) -> None:
        if self.handle is not None:
            self.handle.close()
        if self.board is not None:
            self.board.close()


def _duration(seconds: float) -> str:
    """3 d 4 h, 2 h 5 min, 7 min, 12 s."""
    minutes, hours, days = seconds / 60, seconds / 3600, seconds / 86400
    if days >= 1:
        return f"{int(days)} d {int(hours % 24)} h"
    if hours >= 1:
        return f"{int(hours)} h {int(minutes % 60)} min"
    return f"{int(minutes)} min" if minutes >= 1 else f"{int(seconds)} s"
