"""Rebuild the bundled generator: synthesise the corpus, then train ExpFlow and PoseFlow on it.

    python scripts/build_default_model.py corpus --out build/corpus.safetensors          # needs espeak-ng
    python scripts/build_default_model.py train --corpus build/corpus.safetensors \\
        --out flowvq_core/pretrained/flowvq_small_synthetic.safetensors                # CUDA when present

The two stages are separate so the corpus (made where espeak-ng is installed) can travel to a GPU machine.
Everything is seeded: the same commands give the same corpus, and the same weights on the same device.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from flowvq_core.config import GeneratorConfig  # noqa: E402
from flowvq_core.datasets.corpus import CoefficientCorpus  # noqa: E402
from flowvq_core.emotions import emotion_id  # noqa: E402
from flowvq_core.face.rig import FACE_MODEL_ID, NUM_UNITS  # noqa: E402
from flowvq_core.flows import ManifoldProjection  # noqa: E402
from flowvq_core.flows.context import SequenceBatch  # noqa: E402
from flowvq_core.flows.training import train_flow  # noqa: E402
from flowvq_core.generator import CoefficientGenerator, SamplingDefaults  # noqa: E402
from flowvq_core.training.flows import DEQUANTISATION_NOISE  # noqa: E402


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


def _noisy(batch: SequenceBatch, std: float, generator: torch.Generator) -> SequenceBatch:
    noise = torch.randn(batch.coefficients.shape, generator=generator) * std
    return dataclasses.replace(batch, coefficients=batch.coefficients + noise.to(batch.coefficients.device))


def train(args: argparse.Namespace) -> None:
    device = torch.device(args.device if args.device != "auto" else ("cuda" if torch.cuda.is_available() else "cpu"))
    torch.manual_seed(args.seed)
    corpus = CoefficientCorpus.load(args.corpus)
    print(f"corpus {args.corpus}: {corpus.describe()}; device {device}", flush=True)
    sampler = corpus.sampler(device)
    config = GeneratorConfig.preset(args.preset, expression_dim=NUM_UNITS, pose_dim=6)
    generator = CoefficientGenerator(config, face_model_id=FACE_MODEL_ID)
    if args.init:
        generator.load_state_dict(CoefficientGenerator.load(args.init).state_dict(), strict=False)
        print(f"continuing from {args.init}", flush=True)
    generator = generator.to(device)
    log: dict[str, object] = {"preset": args.preset, "corpus": corpus.describe(), "device": str(device)}
    budget = args.max_minutes * 60 if args.max_minutes else None
    for kind, flow, steps, noise in (
        ("expression", generator.expression, args.expression_steps, DEQUANTISATION_NOISE["expression"]),
        ("pose", generator.pose, args.pose_steps, DEQUANTISATION_NOISE["pose"]),
    ):
        if steps == 0:  # e.g. fine-tuning one flow of an --init model
            continue
        random = torch.Generator().manual_seed(args.seed + (0 if kind == "expression" else 1))

        def next_batch(step: int, kind=kind, noise=noise, random=random) -> SequenceBatch:
            return _noisy(sampler.batch(kind, args.batch, args.frames, random), noise, random)

        start = time.perf_counter()
        share = args.expression_steps if kind == "expression" else args.pose_steps
        deadline = time.monotonic() + budget * share / (args.expression_steps + args.pose_steps) if budget else None
        history = train_flow(
            flow,
            next_batch,
            steps,
            learning_rate=args.learning_rate,
            progress=_printer(f"{kind} flow steps"),
            deadline=deadline,
        )
        tail = history.nll[-max(1, len(history.nll) // 20) :]
        log[kind] = {
            "steps": len(history.nll),
            "seconds": round(time.perf_counter() - start, 1),
            "final_nll": round(sum(tail) / len(tail), 4),
            "final_consistency": round(sum(history.consistency[-len(tail) :]) / len(tail), 4),
        }
        print(f"{kind}: {log[kind]}", flush=True)
    bank_random = torch.Generator().manual_seed(args.seed + 2)
    bank_batches = [sampler.batch("expression", args.batch, args.frames, bank_random) for _ in range(args.bank_batches)]
    with torch.no_grad():
        generator.projection = ManifoldProjection.from_flow(generator.expression, bank_batches)
    generator.projection.bank = generator.projection.bank.cpu()
    generator.projection.bank_labels = generator.projection.bank_labels.cpu()
    generator.sampling = _sampling(args)
    generator = generator.cpu()
    generator.save(args.out)
    log["bank_frames"] = int(generator.projection.bank.shape[0])
    log["file_mb"] = round(Path(args.out).stat().st_size / 2**20, 2)
    print(json.dumps(log, indent=1))
    if args.log:
        Path(args.log).write_text(json.dumps(log, indent=1) + "\n", encoding="utf-8")


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
    fit.add_argument("--log", help="also write the training summary as JSON")
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
