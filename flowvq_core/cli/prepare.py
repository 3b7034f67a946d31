"""``prepare``: talking videos (or face photos) → training shards."""

from __future__ import annotations

import argparse

from .progress import Progress


def add_parser(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser(
        "prepare",
        help="turn talking videos (or face photos) into training shards",
        description="Decode, track and fit every video (or photo) under SOURCE and write training shards to OUT, with "
        "a manifest; a second run skips what is done. Layouts: videos (any folder; an emotion folder name labels "
        "its clips), mead (<actor>/video/front/<emotion>/level_<n>/*.mp4), hdtf (long videos cut into 5-second "
        "clips), ffhq (face photos → crops for the codebook).",
    )
    parser.add_argument("source", help="the folder to read")
    parser.add_argument("out", help="the folder to write (created)")
    parser.add_argument("--layout", default="videos", choices=["videos", "mead", "hdtf", "ffhq"])
    parser.add_argument("--fps", type=float, default=25.0, help="frame rate of the coefficients (default: 25)")
    parser.add_argument(
        "--crop-size",
        type=int,
        default=512,
        help="side of the stored face crops and frames (default: 512, the paper's)",
    )
    parser.add_argument(
        "--jobs", type=int, default=1, help="sources prepared at once, in worker processes (default: 1)"
    )
    parser.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from ..datasets.prepare import prepare

    progress = Progress(args.quiet, "preparing")
    try:
        summary = prepare(args.source, args.out, args.layout, fps=args.fps, crop_size=args.crop_size,
                          jobs=args.jobs, progress=progress)  # fmt: skip
    finally:
        progress.close()
    reasons = ", ".join(f"{count} {reason}" for reason, count in (summary.reasons or {}).items())
    print(f"{args.out}: {summary.done} prepared, {summary.skipped} skipped{f' ({reasons})' if reasons else ''}, "
          f"{summary.already} already there")  # fmt: skip
    return 0
