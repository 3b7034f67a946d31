"""``generate`` and ``demo``: a portrait and speech → a talking-head MP4 (demo: the astronaut and a sentence of
espeak-ng speech), sharing every video option."""

from __future__ import annotations

import argparse

from .progress import Progress

DEMO_TEXT = (
    "Hello! I am a talking portrait. I was made from one photo and one sentence of speech, "
    "and every seed gives me a new way of saying it."
)
"""What the demo portrait says (``demo`` and ``bench demo``)."""


def add_parser(commands: argparse._SubParsersAction) -> None:
    generate = commands.add_parser(
        "generate",
        help="portrait + speech → talking-head MP4",
        description="Animate a portrait with a speech clip and write an H.264 + AAC MP4 as long as the audio.",
    )
    generate.add_argument("--image", required=True, help="the portrait (PNG, JPEG, …; the largest face is used)")
    generate.add_argument("--audio", required=True, help="the speech (WAV, MP3, FLAC, M4A, …)")
    _video_options(generate, default_output=None)
    generate.add_argument(
        "--reference", help="emotion transfer: a video whose facial expression style is copied (replaces --emotion)"
    )
    generate.add_argument("--coefficients", metavar="FILE", help="also save the coefficients (.safetensors or .json)")
    generate.set_defaults(run=run_generate)

    demo = commands.add_parser(
        "demo",
        help="no arguments: the astronaut portrait says a sentence (espeak-ng) → demo.mp4",
        description="Offline demo: skimage's astronaut portrait speaks a sentence synthesised by espeak-ng.",
    )
    demo.add_argument("--text", default=DEMO_TEXT, help="what the portrait says")
    _video_options(demo, default_output="demo.mp4", default_emotion="happy")
    demo.set_defaults(run=run_demo)


def _video_options(
    parser: argparse.ArgumentParser, default_output: str | None, default_emotion: str = "neutral"
) -> None:
    from ..emotions import EMOTIONS, MAX_STRENGTH

    if default_output is None:
        parser.add_argument("-o", "--output", required=True, help="the MP4 to write")
    else:
        parser.add_argument("-o", "--output", default=default_output, help=f"the MP4 (default: {default_output})")
    parser.add_argument(
        "--emotion", default=default_emotion, help=f"one of: {', '.join(EMOTIONS)} (default: {default_emotion})"
    )
    parser.add_argument(
        "--strength", type=float, default=1.0, help=f"emotion strength, 0 (neutral talking) to {MAX_STRENGTH:g}"
    )
    parser.add_argument("--seed", type=int, default=0, help="random seed: each gives other blinks and head motion")
    parser.add_argument("--fps", type=float, default=25.0, help="video frame rate (default: 25)")
    parser.add_argument("--size", type=int, default=512, help="face crop size in pixels (default: 512)")
    parser.add_argument("--full-frame", action="store_true", help="paste the face back into the full photo")
    parser.add_argument("--generator", metavar="FILE", help="a generator checkpoint (default: the bundled one)")
    parser.add_argument(
        "--renderer", metavar="FILE", help="a trained VQIG checkpoint (default: the geometric renderer)"
    )
    parser.add_argument(
        "--renderer-precision",
        default="float32",
        choices=["float32", "bfloat16"],
        help="VQIG renderer: float32, or bfloat16 autocast (faster on recent GPUs)",
    )
    parser.add_argument(
        "--compile-renderer", action="store_true", help="VQIG renderer: torch.compile it (pays off on long videos)"
    )
    parser.add_argument("--device", default="auto", help="cpu, cuda, cuda:1 … (default: CUDA when present)")
    parser.add_argument("--threads", type=int, default=0, help="torch CPU threads (default: torch's choice)")
    parser.add_argument("-q", "--quiet", action="store_true", help="no progress bar")


def run_generate(args: argparse.Namespace) -> int:
    return _make_video(args, args.image, args.audio, args.output)


def run_demo(args: argparse.Namespace) -> int:
    from skimage import data

    from ..synthetic.espeak import speak

    speech = speak(args.text)
    return _make_video(args, data.astronaut(), (speech.waveform, speech.sample_rate), args.output)


def _make_video(args: argparse.Namespace, image, audio, output: str) -> int:
    import time

    import torch

    from ..generator import CoefficientGenerator
    from ..pipeline import TalkingFacePipeline, resolve_device

    if args.threads:
        torch.set_num_threads(args.threads)
    device = resolve_device(args.device)
    generator = CoefficientGenerator.load(args.generator, device=device) if args.generator else None
    renderer = None
    if args.renderer:
        from ..vqig import VQIGRenderer

        renderer = VQIGRenderer.load(
            args.renderer, device=device, precision=args.renderer_precision, compile=args.compile_renderer
        )
    pipeline = TalkingFacePipeline(generator, renderer, device=device, crop_size=args.size)
    progress = Progress(args.quiet, "generating")
    start = time.perf_counter()
    try:
        summary = pipeline.write_video(
            output,
            image,
            audio,
            emotion=args.emotion,
            strength=args.strength,
            reference=getattr(args, "reference", None),
            seed=args.seed,
            fps=args.fps,
            full_frame=args.full_frame,
            progress=progress,
        )
    finally:
        progress.close()
    elapsed = time.perf_counter() - start
    if getattr(args, "coefficients", None):
        summary.coefficients.save(args.coefficients)
    print(
        f"wrote {summary.path} ({summary.frames} frames at {summary.fps:g} fps, {summary.duration:.2f} s of speech) "
        f"in {elapsed:.1f} s ({elapsed / summary.duration:.2f} s per second of speech)"
    )
    return 0
