"""``info``: what a bug report needs (versions, devices, emotions, model sizes)."""

from __future__ import annotations

import argparse
import platform


def add_parser(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser(
        "info",
        help="versions (against the tested ones), devices, emotions and model sizes",
        description="Print what a bug report needs: our version, Python, torch and its devices, the installed "
        "versions of our dependencies and which differ from the tested set (constraints.txt), the emotions and the "
        "model sizes per preset.",
    )
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    import torch

    from .. import __version__
    from ..config import PRESETS, GeneratorConfig
    from ..emotions import EMOTIONS
    from ..generator import CoefficientGenerator
    from ..versions import version_report

    print(f"flowvq_core {__version__}, Python {platform.python_version()}, {platform.platform()}")
    print(f"torch {torch.__version__}, CUDA available: {torch.cuda.is_available()}")
    print("dependencies:")
    print("\n".join(version_report().lines()))
    print(f"emotions: {', '.join(EMOTIONS)}")
    for preset in PRESETS:
        generator = CoefficientGenerator(GeneratorConfig.preset(preset), face_model_id="info")
        expression = sum(p.numel() for p in generator.expression.parameters())
        pose = sum(p.numel() for p in generator.pose.parameters())
        print(f"preset {preset}: ExpFlow {expression / 1e6:.2f} M parameters, PoseFlow {pose / 1e6:.2f} M")
    return 0
