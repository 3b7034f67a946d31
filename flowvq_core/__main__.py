"""Command line: ``python -m flowvq_core <command>``."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence


def _bench(args: argparse.Namespace) -> int:
    import torch

    from .bench import bench_flows, format_flow_results, results_json

    if args.threads:
        torch.set_num_threads(args.threads)
    devices = ["cpu"] + (["cuda"] if torch.cuda.is_available() else []) if args.device == "auto" else [args.device]
    if args.target == "face":
        from .bench import bench_face, format_face_results

        for device in devices:
            print(f"device: {device}")
            print(
                format_face_results(
                    bench_face(args.size, frames=args.frames if args.frames != 250 else 64, device=device)
                )
            )
        return 0
    results = []
    for device in devices:
        results += bench_flows(args.preset, frames=args.frames, batches=tuple(args.batch), device=device)
    print(format_flow_results(results))
    if args.json:
        with open(args.json, "w", encoding="utf-8") as handle:
            handle.write(results_json(results))
    return 0


def _info(args: argparse.Namespace) -> int:
    import torch

    from . import __version__
    from .config import PRESETS, GeneratorConfig
    from .emotions import EMOTIONS
    from .generator import CoefficientGenerator

    print(f"flowvq_core {__version__}, torch {torch.__version__}, CUDA available: {torch.cuda.is_available()}")
    print(f"emotions: {', '.join(EMOTIONS)}")
    for preset in PRESETS:
        generator = CoefficientGenerator(GeneratorConfig.preset(preset), face_model_id="info")
        expression = sum(p.numel() for p in generator.expression.parameters())
        pose = sum(p.numel() for p in generator.pose.parameters())
        print(f"preset {preset}: ExpFlow {expression / 1e6:.2f} M parameters, PoseFlow {pose / 1e6:.2f} M")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m flowvq_core",
        description="FlowVQ Talker: emotional talking-face generation (FlowVQTalker, CVPR 2024).",
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    bench = commands.add_parser("bench", help="measure speed and memory", description="Speed and memory benchmarks.")
    bench.add_argument(
        "target",
        choices=["flows", "face"],
        help="flows: generate expression + pose coefficients; face: extraction and geometric rendering",
    )
    bench.add_argument("--size", type=int, default=512, help="face: crop size in pixels (default: 512)")
    bench.add_argument("--preset", default="paper", choices=["paper", "tiny"], help="model size (default: paper)")
    bench.add_argument("--frames", type=int, default=250, help="frames to generate (default: 250 = 10 s at 25 fps)")
    bench.add_argument("--batch", type=int, nargs="+", default=[1, 8], help="batch sizes (default: 1 8)")
    bench.add_argument("--device", default="auto", help="cpu, cuda, cuda:1 … (default: CPU, and CUDA when present)")
    bench.add_argument("--threads", type=int, default=0, help="torch CPU threads (default: torch's choice)")
    bench.add_argument("--json", metavar="FILE", help="also write the results as JSON")
    bench.set_defaults(run=_bench)

    info = commands.add_parser("info", help="versions, devices, emotions and model sizes")
    info.set_defaults(run=_info)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return args.run(args)


if __name__ == "__main__":
    sys.exit(main())
