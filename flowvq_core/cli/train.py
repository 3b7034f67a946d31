"""``train STAGE``: one sub-command per stage of the paper (expflow, poseflow, codebook, vqig), each showing only its
own flags, with its own defaults."""

from __future__ import annotations

import argparse
from dataclasses import dataclass

from ..errors import InvalidOptionError

STAGE_FLAGS: dict[str, dict] = {
    "frames": {"flag": "--frames", "type": int, "help": "frames per training window"},
    "workers": {"flag": "--workers", "type": int, "help": "data-loading processes"},
    "vgg": {"flag": "--vgg", "metavar": "FILE", "help": "VGG19 weights for the perceptual loss"},
    "codebook": {"flag": "--codebook", "metavar": "FILE", "help": "the codebook stage's codebook.safetensors"},
    "code_steps": {"flag": "--code-steps", "type": int, "help": "steps at the code level before the image level"},
    "adversarial_start": {"flag": "--adversarial-start", "type": int, "help": "the step at which the PatchGAN joins"},
}
"""The flags only some stages take, by destination."""

TRAINER_FILES = ("vgg", "codebook")
"""Stage flags that name files for the trainer; the others set a config field."""

COMMON_SETTINGS = (
    "preset",
    "steps",
    "batch",
    "learning_rate",
    "checkpoint_every",
    "log_every",
    "seed",
    "ema_decay",
    "amp",
)
"""The config fields every stage's flags may set."""


@dataclass(frozen=True)
class Stage:
    """What ``train NAME --help`` shows and which of ``STAGE_FLAGS`` the stage takes.

    ``defaults`` are the values its ``--help`` shows; the training configs own them (a test checks the two agree).
    The flags themselves default to None, so that a ``--config`` file's values stand unless a flag is given.
    """

    help: str
    description: str
    images: bool
    """An image stage of §3.3 (``train_images``), not a flow of §3.2 (``train_flows``)."""
    takes: tuple[str, ...]
    defaults: dict[str, object]

    @property
    def presets(self) -> str:
        return "tiny or paper" if self.images else "tiny, small or paper"


_FLOW_DEFAULTS = {
    "preset": "small",
    "steps": 6000,
    "batch": 64,
    "frames": 40,
    "learning_rate": 1e-3,
    "checkpoint_every": 200,
    "log_every": 10,
    "seed": 0,
}
_IMAGE_DEFAULTS = {"preset": "paper", "batch": 16, "checkpoint_every": 2000, "log_every": 50, "seed": 0, "workers": 2}
STAGES = {
    "expflow": Stage(
        help="the expression flow (§3.2)",
        description="Train ExpFlow, the expression flow of §3.2, on the output of `prepare` (or a corpus file).",
        images=False,
        takes=("frames",),
        defaults=_FLOW_DEFAULTS,
    ),
    "poseflow": Stage(
        help="the head-pose flow (§3.2)",
        description="Train PoseFlow, the head-pose flow of §3.2, on the output of `prepare` (or a corpus file); "
        "--init the ExpFlow run's generator.safetensors so that one file holds both flows.",
        images=False,
        takes=("frames",),
        defaults=_FLOW_DEFAULTS,
    ),
    "codebook": Stage(
        help="the codebook, a VQGAN (§3.3)",
        description="Train the codebook stage of §3.3 (a VQGAN: E_h, C, D_h and a PatchGAN) on the face photos and "
        "video frames of the output of `prepare`; writes OUT/codebook.safetensors.",
        images=True,
        takes=("workers", "vgg", "adversarial_start"),
        defaults={**_IMAGE_DEFAULTS, "steps": 800_000, "learning_rate": 7e-5, "adversarial_start": 30_000},
    ),
    "vqig": Stage(
        help="the VQIG renderer, over the codebook (§3.3)",
        description="Train the VQIG of §3.3 over the codebook stage's frozen file (--codebook), first at the code "
        "level, then at the image level; writes OUT/vqig.safetensors, a renderer for generate --renderer.",
        images=True,
        takes=("workers", "vgg", "codebook", "code_steps"),
        defaults={**_IMAGE_DEFAULTS, "steps": 400_000, "learning_rate": 1e-4, "code_steps": 200_000},
    ),
}

_RUNNING = (
    " Checkpoints go to OUT every --checkpoint-every steps; --resume continues exactly where a run stopped. Launch "
    "with `torchrun --nproc_per_node=N -m flowvq_core train ...` to train on N GPUs (or CPU processes) at once."
)


def add_parser(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser(
        "train",
        help="train ExpFlow, PoseFlow, the codebook or the VQIG on prepared data (resumable; torchrun for many GPUs)",
        description="Train a model of the paper on the output of `prepare`: the flows of §3.2 (expflow, poseflow; a "
        "corpus file works too) or the image stages of §3.3 (codebook, then vqig over its file)." + _RUNNING,
    )
    stages = parser.add_subparsers(dest="stage", metavar="STAGE", required=True)
    for name, stage in STAGES.items():
        _add_stage(stages, name, stage)


def _add_stage(stages: argparse._SubParsersAction, name: str, stage: Stage) -> None:
    defaults = stage.defaults
    parser = stages.add_parser(name, help=stage.help, description=stage.description + _RUNNING)
    data = "a folder written by prepare" + ("" if stage.images else " (or a corpus file)")
    parser.add_argument("--data", required=True, help=data)
    parser.add_argument("--out", required=True, help="the run's folder (checkpoints, the model, log.csv)")
    parser.add_argument("--config", metavar="FILE", help="a JSON file of settings (the flags below override it)")
    parser.add_argument("--preset", help=f"model size: {stage.presets} (default: {defaults['preset']})")
    parser.add_argument("--steps", type=int, help=f"optimizer steps (default: {defaults['steps']})")
    parser.add_argument("--batch", type=int, help=f"samples per step and process (default: {defaults['batch']})")
    parser.add_argument("--learning-rate", type=float, help=f"Adam's (default: {defaults['learning_rate']:g})")
    parser.add_argument(
        "--checkpoint-every",
        type=int,
        help=f"steps between checkpoints and validation (default: {defaults['checkpoint_every']})",
    )
    parser.add_argument("--log-every", type=int, help=f"steps between log.csv rows (default: {defaults['log_every']})")
    parser.add_argument(
        "--seed", type=int, help=f"initial weights and every batch follow from it (default: {defaults['seed']})"
    )
    parser.add_argument("--ema", type=float, dest="ema_decay", help="keep a moving average of the weights")
    parser.add_argument("--amp", action="store_true", default=None, help="bfloat16 autocast on CUDA")
    for dest, spec in STAGE_FLAGS.items():
        options = {key: value for key, value in spec.items() if key != "flag"}
        if dest not in stage.takes:
            options["help"] = argparse.SUPPRESS  # accepted but hidden, so that run() can name the flag and the stage
        elif dest in defaults:
            options["help"] += f" (default: {defaults[dest]})"
        parser.add_argument(spec["flag"], dest=dest, **options)
    parser.add_argument("--init", metavar="FILE", help="start from this model file's weights")
    parser.add_argument("--resume", action="store_true", help="continue from OUT/state.safetensors")
    parser.add_argument("--device", default="auto", help="cpu, cuda (default: CUDA when present)")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    stage = STAGES[args.stage]
    wrong = [
        spec["flag"]
        for dest, spec in STAGE_FLAGS.items()
        if dest not in stage.takes and getattr(args, dest) is not None
    ]
    if wrong:
        raise InvalidOptionError(
            f"{', '.join(wrong)} do not apply to train {args.stage}; `train {args.stage} --help` lists its flags"
        )
    from ..training import FlowTrainingConfig, ImageTrainingConfig, train_flows, train_images

    settings = [*COMMON_SETTINGS, *(dest for dest in stage.takes if dest not in TRAINER_FILES)]
    overrides = {name: getattr(args, name) for name in settings if getattr(args, name) is not None}
    overrides["stage"] = args.stage
    kind = ImageTrainingConfig if stage.images else FlowTrainingConfig
    config = kind.from_file(args.config, **overrides) if args.config else kind(**overrides)
    if stage.images:
        train_images(config, args.data, args.out, resume=args.resume, init=args.init, codebook=args.codebook,
                     vgg=args.vgg, device=args.device)  # fmt: skip
    else:
        train_flows(config, args.data, args.out, resume=args.resume, init=args.init, device=args.device)
    return 0
