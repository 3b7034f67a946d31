"""ComfyUI AUDIO → mel features, computed once per AUDIO and frame rate.

A blocks workflow hands the same AUDIO to Sample SMM Latent (to count frames), Expression Flow and Pose Flow; each
used to decode and analyse it again. The features of the last few AUDIO inputs are kept, keyed by the waveform
tensor itself (a weak reference, so a freed tensor whose id is reused never matches), its in-place version counter,
the sample rate and the frame rate.
"""

from __future__ import annotations

import weakref
from collections.abc import Mapping
from typing import Any

import torch

from flowvq_core.audio import AudioFeatures, audio_features
from flowvq_core.generator import CoefficientGenerator

CACHED_AUDIO = 4
"""How many AUDIO inputs' features are kept (a minute of speech is about 8 MB of features)."""

_cache: list[tuple[weakref.ref, tuple[int, Any, float], AudioFeatures]] = []


def speech_features(audio: dict[str, Any], generator: CoefficientGenerator) -> AudioFeatures:
    """ComfyUI AUDIO → mel windows at the generator's frame rate (a clear error for silence or bad input)."""
    fps = generator.config.fps
    waveform = audio.get("waveform") if isinstance(audio, Mapping) else None
    if not isinstance(waveform, torch.Tensor):
        return audio_features(audio, fps, name="audio")  # not a ComfyUI AUDIO: let the library say what is wrong
    key = (waveform._version, audio.get("sample_rate"), float(fps))
    for reference, known, features in _cache:
        if reference() is waveform and known == key:
            return features
    features = audio_features(audio, fps, name="audio")
    _cache.insert(0, (weakref.ref(waveform), key, features))
    del _cache[CACHED_AUDIO:]
    return features
