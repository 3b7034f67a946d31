"""``train codebook`` / ``train vqig``: the image stages of paper §3.3 on prepared face images, resumable, on one
device or many.

The codebook stage (a VQGAN: E_h, C, D_h and a PatchGAN) trains on face photos and video frames and writes
``codebook.safetensors``; the VQIG trains on (source frame, target frame, coefficient window) triples of the same
clip, first at the code level (``code_steps``), then at the image level, over a frozen codebook file, and writes
``vqig.safetensors`` (what ``generate --renderer`` and the Load Renderer node take). Batches come from per-step seeds
(built by data-loading workers), so ``--resume`` continues exactly; checkpoints hold every weight and optimizer
state; validation on the test split logs losses and writes sample grids to ``samples/``.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import Tensor

from ..datasets.face_images import MotionBatch, PreparedFaces
from ..errors import InvalidOptionError
from ..face.rig import FACE_MODEL_ID
from ..vq import CodebookConfig, CodebookModel, CodebookTrainer, PatchDiscriminator, PerceptualLoss
from ..vq.checkpoint import load_codebook, save_codebook
from ..vqig import VQIG, VQIGConfig, VQIGRenderer, VQIGTrainer
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

STAGES = ("codebook", "vqig")
LOG_FIELDS = ("step", "phase", "loss", "reconstruction", "perceptual", "adversarial", "adaptive_weight", "code",
              "feature", "accuracy", "discriminator", "perplexity", "restarted_codes", "grad_norm", "lr", "seconds",
              "validation_l1", "validation_psnr", "validation_accuracy", "validation_source_l1", "codebook_usage",
              "memory_mb")  # fmt: skip
STAGE_DEFAULTS = {
    "codebook": {"steps": 800_000, "batch": 16, "learning_rate": 7e-5},
    "vqig": {"steps": 400_000, "batch": 16, "learning_rate": 1e-4},
}
"""After CodeFormer's 512-px VQGAN and transformer stages (the paper gives no schedule of its own)."""


@dataclass
class ImageTrainingConfig(ConfigFile):
    stage: str = "codebook"
    preset: str = "paper"
    steps: int | None = None
    batch: int | None = None
    learning_rate: float | None = None
    warmup_steps: int = 0
    max_grad_norm: float = 1.0
    checkpoint_every: int = 2000
    log_every: int = 50
    validation_batches: int = 2
    seed: int = 0
    amp: bool = False
    """bfloat16 autocast on CUDA (the nearest-code search stays float32)."""
    ema_decay: float = 0.0
    workers: int = 2
    """Data-loading processes (0: load in the training process)."""
    perceptual_weight: float = 1.0
    adversarial_start: int = 30_000
    """codebook: the step at which the PatchGAN joins (VQGAN/CodeFormer start it late)."""
    restart_every: int = 200
    """codebook: restart dead codes this often (0: never)."""
    code_steps: int = 200_000
    """vqig: steps of the code-level stage; the rest are image-level."""
    adversarial: bool = True
    """vqig: image-level adversarial term against the codebook stage's discriminator (when its file has one)."""

    def __post_init__(self) -> None:
        if self.stage not in STAGES:
            raise InvalidOptionError(f"unknown stage {self.stage!r}; choose one of {', '.join(STAGES)}")
        for name, value in STAGE_DEFAULTS[self.stage].items():
            if getattr(self, name) is None:
                setattr(self, name, value)


class _StepBatches(torch.utils.data.Dataset):
    """Item ``step`` is that step's batch, drawn from a seed of (seed, rank, step): any worker can build any step."""

    def __init__(self, draw: Callable[[torch.Generator], object], seed: int, rank: int):
        self.draw, self.seed, self.rank = draw, seed, rank

    def __len__(self) -> int:
        return 2**62

    def __getitem__(self, step: int):
        return self.draw(torch.Generator().manual_seed(step_seed(self.seed, self.rank, step)))


def _to(batch: Tensor | MotionBatch, device: torch.device) -> Tensor | MotionBatch:
    if isinstance(batch, Tensor):
        return batch.to(device, non_blocking=True)
    return dataclasses.replace(batch, **{f.name: getattr(batch, f.name).to(device, non_blocking=True)
                                         for f in dataclasses.fields(batch)})  # fmt: skip


def _psnr(image: Tensor, target: Tensor) -> float:
    """PSNR in dB of images in −1..1 (peak 2)."""
    error = float(((image.clamp(-1, 1) - target) ** 2).mean())
    return 10 * math.log10(4 / max(error, 1e-12))


def _grid(rows: list[Tensor]) -> Tensor:
    """Rows of images [B, 3, S, S] in −1..1 → one image [3, rows·S, B·S] in 0..1."""
    lines = [torch.cat(list(row.clamp(-1, 1)), -1) for row in rows]
    return (torch.cat(lines, -2) + 1) / 2


class _CodebookStage:
    name = "codebook"
    result = "codebook.safetensors"

    def __init__(self, config: ImageTrainingConfig, ranks, *, init: str | None, perceptual, say):
        if init:
            loaded = load_codebook(init)
            self.model, self.discriminator = loaded.model, loaded.discriminator or PatchDiscriminator()
        else:
            self.model = CodebookModel(CodebookConfig.preset(config.preset))
            self.discriminator = PatchDiscriminator()
        self.model.to(ranks.device)
        self.discriminator.to(ranks.device)
        self.size = self.model.config.image_size
        self.trainer = CodebookTrainer(
            self.model, perceptual=perceptual, perceptual_weight=config.perceptual_weight,
            learning_rate=config.learning_rate, adversarial_start=config.adversarial_start,
            restart_every=config.restart_every, discriminator=self.discriminator, amp=config.amp,
            max_grad_norm=config.max_grad_norm, wrap=distributed.wrapper(ranks), say=say,
        )  # fmt: skip
        self.ranks = ranks
        self.modules = {"model": self.model, "discriminator": self.discriminator}
        self.optimizers = {"optimizer": self.trainer.optimizer,
                           "discriminator_optimizer": self.trainer.discriminator_optimizer}  # fmt: skip

    def draw(self, faces: PreparedFaces, config: ImageTrainingConfig) -> Callable[[torch.Generator], Tensor]:
        return functools.partial(faces.image_batch, config.batch)

    def step(self, images: Tensor, step: int) -> dict:
        self.trainer.steps = step
        losses = self.trainer.step(images)
        if self.trainer.restart_due:
            distributed.broadcast(self.ranks, self.model.quantizer)  # each rank restarted from its own batch
        return {"phase": "codebook", **dataclasses.asdict(losses)}

    @torch.no_grad()
    def validate(self, batches: list[Tensor]) -> tuple[dict, Tensor]:
        self.model.eval()
        l1, psnr, grid = [], [], None
        for images in batches:
            decoded = self.model(images).image.float()
            l1.append(float((decoded.clamp(-1, 1) - images).abs().mean()))
            psnr.append(_psnr(decoded, images))
            grid = _grid([images[:8], decoded[:8]]) if grid is None else grid
        usage = self.model.quantizer.usage_report()
        self.model.train()
        return {"validation_l1": sum(l1) / len(l1), "validation_psnr": sum(psnr) / len(psnr),
                "codebook_usage": usage.used_fraction}, grid  # fmt: skip

    def write(self, path: Path) -> None:
        save_codebook(path, self.model, self.discriminator)


class _VQIGStage:
    name = "vqig"
    result = "vqig.safetensors"

    def __init__(self, config: ImageTrainingConfig, ranks, *, init: str | None, codebook: str | None, perceptual, say):
        if not (init or codebook):
            raise InvalidOptionError("train vqig needs the codebook stage's file: --codebook RUN/codebook.safetensors "
                             "(from train codebook), or --init a VQIG to continue")  # fmt: skip
        loaded = load_codebook(codebook) if codebook else None
        if init:  # continue a VQIG; a codebook file given too lends its discriminator
            self.model = VQIGRenderer.load(init).model
        else:
            vqig_config = dataclasses.replace(VQIGConfig.preset(config.preset), codebook=loaded.model.config)
            self.model = VQIG(vqig_config, codebook=loaded.model)
        self.discriminator = loaded.discriminator if loaded is not None and config.adversarial else None
        if config.adversarial and self.discriminator is None:
            say(
                "no discriminator (it comes from --codebook's file): the image-level stage trains without the "
                "adversarial term"
            )
        self.model.to(ranks.device)
        if self.discriminator is not None:
            self.discriminator.to(ranks.device)
        self.size = self.model.config.codebook.image_size
        self.window = self.model.config.window
        self.code_steps = config.code_steps
        self.trainer = VQIGTrainer(
            self.model, learning_rate=config.learning_rate, perceptual=perceptual, discriminator=self.discriminator,
            amp=config.amp, max_grad_norm=config.max_grad_norm,
            wrap=distributed.wrapper(ranks, find_unused_parameters=True),
        )  # fmt: skip
        self.modules = {"model": self.model}
        self.optimizers = {"optimizer": self.trainer.optimizer}
        if self.discriminator is not None:
            self.modules["discriminator"] = self.discriminator
            self.optimizers["discriminator_optimizer"] = self.trainer.discriminator_optimizer

    def draw(self, faces: PreparedFaces, config: ImageTrainingConfig) -> Callable[[torch.Generator], MotionBatch]:
        return functools.partial(faces.motion_batch, config.batch, self.window)

    def step(self, batch, step: int) -> dict:
        code_level = step < self.code_steps
        run = self.trainer.code_step if code_level else self.trainer.image_step
        losses = dataclasses.asdict(run(batch.sources, batch.targets, batch.windows))
        losses["loss"], losses["reconstruction"] = losses.pop("total"), losses.pop("image")
        return {"phase": "code" if code_level else "image", **losses}

    @torch.no_grad()
    def validate(self, batches: list) -> tuple[dict, Tensor]:
        self.model.eval()
        l1, psnr, accuracy, copy, grid = [], [], [], [], None
        for batch in batches:
            codes = self.model.source_codes(batch.sources)
            output = self.model(batch.sources, codes, batch.windows)
            target = self.model.codebook.encode(batch.targets)
            image = output.image.float()
            l1.append(float((image.clamp(-1, 1) - batch.targets).abs().mean()))
            psnr.append(_psnr(image, batch.targets))
            accuracy.append(float((output.indices == target.indices).float().mean()))
            copy.append(float((batch.sources - batch.targets).abs().mean()))
            grid = _grid([batch.sources[:8], batch.targets[:8], image[:8]]) if grid is None else grid
        self.model.train()
        return {"validation_l1": sum(l1) / len(l1), "validation_psnr": sum(psnr) / len(psnr),
                "validation_accuracy": sum(accuracy) / len(accuracy),
                "validation_source_l1": sum(copy) / len(copy)}, grid  # fmt: skip

    def write(self, path: Path) -> None:
        VQIGRenderer(self.model).save(path)


def train_images(
    config: ImageTrainingConfig,
    data: str | Path,
    out: str | Path,
    *,
    resume: bool = False,
    init: str | None = None,
    codebook: str | None = None,
    vgg: str | None = None,
    device: str = "auto",
    say: Callable[[str], None] = print,
) -> dict:
    """Train ``config.stage`` on the prepared folder ``data`` into ``out``; returns the summary also written as
    ``summary.json``."""
    ranks = distributed.setup(device)
    out = Path(out)
    state_path = out / "state.safetensors"
    if ranks.main:
        out.mkdir(parents=True, exist_ok=True)
    say = say if ranks.main else (lambda _: None)
    stop: StopRequest | None = None
    try:
        perceptual = PerceptualLoss.from_file(vgg).to(ranks.device) if vgg else None
        torch.manual_seed(config.seed)  # the same initial weights on every rank
        if config.stage == "codebook":
            stage = _CodebookStage(config, ranks, init=init, perceptual=perceptual, say=say)
        else:
            stage = _VQIGStage(config, ranks, init=init, codebook=codebook, perceptual=perceptual, say=say)
        if vgg is None and config.stage == "vqig":
            say("no VGG19 weights were given: training the VQIG without the perceptual losses")
        faces = PreparedFaces(data, "train", size=stage.size)
        validation = PreparedFaces(data, "test", size=stage.size)
        stage.draw(faces, config)(torch.Generator().manual_seed(0))  # fails here, clearly, when data are missing
        average = WeightAverage(stage.model, config.ema_decay)
        start = 0
        if resume:
            start = resume_from(state_path, stage.modules, stage.optimizers, average, stage=config.stage, say=say)
        validation_batches = _validation_batches(stage, validation, config, ranks.device)
        loader = torch.utils.data.DataLoader(
            _StepBatches(stage.draw(faces, config), config.seed, ranks.rank), batch_size=None,
            sampler=range(start, config.steps), num_workers=config.workers,
            pin_memory=ranks.device.type == "cuda",
        )  # fmt: skip
        log = TrainingLog(out, LOG_FIELDS, main=ranks.main, resume=start > 0, say=say, name=config.stage,
                          steps=config.steps, first_step=start)  # fmt: skip
        began = time.perf_counter()
        stop = StopRequest(enabled=not ranks.distributed)  # from here on Ctrl-C ends the run at a step's end
        last_validation: dict = {}
        for step, batch in zip(range(start, config.steps), loader, strict=True):
            for optimizer in stage.optimizers.values():
                warmup_learning_rate(optimizer, config.learning_rate, step, config.warmup_steps)
            torch.manual_seed(step_seed(config.seed, ranks.rank, step))  # code restarts draw from it
            losses = stage.step(_to(batch, ranks.device), step)
            average.update()
            done = step + 1
            if done % config.log_every == 0 or done == config.steps:
                row = {k: v for k, v in losses.items() if k in LOG_FIELDS}
                log.row(step=done, lr=stage.trainer.optimizer.param_groups[0]["lr"],
                        seconds=round(time.perf_counter() - began, 2), memory_mb=_peak_memory_mb(ranks.device),
                        **row)  # fmt: skip
            stopping = stop.requested
            if done % config.checkpoint_every == 0 or done == config.steps or stopping:
                if ranks.main:
                    save_training_state(state_path, stage.modules, stage.optimizers, step=done,
                                        tensors=average.state(), extra={"config": dataclasses.asdict(config)},
                                        face_model_id=FACE_MODEL_ID)  # fmt: skip
                    with average.applied():
                        stage.write(out / stage.result)
                        if validation_batches:
                            last_validation, grid = stage.validate(validation_batches)
                            log.row(step=done, **last_validation)
                            log.samples(grid, done)
                distributed.barrier(ranks)
            if stopping:
                return stopped(config.stage, done, start, say, log)
        summary = run_summary(ranks, torch.nn.ModuleList(stage.modules.values()), stage=config.stage,
                              steps=config.steps, resumed_from=start, validation=last_validation)  # fmt: skip
        if ranks.main:
            (out / "summary.json").write_text(json.dumps(summary, indent=1) + "\n", encoding="utf-8")
            say(f"{config.stage}: {config.steps} steps → {out / stage.result}")
        log.close()
        return summary
    finally:
        if stop is not None:
            stop.restore()
        distributed.teardown(ranks)


def _validation_batches(stage, validation: PreparedFaces, config: ImageTrainingConfig, device) -> list:
    """Fixed batches of the test split (the same at every checkpoint), none when the split is empty."""
    has_data = validation.clips if stage.name == "vqig" else len(validation) > 0
    if not has_data:
        return []
    draw = stage.draw(validation, config)
    return [_to(draw(torch.Generator().manual_seed(step_seed(config.seed, -1, i))), device)
            for i in range(config.validation_batches)]  # fmt: skip


def _peak_memory_mb(device: torch.device) -> float | None:
    """Peak GPU memory allocated so far (None on the CPU)."""
    return round(torch.cuda.max_memory_allocated(device) / 2**20) if device.type == "cuda" else None
