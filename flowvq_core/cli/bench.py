"""``bench TARGET``: speed and memory benchmarks, one sub-command per target with only the flags that apply to it
and its own defaults (the measurements are in ``flowvq_core.bench``)."""

from __future__ import annotations

import argparse

from ..config import PRESETS

FLOW_BATCHES = (1, 8)
IMAGE_PRESETS = ("paper", "tiny")
"""The presets of the VQIG and its codebook (the flows also have ``small``)."""
PRECISION_HELP = "float32, or bfloat16 autocast (default: %(default)s)"


def add_parser(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser(
        "bench",
        help="measure speed and memory",
        description="Speed and memory benchmarks; `bench TARGET --help` lists a target's flags and defaults.",
    )
    targets = parser.add_subparsers(dest="target", metavar="TARGET", required=True)

    demo = _target(targets, "demo", "end to end (extract, generate, render 512 px, encode MP4) per second of speech")
    demo.add_argument(
        "--seconds",
        type=float,
        default=0,
        help="speech-like audio of this length instead of the demo sentence (default: the sentence)",
    )
    demo.add_argument("--json", metavar="FILE", help="also write the results as JSON")
    demo.set_defaults(run=_demo)

    flows = _target(targets, "flows", "generate expression + pose coefficients")
    flows.add_argument("--preset", default="paper", choices=PRESETS, help="model size (default: %(default)s)")
    flows.add_argument(
        "--frames", type=int, default=250, help="frames to generate (default: %(default)s = 10 s at 25 fps)"
    )
    flows.add_argument(
        "--batch",
        type=int,
        nargs="+",
        default=list(FLOW_BATCHES),
        help=f"batch sizes (default: {' '.join(map(str, FLOW_BATCHES))})",
    )
    flows.add_argument("--json", metavar="FILE", help="also write the results as JSON")
    flows.set_defaults(run=_flows)

    face = _target(targets, "face", "face extraction and geometric rendering")
    face.add_argument("--size", type=int, default=512, help="crop size in pixels (default: %(default)s)")
    face.add_argument(
        "--frames", type=int, default=64, help="frames of the tracked video and the rendering (default: %(default)s)"
    )
    face.set_defaults(run=_face)

    vqig = _target(targets, "vqig", "parameter counts and frames/s of the learned renderer (random weights)")
    vqig.add_argument("--preset", default="paper", choices=IMAGE_PRESETS, help="model size (default: %(default)s)")
    vqig.add_argument("--frames", type=int, default=8, help="frames to render (default: %(default)s)")
    vqig.add_argument("--batch", type=int, default=8, help="frames rendered at once (default: %(default)s)")
    vqig.add_argument("--precision", default="float32", choices=["float32", "bfloat16"], help=PRECISION_HELP)
    vqig.add_argument("--compile", action="store_true", help="run the renderer through torch.compile")
    vqig.set_defaults(run=_vqig)

    train = _target(targets, "train", "steps/s and memory of the codebook and VQIG training steps (random data)")
    train.add_argument("--preset", default="paper", choices=IMAGE_PRESETS, help="model size (default: %(default)s)")
    train.add_argument("--batch", type=int, default=8, help="samples per step (default: %(default)s)")
    train.add_argument("--steps", type=int, default=10, help="timed steps per stage (default: %(default)s)")
    train.add_argument("--precision", default="float32", choices=["float32", "bfloat16"], help=PRECISION_HELP)
    train.set_defaults(run=_train)


def _target(targets: argparse._SubParsersAction, name: str, what: str) -> argparse.ArgumentParser:
    """A target's parser with the flags every target takes: where to run and on how many CPU threads."""
    parser = targets.add_parser(name, help=what, description=f"Benchmark: {what}.")
    parser.add_argument("--device", default="auto", help="cpu, cuda, cuda:1 … (default: CPU, and CUDA when present)")
    parser.add_argument("--threads", type=int, default=0, help="torch CPU threads (default: torch's choice)")
    return parser


def _devices(args: argparse.Namespace) -> list[str]:
    """Apply ``--threads`` and return the devices to measure on."""
    import torch

    if args.threads:
        torch.set_num_threads(args.threads)
    if args.device != "auto":
        return [args.device]
    return ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])


def _write(path: str | None, text: str) -> None:
    if path:
        with open(path, "w", encoding="utf-8") as handle:
            handle.write(text)


def _demo(args: argparse.Namespace) -> int:
    import os
    import tempfile

    from ..bench import bench_demo, demo_results_json, format_demo_result, speech_like_audio
    from .generate import DEMO_TEXT

    devices = _devices(args)
    if args.seconds:
        speech = (speech_like_audio(args.seconds), 16000)
        print(f"speech: {args.seconds:g} s of speech-like noise")
    else:
        from ..synthetic.espeak import speak

        spoken = speak(DEMO_TEXT)
        speech = (spoken.waveform, spoken.sample_rate)
        print(f"speech: the demo sentence, espeak-ng ({len(spoken.waveform) / spoken.sample_rate:.2f} s)")
    results = []
    with tempfile.TemporaryDirectory() as folder:
        for device in devices:
            results.append(bench_demo(speech, os.path.join(folder, "bench.mp4"), device=device))
            print(format_demo_result(results[-1]))
    _write(args.json, demo_results_json(results))
    return 0


def _flows(args: argparse.Namespace) -> int:
    from ..bench import bench_flows, format_flow_results, results_json

    results = []
    for device in _devices(args):
        results += bench_flows(args.preset, frames=args.frames, batches=tuple(args.batch), device=device)
    print(format_flow_results(results))
    _write(args.json, results_json(results))
    return 0


def _face(args: argparse.Namespace) -> int:
    from ..bench import bench_face, format_face_results

    for device in _devices(args):
        print(f"device: {device}")
        print(format_face_results(bench_face(args.size, frames=args.frames, device=device)))
    return 0


def _vqig(args: argparse.Namespace) -> int:
    from ..bench import bench_vqig, format_vqig_parameters, format_vqig_result, vqig_parameter_counts

    devices = _devices(args)
    print(format_vqig_parameters(vqig_parameter_counts(args.preset), args.preset))
    for device in devices:
        result = bench_vqig(
            args.preset,
            frames=args.frames,
            batch=args.batch,
            device=device,
            precision=args.precision,
            compile=args.compile,
        )
        print(format_vqig_result(result))
    return 0


def _train(args: argparse.Namespace) -> int:
    from ..bench import bench_training, format_training_results

    amp = args.precision == "bfloat16"
    for device in _devices(args):
        print(
            format_training_results(
                bench_training(args.preset, batch=args.batch, steps=args.steps, device=device, amp=amp)
            )
        )
    return 0
