"""Audio loading and Wav2Lip-style log-mel features, one mel window per video frame.

Any source (a file, a ComfyUI AUDIO dict, an array with its sample rate) becomes a mono float32 waveform at
``AudioConfig.sample_rate``; its log-mel spectrogram (80 mel frames per second, values in [-4, 4]) is then cut into
one ``[n_mels, window_frames]`` window per video frame, chosen by time so that any frame rate works.
"""

from __future__ import annotations

import functools
import math
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from scipy import signal

from .config import AudioConfig
from .errors import BadAudioError, InputNotFoundError, InvalidOptionError

_DEFAULT_CONFIG = AudioConfig()  # frozen, so one shared default instance is safe

_MAX_CODEC_PADDING = 4096
"""Decoded samples beyond the stream's stated duration are cut when there are at most this many (codec padding)."""

SILENCE_PEAK = 1e-4
"""A waveform whose peak |sample| is below this is treated as silent (and rejected)."""

AudioSource = str | os.PathLike | Mapping[str, Any] | tuple[Any, int]
"""A file path, a ComfyUI AUDIO dict ``{"waveform": [B, C, S], "sample_rate": int}``, or ``(array, sample_rate)``."""


@dataclass(frozen=True, eq=False)
class AudioFeatures:
    """The waveform of a clip and its per-video-frame mel windows."""

    waveform: torch.Tensor
    """[S] float32 mono at ``sample_rate``."""
    windows: torch.Tensor
    """[T, n_mels, window_frames] float32 in [-max_abs_value, max_abs_value], one window per video frame."""
    fps: float
    sample_rate: int = AudioConfig.sample_rate

    @property
    def num_frames(self) -> int:
        return int(self.windows.shape[0])

    @property
    def duration(self) -> float:
        """Length of the waveform in seconds."""
        return self.waveform.numel() / self.sample_rate


def load_audio(source: AudioSource, *, name: str | None = None, config: AudioConfig = _DEFAULT_CONFIG) -> torch.Tensor:
    """Load any supported source as a mono float32 waveform ``[S]`` at ``config.sample_rate``.

    A path is read with soundfile (WAV, FLAC, OGG, MP3, ...) and, for what soundfile cannot read (M4A/AAC, ...),
    with PyAV. A ComfyUI AUDIO dict uses batch item 0 only (a batch of clips is not mixed or concatenated).
    A tuple is ``(array_or_tensor, sample_rate)`` with the array ``[S]`` or ``[C, S]``.
    ``name`` is how errors refer to the input (default: the file path, else "audio").
    """
    label = _label(source, name)
    if isinstance(source, str | os.PathLike):
        waveform, sample_rate = _read_file(Path(source), label)
    elif isinstance(source, Mapping):
        waveform, sample_rate = _unpack_comfy_audio(source, label)
    elif isinstance(source, tuple) and len(source) == 2:
        waveform, sample_rate = source
    else:
        raise BadAudioError(
            f"{label}: unsupported audio source of type {type(source).__name__}; pass a file path, a ComfyUI AUDIO "
            "dict or a (waveform, sample_rate) tuple"
        )
    return prepare_waveform(waveform, sample_rate, name=label, config=config)


def prepare_waveform(
    waveform: Any, sample_rate: int, *, name: str = "audio", config: AudioConfig = _DEFAULT_CONFIG
) -> torch.Tensor:
    """Validate a ``[S]`` or ``[C, S]`` float/integer waveform and return it mono (channel mean) at the config rate.

    Integer samples are scaled to [-1, 1) by their full range (int16 by 1/32768). Raises ``ValueError`` naming
    ``name`` for a bad rate or shape, an empty waveform, NaN/inf samples or silence.
    """
    if isinstance(sample_rate, bool) or not isinstance(sample_rate, int | float | np.integer | np.floating):
        raise BadAudioError(f"{name}: sample_rate must be a positive integer, got {sample_rate!r}")
    if not (math.isfinite(sample_rate) and sample_rate > 0 and float(sample_rate).is_integer()):
        raise BadAudioError(f"{name}: sample_rate must be a positive integer, got {sample_rate!r}")
    samples = _to_float_array(waveform, name)
    if samples.ndim == 2:
        if samples.shape[0] > samples.shape[1]:
            raise BadAudioError(
                f"{name}: waveform of shape {tuple(samples.shape)} has more channels than samples; "
                "pass it as [channels, samples] (transpose it)"
            )
        samples = samples.mean(axis=0)
    elif samples.ndim != 1:
        raise BadAudioError(
            f"{name}: expected a waveform of shape [samples] or [channels, samples], got {samples.shape}"
        )
    if samples.size == 0:
        raise BadAudioError(f"{name}: the waveform is empty; give audio that contains speech")
    if not np.isfinite(samples).all():
        raise BadAudioError(f"{name}: the waveform contains NaN or infinite samples; check how it was produced")
    if np.abs(samples).max() < SILENCE_PEAK:
        raise BadAudioError(
            f"{name}: the audio is silent (peak below {SILENCE_PEAK:g}); give audio that contains speech"
        )
    return _resample(samples.astype(np.float32), int(sample_rate), config.sample_rate)


def log_mel(waveform: torch.Tensor, config: AudioConfig = _DEFAULT_CONFIG) -> torch.Tensor:
    """Wav2Lip log-mel spectrogram ``[n_mels, M]`` (M = 1 + S // hop) of a mono waveform at the config rate.

    Pre-emphasis, |STFT| with a periodic Hann window and centred reflect padding (librosa's default), Slaney mel
    filterbank, dB relative to ``ref_level_db`` and a clipped linear map of [min_level_db, 0] dB to [-max, max].
    """
    if waveform.ndim != 1 or waveform.numel() == 0:
        raise ValueError(f"log_mel expects a non-empty mono waveform [S], got shape {tuple(waveform.shape)}")
    x = waveform.detach().cpu().double().numpy()
    y = np.empty_like(x)
    y[0] = x[0]
    y[1:] = x[1:] - config.preemphasis * x[:-1]
    pad = config.n_fft // 2
    y = np.pad(y, pad, mode="reflect")  # numpy reflects repeatedly, so clips shorter than the pad work too
    spec = torch.stft(
        torch.from_numpy(y),
        n_fft=config.n_fft,
        hop_length=config.hop_length,
        win_length=config.win_length,
        window=torch.hann_window(config.win_length, periodic=True, dtype=torch.float64),
        center=False,
        return_complex=True,
    ).abs()
    mel = _mel_basis(config) @ spec
    db = 20.0 * torch.log10(mel.clamp_min(1e-5)) - config.ref_level_db
    m = config.max_abs_value
    normalized = 2.0 * m * (db - config.min_level_db) / (-config.min_level_db) - m
    return normalized.clamp(-m, m).float()


def frame_count(num_samples: int, sample_rate: int, fps: float) -> int:
    """Number of video frames covering ``num_samples``: duration × fps rounded half up."""
    return math.floor(num_samples * fps / sample_rate + 0.5)


ENERGY_RANGE_DB = 50.0
"""Speech energy maps [peak − this, peak] dB to [0, 1]."""


def speech_energy(waveform: np.ndarray, sample_rate: int, num_frames: int, fps: float) -> np.ndarray:
    """[num_frames] RMS energy in dB per frame window, normalised to [0, 1] (1 = the loudest frame).

    Frame t's window is centred at ``(t + 0.5) / fps`` and lasts one frame (at least 30 ms).
    """
    energy = np.zeros(num_frames)
    if num_frames == 0 or len(waveform) == 0:
        return energy
    squared = np.concatenate([[0.0], np.cumsum(np.asarray(waveform, dtype=np.float64) ** 2)])
    half = 0.5 * max(1.0 / fps, 0.03) * sample_rate
    centres = (np.arange(num_frames) + 0.5) / fps * sample_rate
    starts = np.clip(np.round(centres - half).astype(int), 0, len(waveform))
    ends = np.clip(np.round(centres + half).astype(int), 0, len(waveform))
    mean_square = (squared[ends] - squared[starts]) / np.maximum(ends - starts, 1)
    decibels = 10.0 * np.log10(mean_square + 1e-12)
    if mean_square.max() <= 0.0:
        return energy
    return np.clip((decibels - decibels.max()) / ENERGY_RANGE_DB + 1.0, 0.0, 1.0)


def mel_windows(mel: torch.Tensor, num_frames: int, fps: float, config: AudioConfig = _DEFAULT_CONFIG) -> torch.Tensor:
    """Cut ``[n_mels, M]`` into ``[num_frames, n_mels, window_frames]``, the window of frame t centred at its mid time.

    Window t starts at mel frame ``round((t + 0.5) / fps * mel_fps) - window_frames // 2`` (round half up);
    columns outside the mel are silence (``-max_abs_value``).
    """
    if mel.ndim != 2 or mel.shape[0] != config.n_mels or mel.shape[1] == 0:
        raise ValueError(f"mel_windows expects a mel of shape [{config.n_mels}, M >= 1], got {tuple(mel.shape)}")
    if num_frames < 0 or not (math.isfinite(fps) and fps > 0):
        raise ValueError(f"mel_windows needs num_frames >= 0 and a positive fps, got {num_frames} and {fps}")
    mid = (torch.arange(num_frames, dtype=torch.float64) + 0.5) * (config.mel_frames_per_second / fps)
    start = torch.floor(mid + 0.5).long() - config.window_frames // 2
    index = start[:, None] + torch.arange(config.window_frames)  # [T, W]
    inside = (index >= 0) & (index < mel.shape[1])
    gathered = mel[:, index.clamp(0, mel.shape[1] - 1)]  # [n_mels, T, W]
    windows = torch.where(inside, gathered, -config.max_abs_value)
    return windows.permute(1, 0, 2).contiguous()


def audio_features(
    source: AudioSource, fps: float = 25.0, *, name: str | None = None, config: AudioConfig = _DEFAULT_CONFIG
) -> AudioFeatures:
    """Load ``source`` (see :func:`load_audio`) and compute one mel window per video frame at ``fps``."""
    label = _label(source, name)
    if isinstance(fps, bool) or not isinstance(fps, int | float) or not (math.isfinite(fps) and fps > 0):
        raise InvalidOptionError(f"{label}: fps must be a positive number, got {fps!r}")
    waveform = load_audio(source, name=label, config=config)
    num_frames = frame_count(waveform.numel(), config.sample_rate, fps)
    if num_frames < 1:
        raise BadAudioError(
            f"{label}: the audio lasts {waveform.numel() / config.sample_rate:.3f} s, less than one video frame at "
            f"{fps:g} fps; give a longer clip"
        )
    windows = mel_windows(log_mel(waveform, config), num_frames, fps, config)
    return AudioFeatures(waveform=waveform, windows=windows, fps=float(fps), sample_rate=config.sample_rate)


def _label(source: Any, name: str | None) -> str:
    if name is not None:
        return name
    if isinstance(source, str | os.PathLike):
        return os.fspath(source)
    return "audio"


def _read_file(path: Path, label: str) -> tuple[np.ndarray, int]:
    """Decode a file to ``[C, S]`` float32 and its rate: soundfile first, PyAV for formats libsndfile lacks."""
    import soundfile  # imported on use: decoding files is the only thing that needs libsndfile

    if not path.is_file():
        raise InputNotFoundError(f"{label}: audio file not found; check the path")
    try:
        data, sample_rate = soundfile.read(path, dtype="float32", always_2d=True)
        return data.T, sample_rate
    except (soundfile.SoundFileError, RuntimeError):
        return _read_with_av(path, label)


def _read_with_av(path: Path, label: str) -> tuple[np.ndarray, int]:
    import av

    chunks: list[np.ndarray] = []
    try:
        with av.open(str(path)) as container:
            if not container.streams.audio:
                raise BadAudioError(f"{label}: the file has no audio stream; give an audio file")
            stream = container.streams.audio[0]
            sample_rate = stream.codec_context.sample_rate
            to_planar = av.AudioResampler(format="fltp")  # keeps layout and rate; gives [C, n] float32 per frame
            for frame in container.decode(stream):
                chunks += [out.to_ndarray() for out in to_planar.resample(frame)]
            chunks += [out.to_ndarray() for out in to_planar.resample(None)]
            length = round(stream.duration * stream.time_base * sample_rate) if stream.duration else None
    except (av.FFmpegError, OSError) as error:
        raise BadAudioError(
            f"{label}: cannot decode the audio file ({error}); it may be corrupt or in an unsupported format, "
            "convert it to WAV"
        ) from error
    if not chunks:
        raise BadAudioError(f"{label}: the file holds no audio samples; give audio that contains speech")
    samples = np.concatenate(chunks, axis=1)
    if length is not None and 0 < samples.shape[1] - length <= _MAX_CODEC_PADDING:
        samples = samples[:, :length]  # drop the encoder's end padding (AAC pads its last frame)
    return samples, sample_rate


def _unpack_comfy_audio(audio: Mapping[str, Any], label: str) -> tuple[Any, Any]:
    if "waveform" not in audio or "sample_rate" not in audio:
        raise BadAudioError(f"{label}: an AUDIO dict needs the keys 'waveform' and 'sample_rate'")
    waveform = audio["waveform"]
    if getattr(waveform, "ndim", None) != 3:
        raise BadAudioError(
            f"{label}: an AUDIO waveform must have shape [batch, channels, samples], got "
            f"{tuple(getattr(waveform, 'shape', ()))}"
        )
    if waveform.shape[0] == 0:
        raise BadAudioError(f"{label}: the AUDIO batch is empty; give audio that contains speech")
    return waveform[0], audio["sample_rate"]


def _to_float_array(waveform: Any, name: str) -> np.ndarray:
    """Samples as a float32 numpy array; integers scaled by their full range."""
    if isinstance(waveform, torch.Tensor):
        waveform = waveform.detach().cpu()
        if waveform.is_floating_point():
            waveform = waveform.float()
    samples = np.asarray(waveform)
    kind = samples.dtype.kind
    if kind == "f":
        return samples.astype(np.float32, copy=False)
    if kind == "i":
        return samples.astype(np.float32) / float(2 ** (8 * samples.dtype.itemsize - 1))
    if kind == "u":
        mid = float(2 ** (8 * samples.dtype.itemsize - 1))
        return (samples.astype(np.float32) - mid) / mid
    raise BadAudioError(f"{name}: waveform samples must be float or integer, got dtype {samples.dtype}")


def _resample(samples: np.ndarray, source_rate: int, target_rate: int) -> torch.Tensor:
    """Resample float32 ``[S]`` with torchaudio when it is installed, else ``scipy.signal.resample_poly``."""
    waveform = torch.from_numpy(np.ascontiguousarray(samples))
    if source_rate == target_rate:
        return waveform
    try:
        from torchaudio.functional import resample
    except (ImportError, OSError):
        g = math.gcd(source_rate, target_rate)
        out = signal.resample_poly(samples, target_rate // g, source_rate // g)
        return torch.from_numpy(np.ascontiguousarray(out, dtype=np.float32))
    return resample(waveform, source_rate, target_rate).contiguous()


@functools.lru_cache(maxsize=8)
def _mel_basis(config: AudioConfig) -> torch.Tensor:
    """Slaney-scale, Slaney-normalised triangular filterbank ``[n_mels, 1 + n_fft // 2]`` (librosa.filters.mel)."""
    fft_freqs = np.linspace(0.0, config.sample_rate / 2, 1 + config.n_fft // 2)
    edges = _mel_to_hz(np.linspace(_hz_to_mel(config.fmin), _hz_to_mel(config.fmax), config.n_mels + 2))
    widths = np.diff(edges)
    ramps = edges[:, None] - fft_freqs[None, :]
    lower = -ramps[:-2] / widths[:-1, None]
    upper = ramps[2:] / widths[1:, None]
    weights = np.maximum(0.0, np.minimum(lower, upper))
    weights *= (2.0 / (edges[2:] - edges[:-2]))[:, None]  # equal area per filter
    return torch.from_numpy(weights)


_F_SP = 200.0 / 3  # Slaney: linear below 1 kHz at 200/3 Hz per mel, logarithmic above
_MIN_LOG_HZ = 1000.0
_MIN_LOG_MEL = _MIN_LOG_HZ / _F_SP
_LOG_STEP = math.log(6.4) / 27.0


def _hz_to_mel(hz: float | np.ndarray) -> np.ndarray:
    hz = np.asarray(hz, dtype=np.float64)
    linear = hz / _F_SP
    log = _MIN_LOG_MEL + np.log(np.maximum(hz, _MIN_LOG_HZ) / _MIN_LOG_HZ) / _LOG_STEP
    return np.where(hz >= _MIN_LOG_HZ, log, linear)


def _mel_to_hz(mel: np.ndarray) -> np.ndarray:
    mel = np.asarray(mel, dtype=np.float64)
    linear = _F_SP * mel
    log = _MIN_LOG_HZ * np.exp(_LOG_STEP * (np.maximum(mel, _MIN_LOG_MEL) - _MIN_LOG_MEL))
    return np.where(mel >= _MIN_LOG_MEL, log, linear)
