"""Turn a folder of talking videos (the user's own, MEAD's or HDTF's layout) or face photos (FFHQ) into training
shards: ``python -m flowvq_core prepare``.

Each video clip is decoded with PyAV, its face tracked and fitted (``face.extract_video``), and written with its
log-mel spectrogram as a one-clip coefficient corpus (``clips/<id>.safetensors``, what the flows train on) and as
its face frames in one stable crop, one per coefficient frame (``frames/<id>.mp4``, H.264 at CRF 12 with a keyframe
every 12 frames: what the codebook and the VQIG train on); each photo becomes a face crop (``crops/<id>.png``).
``manifest.jsonl`` gets one line per source, written as soon as it is done, so a second run skips what is there,
including the sources that failed (a corrupt file, no face): those are counted, never fatal. The split follows the
paper: MEAD's test actors are M003, M030, W009 and W015; HDTF is cut into 5-second clips; other sources go to
``test`` by a stable hash of their name (one in ten).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch

from ..emotions import EMOTIONS, emotion_id
from ..errors import (
    BadAudioError,
    BadFileError,
    BadVideoError,
    InputNotFoundError,
    InvalidOptionError,
    NoFaceError,
    UserInputError,
)

VIDEO_SUFFIXES = (".mp4", ".mov", ".mkv", ".avi", ".webm")
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp")
MEAD_TEST_ACTORS = ("M003", "M030", "W009", "W015")
HDTF_CLIP_SECONDS = 5.0
LAYOUTS = ("videos", "mead", "hdtf", "ffhq")
FRAMES_CRF = 12
"""H.264 quality of the stored face frames: visually lossless, about a tenth of PNG's size."""
FRAMES_KEYFRAME_INTERVAL = 12
"""A keyframe every 12 frames, so training reads any frame by decoding at most 12."""
_MEAD_EMOTIONS = {"angry": "angry", "contempt": "contempt", "disgusted": "disgusted", "fear": "fear",
                  "happy": "happy", "neutral": "neutral", "sad": "sad", "surprised": "surprised"}  # fmt: skip


@dataclass
class Source:
    """One thing to prepare: a video (or a window of it) or a photo."""

    id: str
    path: str
    actor: str
    emotion: str
    level: int | None
    split: str
    start: float = 0.0
    """Seconds into the video where this clip starts (HDTF's 5-second clips)."""
    duration: float | None = None


@dataclass
class PrepareSummary:
    done: int = 0
    skipped: int = 0
    """Sources that failed this run (corrupt, no face, no audio): recorded, not retried."""
    already: int = 0
    """Sources a previous run had handled (done or failed)."""
    reasons: dict[str, int] | None = None


def _hashed_split(name: str) -> str:
    return "test" if int(hashlib.sha1(name.encode()).hexdigest(), 16) % 10 == 0 else "train"


def _emotion_from_path(path: Path) -> str:
    """An emotion named by one of the folders above a video (``…/happy/clip.mp4``), else "talking"."""
    for part in reversed(path.parts[:-1]):
        if part.lower() in EMOTIONS:
            return part.lower()
    return "talking"


def discover(root: str | os.PathLike[str], layout: str) -> list[Source]:
    """Every source under ``root`` in ``layout`` (see the module doc), sorted, with its labels and split."""
    root = Path(root)
    if layout not in LAYOUTS:
        raise InvalidOptionError(f"unknown layout {layout!r}; choose one of {', '.join(LAYOUTS)}")
    if not root.is_dir():
        raise InputNotFoundError(f"{root}: no such folder")
    suffixes = IMAGE_SUFFIXES if layout == "ffhq" else VIDEO_SUFFIXES
    files = sorted(p for p in root.rglob("*") if p.is_file() and p.suffix.lower() in suffixes)
    sources = []
    for path in files:
        relative = path.relative_to(root)
        name = relative.with_suffix("").as_posix()
        if layout == "mead":
            source = _mead_source(relative, path)
            if source is not None:
                sources.append(source)
        elif layout == "hdtf":
            sources += _hdtf_sources(path, name)
        elif layout == "ffhq":
            sources.append(Source(name, str(path), "", "neutral", None, _hashed_split(name)))
        else:
            actor = relative.parts[0] if len(relative.parts) > 1 else ""
            sources.append(Source(name, str(path), actor, _emotion_from_path(relative), None, _hashed_split(name)))
    return sources


def _mead_source(relative: Path, path: Path) -> Source | None:
    """``<actor>/video/front/<emotion>/level_<n>/<clip>.mp4`` (other views are not used)."""
    parts = relative.parts
    if len(parts) < 6 or parts[1] != "video" or parts[2] != "front" or parts[3] not in _MEAD_EMOTIONS:
        return None
    level = re.fullmatch(r"level_(\d+)", parts[4])
    if level is None:
        return None
    actor = parts[0]
    split = "test" if actor in MEAD_TEST_ACTORS else "train"
    name = f"{actor}_{parts[3]}_{level.group(1)}_{path.stem}"
    return Source(name, str(path), actor, _MEAD_EMOTIONS[parts[3]], int(level.group(1)), split)


def _hdtf_sources(path: Path, name: str) -> list[Source]:
    """A long HDTF video as consecutive 5-second clips (a shorter tail is dropped; a video shorter than 5 s is one
    clip)."""
    import av

    try:
        with av.open(str(path)) as container:
            seconds = float(container.duration or 0) / 1e6
    except (av.FFmpegError, OSError):
        seconds = HDTF_CLIP_SECONDS  # unreadable: one source, which will be counted as failed
    count = max(1, int(seconds // HDTF_CLIP_SECONDS))
    split = _hashed_split(name)
    return [Source(f"{name}_{k:04d}", str(path), name, "talking", None, split, k * HDTF_CLIP_SECONDS,
                   HDTF_CLIP_SECONDS) for k in range(count)]  # fmt: skip


def _manifest(out: Path) -> dict[str, dict]:
    path = out / "manifest.jsonl"
    if not path.is_file():
        return {}
    entries = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.strip():
            entry = json.loads(line)
            entries[entry["id"]] = entry
    return entries


def _append(out: Path, entry: dict) -> None:
    with (out / "manifest.jsonl").open("a", encoding="utf-8") as handle:
        handle.write(json.dumps(entry) + "\n")
        handle.flush()
        os.fsync(handle.fileno())


def prepare(
    root: str | os.PathLike[str],
    out: str | os.PathLike[str],
    layout: str = "videos",
    *,
    fps: float = 25.0,
    crop_size: int = 512,
    jobs: int = 1,
    progress: Callable[[int, int], None] | None = None,
) -> PrepareSummary:
    """Prepare every source under ``root`` into ``out`` (created); returns what was done, skipped and already there.

    ``jobs`` > 1 prepares that many sources at once in worker processes (each with its own face tracker, one torch
    thread); this process alone writes the manifest, as results arrive, so an interrupted run still resumes."""
    out = Path(out)
    sources = discover(root, layout)
    out.mkdir(parents=True, exist_ok=True)
    for folder in ("crops",) if layout == "ffhq" else ("clips", "frames"):
        (out / folder).mkdir(exist_ok=True)
    known = _manifest(out)
    summary = PrepareSummary(reasons={})
    summary.already = sum(source.id in known for source in sources)
    todo = [source for source in sources if source.id not in known]
    finished = summary.already
    if progress is not None:
        progress(finished, len(sources))
    for entry in _run(todo, out, layout, fps, crop_size, jobs):
        if entry["status"] == "done":
            summary.done += 1
        else:
            summary.skipped += 1
            summary.reasons[entry["reason"]] = summary.reasons.get(entry["reason"], 0) + 1
        _append(out, entry)
        finished += 1
        if progress is not None:
            progress(finished, len(sources))
    return summary


def _run(sources: list[Source], out: Path, layout: str, fps: float, crop_size: int, jobs: int) -> Iterator[dict]:
    """Manifest entries of ``sources``, prepared here or by ``jobs`` worker processes (in the order they finish)."""
    tasks = [(source, out, layout, fps, crop_size) for source in sources]
    if jobs <= 1 or len(tasks) <= 1:
        yield from map(_prepare_source, tasks)
        return
    import multiprocessing

    with multiprocessing.get_context("spawn").Pool(min(jobs, len(tasks)), initializer=_single_threaded) as pool:
        yield from pool.imap_unordered(_prepare_source, tasks)


def _single_threaded() -> None:
    torch.set_num_threads(1)


def _prepare_source(task: tuple[Source, Path, str, float, int]) -> dict:
    """One source's manifest entry: prepared, or skipped with the reason (never raises for a bad file)."""
    source, out, layout, fps, crop_size = task
    entry = {**asdict(source), "layout": layout}
    try:
        entry.update(_prepare_photo(source, out, crop_size) if layout == "ffhq" else
                     _prepare_clip(source, out, fps, crop_size))  # fmt: skip
        entry["status"] = "done"
    except (UserInputError, OSError) as error:
        entry.update(status="skipped", reason=_reason(error), error=str(error)[:300])
    return entry


def _reason(error: Exception) -> str:
    """Why a source was skipped, by the kind of error: a bug is not skipped, it stops the run."""
    if isinstance(error, NoFaceError):
        return "no face"
    if isinstance(error, BadAudioError):
        return "no usable audio"
    return "unreadable"


def _prepare_clip(source: Source, out: Path, fps: float, crop_size: int) -> dict:
    from ..audio import prepare_waveform
    from ..face import extract_video
    from ..face.crop import crop_images
    from ..video import read_video, write_mp4
    from .corpus import CoefficientCorpus

    clip = read_video(source.path)
    frames, video_fps, waveform, rate = clip.frames, clip.fps, clip.waveform, clip.sample_rate
    if waveform is None:
        raise BadAudioError(f"{source.path}: the video has no audio track")
    first, count = _frame_range(len(frames), video_fps, source.start, source.duration)
    frames = _resample_frames(frames[first : first + count], video_fps, fps)
    audio = _audio_window(waveform, rate, source.start, source.duration)
    fitted = extract_video(frames, crop_size=crop_size)
    speech = prepare_waveform(audio, rate, name=f"{source.path} audio").numpy()
    corpus = CoefficientCorpus.from_waveforms(
        [(speech, fitted.expression.numpy(), fitted.pose.numpy(), emotion_id(source.emotion), fps)],
        {"source": source.path},
    )
    name = source_file_name(source.id)
    corpus.save(out / "clips" / f"{name}.safetensors")
    crops = (crop_images(torch.from_numpy(frames[i : i + 32]).float() / 255, fitted.crop) for i in
             range(0, len(frames), 32))  # fmt: skip
    write_mp4(out / "frames" / f"{name}.mp4", crops, fps, crf=FRAMES_CRF, keyframe_interval=FRAMES_KEYFRAME_INTERVAL)
    return {"frames": int(fitted.expression.shape[0]), "fps": fps, "missing_frames": len(fitted.missing_frames),
            "size": crop_size, "crop": fitted.crop.to_dict()}  # fmt: skip


def _frame_range(total: int, fps: float, start: float, duration: float | None) -> tuple[int, int]:
    first = int(round(start * fps))
    count = total - first if duration is None else int(round(duration * fps))
    if first >= total or count <= 0:
        raise BadVideoError("the clip lies beyond the end of the video (unreadable)")
    return first, min(count, total - first)


def _resample_frames(frames: np.ndarray, source_fps: float, fps: float) -> np.ndarray:
    """Nearest frames at ``fps`` (training data are at the generator's frame rate)."""
    if abs(source_fps - fps) < 1e-3:
        return frames
    count = max(1, int(round(len(frames) / source_fps * fps)))
    index = np.minimum((np.arange(count) * source_fps / fps).round().astype(int), len(frames) - 1)
    return frames[index]


def _audio_window(waveform: np.ndarray, rate: int, start: float, duration: float | None) -> np.ndarray:
    first = int(round(start * rate))
    last = None if duration is None else first + int(round(duration * rate))
    return waveform[first:last]


def _prepare_photo(source: Source, out: Path, crop_size: int) -> dict:
    from PIL import Image

    from ..face import extract
    from ..face.images import load_image

    image = load_image(source.path)
    face = extract(image, crop_size=crop_size, name=source.path)
    crop = (face.crop_image(image).clamp(0, 1) * 255).round().to(torch.uint8).numpy()
    Image.fromarray(crop).save(out / "crops" / f"{source_file_name(source.id)}.png")
    return {"size": crop_size}


def source_file_name(source_id: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]", "_", source_id)


def prepared_sources(out: str | os.PathLike[str], split: str | None = None) -> Iterator[dict]:
    """The manifest's finished entries (of ``split`` when given)."""
    for entry in _manifest(Path(out)).values():
        if entry.get("status") == "done" and (split is None or entry["split"] == split):
            yield entry


def load_prepared_corpus(out: str | os.PathLike[str], split: str = "train"):
    """All finished clips of ``split`` as one ``CoefficientCorpus`` (what ``train expflow`` consumes)."""
    from .corpus import CoefficientCorpus

    clips = []
    for entry in prepared_sources(out, split):
        clips += CoefficientCorpus.load(Path(out) / "clips" / f"{source_file_name(entry['id'])}.safetensors").clips
    if not clips:
        raise BadFileError(f"{out}: no prepared clips in split {split!r}; run prepare first")
    return CoefficientCorpus(clips, {"source": str(out), "split": split})
