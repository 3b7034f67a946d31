"""Tests of the audio features (flowvq_core.audio) and the per-frame audio encoder (flowvq_core.flows.audio_encoder)."""

from __future__ import annotations

import math
import re
import sys
from fractions import Fraction

import av
import numpy as np
import pytest
import soundfile
import torch
from scipy import signal

from flowvq_core.audio import (
    AudioFeatures,
    audio_features,
    frame_count,
    load_audio,
    log_mel,
    mel_windows,
    prepare_waveform,
)
from flowvq_core.config import AudioConfig
from flowvq_core.flows.audio_encoder import AudioEncoder

SR = 16000


def tone(freq: float, seconds: float, sr: int = SR, amplitude: float = 0.5) -> np.ndarray:
    t = np.arange(round(seconds * sr)) / sr
    return (amplitude * np.sin(2 * np.pi * freq * t)).astype(np.float32)


def slaney_centres(n_mels: int = 80, fmin: float = 55.0, fmax: float = 7600.0) -> np.ndarray:
    """Centre frequencies of the Slaney mel filters, from the published formula (linear < 1 kHz, log above)."""
    f_sp, log_step = 200.0 / 3, math.log(6.4) / 27

    def to_mel(hz: float) -> float:
        return hz / f_sp if hz < 1000 else 15.0 + math.log(hz / 1000) / log_step

    def to_hz(mel: float) -> float:
        return mel * f_sp if mel < 15.0 else 1000 * math.exp((mel - 15.0) * log_step)

    edges = [to_hz(m) for m in np.linspace(to_mel(fmin), to_mel(fmax), n_mels + 2)]
    return np.array(edges[1:-1])


def peak_bin(mel: torch.Tensor) -> int:
    return int(mel.mean(dim=1).argmax())


def expected_bin(freq: float) -> int:
    return int(np.abs(slaney_centres() - freq).argmin())


# --- log-mel ---------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("freq", [1000.0, 3000.0])
def test_tone_peaks_in_nearest_slaney_bin(freq: float) -> None:
    mel = log_mel(torch.from_numpy(tone(freq, 1.0)))
    assert mel.shape == (80, 1 + SR // 200)
    assert mel.dtype == torch.float32
    assert peak_bin(mel) == expected_bin(freq)


def test_range_and_silence_is_minus_four() -> None:
    silence = np.zeros(SR // 2, dtype=np.float32)
    x = np.concatenate([silence, tone(1000.0, 0.5, amplitude=0.9), silence])
    mel = log_mel(torch.from_numpy(x))
    assert mel.min() >= -4.0 and mel.max() <= 4.0
    assert mel.max() > 0.0  # the tone is loud
    # mel frame m is centred on sample 200·m and sees samples ±400 around it
    tone_start, tone_end = SR // 2, SR
    silent = [m for m in range(mel.shape[1]) if 200 * m + 400 <= tone_start or 200 * m - 400 >= tone_end + 1]
    assert len(silent) > 60
    assert torch.all(mel[:, silent] == -4.0)
    assert torch.all(mel[:, 40 + 3 : 80 - 3].max(dim=0).values > 0)  # every frame inside the tone has energy


# --- frame counts and alignment ---------------------------------------------------------------------------------


@pytest.mark.parametrize("seconds", [2.0, 1.37, 3.01])
@pytest.mark.parametrize("fps", [24.0, 25.0, 30.0, 29.97])
def test_frame_counts(seconds: float, fps: float) -> None:
    x = np.random.default_rng(0).normal(0, 0.1, round(seconds * SR)).astype(np.float32)
    features = audio_features((x, SR), fps)
    assert isinstance(features, AudioFeatures)
    assert features.windows.shape == (round(seconds * fps), 80, 16)
    assert features.num_frames == round(seconds * fps) == frame_count(x.size, SR, fps)
    assert features.duration == pytest.approx(seconds, abs=1 / SR)
    assert features.fps == fps
    assert features.windows.min() >= -4.0 and features.windows.max() <= 4.0


@pytest.mark.parametrize(
    ("fps", "frame", "offset"), [(25.0, 20, 0.5), (25.0, 31, 0.3), (30.0, 20, 0.7), (24.0, 7, 0.4)]
)
def test_burst_lands_in_the_window_of_its_frame(fps: float, frame: int, offset: float) -> None:
    seconds = 2.0
    x = np.random.default_rng(1).normal(0, 1e-3, round(seconds * SR)).astype(np.float32)  # faint noise floor
    t0 = (frame + offset) / fps
    burst = np.random.default_rng(2).normal(0, 0.5, 80).astype(np.float32)  # 5 ms of loud noise at t0
    start = round(t0 * SR) - 40
    x[start : start + 80] += burst
    windows = audio_features((x, SR), fps).windows
    centre = windows[:, :, 7:9].mean(dim=(1, 2))  # the two columns around each window's centre time
    assert int(centre.argmax()) == math.floor(t0 * fps) == frame
    # and the burst is visible somewhere in the windows of the two neighbouring frames, but off-centre
    for neighbour in (frame - 1, frame + 1):
        assert windows[neighbour].mean(dim=0).max() > centre[neighbour]


def test_window_mapping_is_by_time() -> None:
    """A mel whose column m holds the value m shows exactly which mel frames each window picks."""
    config = AudioConfig()
    mel = torch.arange(50, dtype=torch.float32).expand(80, 50)
    fps = 20.0  # 4 mel frames per video frame: frame t is centred on mel frame 4t + 2
    windows = mel_windows(mel, 13, fps, config)
    for t in (0, 5, 12):
        expected = torch.arange(4 * t + 2 - 8, 4 * t + 2 + 8, dtype=torch.float32)
        expected[(expected < 0) | (expected >= 50)] = -4.0
        assert torch.equal(windows[t, 0], expected)
        assert torch.equal(windows[t, 79], expected)


# --- channels, resampling, loading --------------------------------------------------------------------------------


def test_stereo_44k_file_is_mixed_and_resampled(tmp_path) -> None:
    sr, seconds = 44100, 1.37
    left = tone(1000.0, seconds, sr)
    right = tone(1000.0, seconds, sr, amplitude=0.1)
    path = tmp_path / "stereo.wav"
    soundfile.write(path, np.stack([left, right], axis=1), sr)
    waveform = load_audio(path)
    assert waveform.dtype == torch.float32 and waveform.ndim == 1
    assert abs(waveform.numel() - seconds * SR) <= 1
    assert waveform.abs().max() == pytest.approx(0.3, abs=0.01)  # the channel mean
    assert peak_bin(log_mel(waveform)) == expected_bin(1000.0)


def test_scipy_fallback_without_torchaudio(monkeypatch) -> None:
    calls = []
    original = signal.resample_poly

    def spy(*args, **kwargs):
        calls.append(args[1:])
        return original(*args, **kwargs)

    for module in ["torchaudio", *[m for m in sys.modules if m.startswith("torchaudio.")]]:
        monkeypatch.setitem(sys.modules, module, None)  # makes `import torchaudio...` raise ImportError
    monkeypatch.setattr(signal, "resample_poly", spy)
    sr, seconds = 44100, 1.37
    waveform = prepare_waveform(np.stack([tone(3000.0, seconds, sr)] * 2), sr)
    assert calls == [(160, 441)]
    assert waveform.dtype == torch.float32
    assert abs(waveform.numel() - seconds * SR) <= 1
    assert peak_bin(log_mel(waveform)) == expected_bin(3000.0)


@pytest.mark.parametrize("suffix", [".wav", ".flac"])
def test_load_soundfile_formats(tmp_path, suffix: str) -> None:
    x = tone(1000.0, 0.8)
    path = tmp_path / f"speech{suffix}"
    soundfile.write(path, x, SR)
    waveform = load_audio(str(path))
    assert waveform.shape == (x.size,)
    assert torch.allclose(waveform, torch.from_numpy(x), atol=1e-4)  # both are 16-bit PCM on disk


def test_load_m4a_with_pyav(tmp_path) -> None:
    sr, seconds = 22050, 1.0
    x = tone(1000.0, seconds, sr, amplitude=0.3)
    path = tmp_path / "speech.m4a"
    with av.open(str(path), "w") as container:
        stream = container.add_stream("aac", rate=sr, layout="mono")
        frame = av.AudioFrame.from_ndarray(x[None], format="fltp", layout="mono")
        frame.sample_rate, frame.pts, frame.time_base = sr, 0, Fraction(1, sr)  # lets the muxer record the delay
        for packet in [*stream.encode(frame), *stream.encode(None)]:
            container.mux(packet)
    waveform = load_audio(path)
    assert waveform.numel() == seconds * SR  # the AAC priming and end padding are trimmed
    onset = int(np.argmax(waveform.abs().numpy() > 0.05))
    assert onset < 0.002 * SR  # no encoder delay: the tone starts where it did
    assert waveform.abs().max() == pytest.approx(0.3, rel=0.1)
    assert peak_bin(log_mel(waveform)) == expected_bin(1000.0)


def test_comfy_audio_dict() -> None:
    x = torch.from_numpy(tone(1000.0, 1.0, 48000))
    batch = torch.stack([torch.stack([x, -x * 0.5]), torch.zeros(2, x.numel())])  # [2, 2, S]; item 0 is used
    waveform = load_audio({"waveform": batch[:1], "sample_rate": 48000})
    assert abs(waveform.numel() - SR) <= 1
    assert waveform.abs().max() == pytest.approx(0.125, abs=0.01)  # mean of x and -x/2
    assert torch.equal(load_audio({"waveform": batch, "sample_rate": 48000}), waveform)
    features = audio_features({"waveform": batch[:1], "sample_rate": 48000}, 25.0)
    assert features.windows.shape == (25, 80, 16)


def test_int16_tuple() -> None:
    x = tone(1000.0, 0.5)
    pcm = np.round(x * 32767).astype(np.int16)
    waveform = load_audio((pcm, SR))
    assert torch.allclose(waveform, torch.from_numpy(x), atol=1e-4)
    assert torch.allclose(load_audio((torch.from_numpy(pcm)[None], SR)), waveform)


# --- bad input ------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("samples", "sample_rate", "problem"),
    [
        (np.zeros(0, dtype=np.float32), SR, "empty"),
        (np.zeros(SR, dtype=np.float32), SR, "silent"),
        (np.full(SR, np.nan, dtype=np.float32), SR, "NaN"),
        (np.where(np.arange(SR) == 5, np.inf, 0.1).astype(np.float32), SR, "infinite"),
        (tone(1000.0, 0.01), SR, "less than one video frame"),
        (tone(1000.0, 1.0), 0, "sample_rate"),
        (tone(1000.0, 1.0), -16000, "sample_rate"),
        (np.ones((2, 2, 100), dtype=np.float32), SR, "shape"),
        (np.ones((SR, 2), dtype=np.float32), SR, "transpose"),
        (np.ones(SR, dtype=bool), SR, "dtype"),
    ],
)
def test_bad_waveforms_name_the_input(samples: np.ndarray, sample_rate: int, problem: str) -> None:
    with pytest.raises(ValueError, match=rf"narration\.wav.*{problem}"):
        audio_features((samples, sample_rate), 25.0, name="narration.wav")


def test_missing_file(tmp_path) -> None:
    path = tmp_path / "nowhere.wav"
    with pytest.raises(FileNotFoundError, match=rf"{re.escape(str(path))}.*not found"):
        load_audio(path)


def test_corrupt_file(tmp_path) -> None:
    path = tmp_path / "x.wav"
    path.write_bytes(np.random.default_rng(3).bytes(4096))
    with pytest.raises(ValueError, match=re.escape(str(path))):
        audio_features(str(path))


def test_silent_file_names_the_path(tmp_path) -> None:
    path = tmp_path / "quiet.flac"
    soundfile.write(path, np.zeros(SR, dtype=np.float32), SR)
    with pytest.raises(ValueError, match=rf"{re.escape(str(path))}.*silent"):
        load_audio(path)


# --- encoder ----------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("kwargs", "dim"), [({}, 512), ({"channels": (8, 16, 16, 32), "out_dim": 32}, 32)])
def test_encoder_shapes(kwargs: dict, dim: int) -> None:
    encoder = AudioEncoder(**kwargs)
    assert encoder(torch.randn(3, 80, 16)).shape == (3, dim)
    assert encoder(torch.randn(1, 80, 16)).shape == (1, dim)  # training mode with a batch of one
    encoder.eval()
    assert encoder(torch.randn(1, 80, 16)).shape == (1, dim)


def test_encoder_float64_and_gradients() -> None:
    encoder = AudioEncoder(channels=(8, 16, 16, 32), out_dim=32).double()
    out = encoder(torch.randn(2, 80, 16, dtype=torch.float64))
    assert out.dtype == torch.float64
    out.square().sum().backward()
    first = encoder.features[0].conv.weight
    assert first.grad is not None and first.grad.abs().sum() > 0


def test_encoder_other_sizes_and_bad_shape() -> None:
    small = AudioEncoder(channels=(4, 4, 4, 4), out_dim=8, n_mels=40, window_frames=8)
    assert small(torch.randn(2, 40, 8)).shape == (2, 8)
    with pytest.raises(ValueError, match="40, 8"):
        small(torch.randn(2, 80, 16))
