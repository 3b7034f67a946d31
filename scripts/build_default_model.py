"""Rebuild the bundled generator: synthesise the corpus, then train ExpFlow and PoseFlow on it.

    python scripts/build_default_model.py corpus --out build/corpus.safetensors          # needs espeak-ng
    python scripts/build_default_model.py train --corpus build/corpus.safetensors \\
        --out flowvq_core/pretrained/flowvq_small_synthetic.safetensors                # CUDA when present

The two stages are separate so the corpus (made where espeak-ng is installed) can travel to a GPU machine.
``train`` trains through the same trainer as ``python -m flowvq_core train``: ``train expflow`` on the corpus file
into ``--work``/expflow (which also builds the projection bank), then ``train poseflow --init`` its generator into
``--work``/poseflow (keeping that bank), each folder holding the trainer's ``state.safetensors``, ``log.csv``,
``summary.json`` and ``generator.safetensors``; the last generator gets the sampling defaults and goes to ``--out``.
A flow given 0 steps is skipped (to continue one flow of an ``--init`` model). Everything is seeded: the same
commands give the same corpus, and the same weights on the same device (``--max-minutes`` stops by the clock, so
only step counts are reproducible).

The shipped ``flowvq_small_synthetic.safetensors`` was made from ``corpus --clips 720 --seed 0`` in four stages,
each continuing the last (``--init``) and each stopped by ``--max-minutes`` (10 twice, 45, 7.5, 4), here replaced by the
step counts they reached:

    python scripts/build_default_model.py train --device cuda --batch 128 \\
        --expression-steps 1006 --pose-steps 538 --out build/1.safetensors
    python scripts/build_default_model.py train --init build/1.safetensors --device cpu --batch 32 \\
        --learning-rate 5e-4 --expression-steps 0 --pose-steps 753 --out build/2.safetensors
    python scripts/build_default_model.py train --init build/2.safetensors --device cuda --batch 128 \\
        --expression-steps 719 --pose-steps 0 --out build/3.safetensors
    python scripts/build_default_model.py train --init build/3.safetensors --device cuda --batch 128 \\
        --expression-steps 1195 --pose-steps 0 --sampling-temperature 1.2 --no-projection --warmup-frames 25

That file was trained by this script's earlier loop, whose batches and random draws were seeded differently (one
sequential generator per flow, not the trainer's per-step seeds) and whose first 1006 ExpFlow steps were two runs,
so these commands make a model the same way, not the same bits.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from flowvq_core.datasets.corpus import CoefficientCorpus  # noqa: E402
from flowvq_core.emotions import emotion_id  # noqa: E402
from flowvq_core.generator import CoefficientGenerator, SamplingDefaults  # noqa: E402
from flowvq_core.training import FlowTrainingConfig, train_flows  # noqa: E402


def build_corpus(args: argparse.Namespace) -> None:
    from flowvq_core.synthetic.clips import build_corpus as synthesize

    start = time.perf_counter()
    clips = synthesize(args.clips, seed=args.seed, fps=args.fps, progress=_printer("synthesising"))
    items = [(c.waveform, c.expression, c.pose, emotion_id(c.emotion), c.fps) for c in clips]
    corpus = CoefficientCorpus.from_waveforms(items, {"seed": str(args.seed), "source": "flowvq synthetic espeak-ng"})
    corpus.save(args.out)
    print(f"{args.out}: {corpus.describe()} in {time.perf_counter() - start:.0f} s")


def _printer(label: str):
    def report(done: int, total: int) -> None:
        if done == total or done % max(1, total // 10) == 0:
            print(f"{label}: {done}/{total}", flush=True)

    return report


def train(args: argparse.Namespace) -> None:
    planned = {"expflow": args.expression_steps, "poseflow": args.pose_steps}
    stages = {stage: steps for stage, steps in planned.items() if steps > 0}
    if not stages:
        raise SystemExit("nothing to train: --expression-steps and --pose-steps are both 0")
    total = sum(stages.values())
    start_from = args.init
    for stage, steps in stages.items():
        config = FlowTrainingConfig(
            stage=stage,
            preset=args.preset,
            steps=steps,
            batch=args.batch,
            frames=args.frames,
            learning_rate=args.learning_rate,
            seed=args.seed,
            bank_batches=args.bank_batches,
            max_minutes=args.max_minutes * steps / total if args.max_minutes else None,
        )
        run = Path(args.work) / stage
        train_flows(config, args.corpus, run, init=start_from, device=args.device)
        start_from = str(run / "generator.safetensors")
    generator = CoefficientGenerator.load(start_from)
    generator.sampling = _sampling(args)
    generator.save(args.out)
    bank = 0 if generator.projection is None else generator.projection.bank.shape[0]
    print(f"{args.out}: {bank} bank frames, sampling defaults {generator.sampling}, "
          f"{Path(args.out).stat().st_size / 2**20:.2f} MB")  # fmt: skip


def _sampling(args: argparse.Namespace) -> SamplingDefaults:
    return SamplingDefaults(
        temperature=args.sampling_temperature, use_projection=not args.no_projection, warmup_frames=args.warmup_frames
    )


def set_sampling(args: argparse.Namespace) -> None:
    generator = CoefficientGenerator.load(args.model)
    generator.sampling = _sampling(args)
    generator.save(args.model)
    print(f"{args.model}: sampling defaults {generator.sampling}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)
    corpus = commands.add_parser("corpus", help="synthesise the training corpus (needs espeak-ng)")
    corpus.add_argument("--clips", type=int, default=720, help="clips, balanced over the 9 emotions (default 720)")
    corpus.add_argument("--seed", type=int, default=0)
    corpus.add_argument("--fps", type=float, default=25.0)
    corpus.add_argument("--out", default="build/corpus.safetensors")
    corpus.set_defaults(run=build_corpus)
    fit = commands.add_parser("train", help="train ExpFlow + PoseFlow and build the projection bank")
    fit.add_argument("--corpus", default="build/corpus.safetensors")
    fit.add_argument("--out", default="flowvq_core/pretrained/flowvq_small_synthetic.safetensors")
    fit.add_argument("--preset", default="small")
    fit.add_argument("--expression-steps", type=int, default=6000)
    fit.add_argument("--pose-steps", type=int, default=3000)
    fit.add_argument("--batch", type=int, default=64)
    fit.add_argument("--frames", type=int, default=40, help="frames per training window (default 40 = 1.6 s)")
    fit.add_argument("--learning-rate", type=float, default=1e-3)
    fit.add_argument("--bank-batches", type=int, default=8, help="batches encoded into the projection bank")
    fit.add_argument("--device", default="auto")
    fit.add_argument("--init", metavar="FILE", help="start from this generator's weights (continue training)")
    fit.add_argument("--max-minutes", type=float, help="stop each flow early so both fit in this time (in proportion)")
    fit.add_argument("--seed", type=int, default=0)
    fit.add_argument("--work", default="build/runs", help="the trainer's run folders, expflow/ and poseflow/")
    fit.add_argument("--sampling-temperature", type=float, default=1.0, help="the model's default temperature")
    fit.add_argument("--no-projection", action="store_true", help="the model samples without projection by default")
    fit.add_argument("--warmup-frames", type=int, default=0, help="the model's default warm-up over silence")
    fit.set_defaults(run=train)
    sampling = commands.add_parser("sampling", help="set a trained generator's default sampling settings")
    sampling.add_argument("--model", default="flowvq_core/pretrained/flowvq_small_synthetic.safetensors")
    sampling.add_argument("--sampling-temperature", type=float, default=1.0)
    sampling.add_argument("--no-projection", action="store_true")
    sampling.add_argument("--warmup-frames", type=int, default=0)
    sampling.set_defaults(run=set_sampling)
    args = parser.parse_args()
    args.run(args)


if __name__ == "__main__":
    main()
