"""Video files with PyAV: write H.264 + AAC MP4s frame chunk by frame chunk, read clips back (frames, fps, audio)."""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import numpy as np
import torch

from .errors import BadVideoError, InputNotFoundError
from .files import atomic_write

VIDEO_CODEC = "libx264"
AUDIO_CODEC = "aac"
AUDIO_RATE = 48000
"""AAC at 48 kHz: what players expect; the 16 kHz model audio is resampled by PyAV's resampler."""


@dataclass
class VideoClip:
    """Decoded frames of a video with its audio track (when it has one)."""

    frames: np.ndarray
    """[T, H, W, 3] uint8 RGB."""
    fps: float
    waveform: np.ndarray | None
    """[S] float32 mono, or None for a silent video."""
    sample_rate: int | None


def _fps_fraction(fps: float) -> Fraction:
    """29.97 → 30000/1001 and other NTSC rates exactly; anything else to a millisecond."""
    for base in (24, 30, 60):
        if abs(fps - base * 1000 / 1001) < 1e-3:
            return Fraction(base * 1000, 1001)
    return Fraction(fps).limit_denominator(1000)


def _as_uint8(frames: torch.Tensor | np.ndarray) -> np.ndarray:
    """[N, H, W, 3] float 0..1 or uint8 → C-contiguous uint8 numpy.

    Float tensors are scaled in their own memory order (the renderer's frames are channels-first underneath) and
    converted and interleaved into RGB in one parallel copy.
    """
    if isinstance(frames, torch.Tensor):
        frames = frames.detach().cpu()
        if frames.dtype != torch.uint8:
            scaled = frames.permute(0, 3, 1, 2).float().mul(255).add_(0.5).clamp_(0, 255)
            packed = torch.empty(frames.shape, dtype=torch.uint8)
            packed.permute(0, 3, 1, 2).copy_(scaled)  # one parallel pass converts and interleaves the channels
            frames = packed
        return np.ascontiguousarray(frames.numpy())
    if frames.dtype == np.uint8:
        return np.ascontiguousarray(frames)
    return (np.clip(frames, 0, 1) * 255).round().astype(np.uint8)


def write_mp4(
    path: str | os.PathLike[str],
    frame_chunks: Iterable[torch.Tensor | np.ndarray],
    fps: float,
    waveform: torch.Tensor | np.ndarray | None = None,
    sample_rate: int = 16000,
    *,
    crf: int = 18,
    preset: str = "ultrafast",
    keyframe_interval: int | None = None,
) -> int:
    """Encode chunks of frames ([N, H, W, 3], float 0..1 or uint8) and an optional mono waveform to an MP4.

    Frames are consumed as they come, so a long video never sits in memory. Odd widths or heights are padded by
    one edge pixel (H.264 in yuv420p needs even sizes). The file appears only when complete. Returns the frame count.
    ``keyframe_interval`` makes every n-th frame a keyframe, so :func:`read_frames` reaches any frame quickly.
    """
    import av

    written = 0

    def encode(temporary: str) -> None:
        nonlocal written
        with av.open(temporary, mode="w", format="mp4") as container:
            video = container.add_stream(VIDEO_CODEC, rate=_fps_fraction(fps))
            video.pix_fmt = "yuv420p"
            video.options = {"crf": str(crf), "preset": preset}
            if keyframe_interval:
                video.options |= {"g": str(keyframe_interval), "keyint_min": str(keyframe_interval)}
            audio = None
            if waveform is not None:
                audio = container.add_stream(AUDIO_CODEC, rate=AUDIO_RATE)
                audio.layout = "mono"
            for chunk in frame_chunks:
                pixels = _as_uint8(chunk)
                if written == 0:
                    video.height = pixels.shape[1] + pixels.shape[1] % 2
                    video.width = pixels.shape[2] + pixels.shape[2] % 2
                pad = ((0, 0), (0, video.height - pixels.shape[1]), (0, video.width - pixels.shape[2]), (0, 0))
                pixels = np.pad(pixels, pad, mode="edge") if any(p[1] for p in pad) else pixels
                for frame in pixels:
                    container.mux(video.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")))
                    written += 1
            if written == 0:
                raise ValueError(f"{path}: no frames to write")
            container.mux(video.encode())
            if audio is not None:
                _encode_audio(container, audio, waveform, sample_rate)

    atomic_write(path, encode)
    return written


def _encode_audio(container, stream, waveform: torch.Tensor | np.ndarray, sample_rate: int) -> None:
    import av

    samples = waveform.detach().cpu().numpy() if isinstance(waveform, torch.Tensor) else np.asarray(waveform)
    samples = np.clip(samples.astype(np.float32), -1, 1)
    resampler = av.AudioResampler(format="fltp", layout="mono", rate=AUDIO_RATE)
    block = sample_rate  # one second per frame handed to the resampler
    for start in range(0, len(samples), block):
        frame = av.AudioFrame.from_ndarray(samples[None, start : start + block], format="flt", layout="mono")
        frame.sample_rate = sample_rate
        for resampled in resampler.resample(frame):
            container.mux(stream.encode(resampled))
    for resampled in resampler.resample(None):
        container.mux(stream.encode(resampled))
    container.mux(stream.encode())


def read_video(path: str | os.PathLike[str], *, max_frames: int | None = None) -> VideoClip:
    """Decode a video file's frames (RGB uint8) and its first audio track (mono float32), with clear errors."""
    import av

    path = Path(path)
    if not path.is_file():
        raise InputNotFoundError(f"video {path}: no such file")
    try:
        with av.open(str(path)) as container:
            if not container.streams.video:
                raise BadVideoError(f"video {path}: the file has no video stream")
            stream = container.streams.video[0]
            fps = float(stream.average_rate or stream.guessed_rate or 25)
            frames = []
            for frame in container.decode(stream):
                frames.append(frame.to_ndarray(format="rgb24"))
                if max_frames is not None and len(frames) >= max_frames:
                    break
        waveform, rate = _read_audio_track(path)
    except av.FFmpegError as error:
        raise BadVideoError(f"video {path}: cannot be decoded ({error}); convert it to MP4 (H.264) first") from error
    if not frames:
        raise BadVideoError(f"video {path}: no frames could be decoded")
    return VideoClip(np.stack(frames), fps, waveform, rate)


def read_frames(path: str | os.PathLike[str], indices: Iterable[int]) -> np.ndarray:
    """Frames ``indices`` (0-based) of a video [N, H, W, 3] uint8, in the order given, decoding from the keyframe
    before each rather than from the start (fast when the file has frequent keyframes)."""
    import av

    wanted = list(indices)
    found: dict[int, np.ndarray] = {}
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        rate = stream.average_rate or stream.guessed_rate or 25
        ticks = 1 / (rate * stream.time_base)  # time-base ticks per frame
        for index in sorted(set(wanted)):
            if index in found:
                continue
            container.seek(int(index * ticks) + (stream.start_time or 0), stream=stream, backward=True)
            for frame in container.decode(stream):
                number = round(((frame.pts or 0) - (stream.start_time or 0)) / ticks)
                if number in wanted and number not in found:
                    found[number] = frame.to_ndarray(format="rgb24")
                if number >= index:
                    break
    missing = [index for index in wanted if index not in found]
    if missing:
        raise BadVideoError(f"video {path}: frames {missing[:5]} are beyond its end")
    return np.stack([found[index] for index in wanted])


def _read_audio_track(path: Path) -> tuple[np.ndarray | None, int | None]:
    import av

    with av.open(str(path)) as container:
        if not container.streams.audio:
            return None, None
        stream = container.streams.audio[0]
        resampler = av.AudioResampler(format="flt", layout="mono", rate=stream.rate)
        chunks = [
            resampled.to_ndarray().reshape(-1)
            for frame in container.decode(stream)
            for resampled in resampler.resample(frame)
        ]
    if not chunks:
        return None, None
    return np.concatenate(chunks).astype(np.float32), int(stream.rate)
