"""Phonemes → visemes → mouth-unit curves with coarticulation.

Each espeak phoneme mnemonic maps to a viseme class (our grouping after the usual visual-phonetics classes:
bilabial, labiodental, dental, alveolar, sibilant, postalveolar, velar/glottal, r, w, j and vowels by jaw height
and lip shape). A viseme is a set of mouth-unit targets plus a dominance: how strongly, and over how long a
stretch of time, it imposes its shape on its neighbours.

Coarticulation follows the dominance model of Cohen & Massaro (1993): segment s has dominance
``D_s(t) = α_s · exp(−θ_s · τ)`` with ``τ`` the distance of ``t`` from the segment's core (its centre ± a quarter
of its duration, so long vowels hold their shape), decaying more slowly before the core than after it (lips
anticipate the coming sound). Every unit's curve is the dominance-weighted mean of the segments' targets.
Consonants articulated by the tongue barely constrain the lips (a low lip dominance), so lip rounding and
spreading carry across them from the vowels. Bilabials then get their closure explicitly: around each bilabial's
centre ``mouthClose`` rises to match the jaw opening left by the blend, so the lips meet even between open vowels.
Silence (pauses, and the time before the first and after the last phoneme) has all-zero targets: a closed mouth.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.ndimage import gaussian_filter1d

from ..face.rig import NUM_UNITS, unit_index
from .espeak import PAUSE_SYMBOL, Phoneme

MOUTH_UNITS: tuple[str, ...] = (
    "jawOpen", "mouthClose", "mouthFunnel", "mouthPucker", "mouthStretchLeft", "mouthStretchRight",
    "mouthPressLeft", "mouthPressRight", "mouthRollLower", "mouthRollUpper", "mouthUpperUpLeft", "mouthUpperUpRight",
    "mouthLowerDownLeft", "mouthLowerDownRight", "mouthSmileLeft", "mouthSmileRight",
)  # fmt: skip
"""The units that :func:`mouth_curves` drives; every other unit stays 0."""

ARTICULATION_STRENGTH_RANGE = (0.7, 1.2)
"""Per-clip scale of every target (speakers differ in how widely they articulate)."""

ANTICIPATION = 0.7
"""Dominance decays at this fraction of its rate before a segment's core (anticipatory coarticulation)."""

SMOOTHING_SECONDS = 0.015
"""Gaussian smoothing of the curves (muscle low-pass), in seconds so every fps gets the same motion."""

CORE_FRACTION = 0.25
"""Half-width of a segment's core (full dominance) as a fraction of its duration."""

_SILENCE_MARGIN = 0.05
"""Seconds between the speech and the core of the silence before and after it (the mouth is still settling)."""

_CLOSURE_HALF_WIDTH = 0.35
"""Bilabial closure spans the centre ± this fraction of the bilabial's duration (at least half a frame)."""


@dataclass(frozen=True)
class Viseme:
    """Mouth-unit targets of a viseme class and its dominance (magnitude α, decay rate θ in 1/s)."""

    name: str
    targets: dict[str, float]
    dominance: float
    rate: float
    lip_dominance: float = 1.0
    """Scale of the dominance on lip units (all but jawOpen): low for tongue consonants."""


def _both(prefix: str, value: float) -> dict[str, float]:
    return {f"{prefix}Left": value, f"{prefix}Right": value}


VISEMES: dict[str, Viseme] = {
    viseme.name: viseme
    for viseme in (
        Viseme("silence", {}, dominance=1.0, rate=10.0),
        # lips pressed together; mouthClose is added around the centre for the closure (module docstring)
        Viseme(
            "bilabial",
            {"jawOpen": 0.04, **_both("mouthPress", 0.45), "mouthRollLower": 0.12, "mouthRollUpper": 0.1},
            dominance=6.0,
            rate=50.0,
        ),
        # lower lip tucked under the upper teeth, which show a little
        Viseme(
            "labiodental",
            {"jawOpen": 0.08, "mouthRollLower": 0.55, **_both("mouthUpperUp", 0.18)},
            dominance=3.0,
            rate=40.0,
        ),
        # tongue tip between the teeth: jaw slightly open, lips relaxed apart
        Viseme("dental", {"jawOpen": 0.14, **_both("mouthUpperUp", 0.08)}, dominance=1.5, rate=25.0, lip_dominance=0.4),
        Viseme("alveolar", {"jawOpen": 0.12}, dominance=0.6, rate=25.0, lip_dominance=0.25),
        # teeth nearly together, lips spread a little
        Viseme(
            "sibilant",
            {"jawOpen": 0.05, **_both("mouthStretch", 0.22), **_both("mouthUpperUp", 0.08)},
            dominance=1.5,
            rate=22.0,
            lip_dominance=0.6,
        ),
        # protruded, slightly funnelled lips
        Viseme(
            "postalveolar",
            {"jawOpen": 0.1, "mouthFunnel": 0.4, "mouthPucker": 0.15, **_both("mouthUpperUp", 0.1)},
            dominance=2.5,
            rate=18.0,
        ),
        Viseme("velar", {"jawOpen": 0.18}, dominance=0.4, rate=25.0, lip_dominance=0.2),
        Viseme("glottal", {"jawOpen": 0.2}, dominance=0.2, rate=25.0, lip_dominance=0.1),
        Viseme("r", {"jawOpen": 0.12, "mouthFunnel": 0.25, "mouthPucker": 0.2}, dominance=1.5, rate=20.0),
        Viseme("w", {"jawOpen": 0.05, "mouthPucker": 0.6, "mouthFunnel": 0.2}, dominance=4.0, rate=15.0),
        Viseme("j", {"jawOpen": 0.08, **_both("mouthStretch", 0.2)}, dominance=1.0, rate=25.0, lip_dominance=0.6),
        Viseme("lateral", {"jawOpen": 0.2}, dominance=0.6, rate=22.0, lip_dominance=0.3),
        Viseme(
            "open",
            {"jawOpen": 0.6, **_both("mouthLowerDown", 0.25), **_both("mouthUpperUp", 0.05)},
            dominance=1.5,
            rate=14.0,
        ),
        Viseme(
            "open_rounded",
            {"jawOpen": 0.5, "mouthFunnel": 0.35, **_both("mouthLowerDown", 0.15)},
            dominance=1.8,
            rate=13.0,
        ),
        Viseme(
            "mid_front",
            {"jawOpen": 0.32, **_both("mouthStretch", 0.25), **_both("mouthLowerDown", 0.15)},
            dominance=1.4,
            rate=14.0,
        ),
        Viseme(
            "close_front",
            {"jawOpen": 0.12, **_both("mouthStretch", 0.4), **_both("mouthSmile", 0.08)},
            dominance=1.5,
            rate=14.0,
        ),
        Viseme("central", {"jawOpen": 0.25, **_both("mouthLowerDown", 0.08)}, dominance=0.9, rate=14.0),
        Viseme("central_r", {"jawOpen": 0.2, "mouthFunnel": 0.25, "mouthPucker": 0.1}, dominance=1.2, rate=14.0),
        Viseme(
            "back_rounded",
            {"jawOpen": 0.35, "mouthFunnel": 0.45, "mouthPucker": 0.15},
            dominance=2.5,
            rate=12.0,
        ),
        Viseme(
            "close_rounded",
            {"jawOpen": 0.12, "mouthPucker": 0.5, "mouthFunnel": 0.3},
            dominance=2.5,
            rate=12.0,
        ),
    )
}

PHONEME_VISEMES: dict[str, str] = {
    **dict.fromkeys(("p", "b", "m"), "bilabial"),
    **dict.fromkeys(("f", "v"), "labiodental"),
    **dict.fromkeys(("T", "D"), "dental"),
    **dict.fromkeys(("t", "d", "n", "t#", "t2", "t[", "d#", "n-", "?"), "alveolar"),
    **dict.fromkeys(("s", "z"), "sibilant"),
    **dict.fromkeys(("S", "Z", "tS", "dZ"), "postalveolar"),
    **dict.fromkeys(("k", "g", "N", "x"), "velar"),
    "h": "glottal",
    **dict.fromkeys(("r", "r-", "*"), "r"),
    **dict.fromkeys(("w", "w#", "W"), "w"),
    **dict.fromkeys(("j", ";"), "j"),  # ";" is espeak's palatal glide linking "the" to a vowel
    **dict.fromkeys(("l", "l/", "@L"), "lateral"),
    **dict.fromkeys(("a", "aa", "a#", "A:", "A@", "V", "VR"), "open"),
    **dict.fromkeys(("0", "O", "O:", "O@", "O2", "o@"), "open_rounded"),
    **dict.fromkeys(("E", "e", "e@", "E2"), "mid_front"),
    **dict.fromkeys(("i", "i:", "I", "I#", "I2", "IR", "i@", "i@3", "y"), "close_front"),
    **dict.fromkeys(("@", "@-", "@2", "@5"), "central"),
    **dict.fromkeys(("3", "3:", "3:r"), "central_r"),
    **dict.fromkeys(("o", "oU"), "back_rounded"),
    **dict.fromkeys(("u", "u:", "U", "U@", "u@"), "close_rounded"),
}
"""espeak's English phoneme mnemonics → viseme class (all those seen from the English voices, and a few more)."""

DIPHTHONGS: dict[str, tuple[str, str]] = {
    "aI": ("open", "close_front"),
    "aI2": ("open", "close_front"),
    "aI3": ("open", "close_front"),
    "aI@": ("open", "central"),
    "aU": ("open", "close_rounded"),
    "aU@": ("open", "central"),
    "eI": ("mid_front", "close_front"),
    "eI@": ("mid_front", "central"),
    "oU": ("back_rounded", "close_rounded"),
    "OI": ("open_rounded", "close_front"),
    "I@": ("close_front", "central"),
    "U@": ("close_rounded", "central"),
    "e@": ("mid_front", "central"),
}
"""Diphthongs glide between two visemes: the first targets 30 % into the span, the second 80 %."""

_FIRST_CHARACTER_VISEMES: dict[str, str] = {
    **dict.fromkeys("aAV", "open"),
    **dict.fromkeys("0O", "open_rounded"),
    **dict.fromkeys("eE", "mid_front"),
    **dict.fromkeys("iIy", "close_front"),
    "@": "central",
    "3": "central_r",
    "o": "back_rounded",
    **dict.fromkeys("uU", "close_rounded"),
    **dict.fromkeys("pbm", "bilabial"),
    **dict.fromkeys("fv", "labiodental"),
    **dict.fromkeys("TD", "dental"),
    **dict.fromkeys("tdnc", "alveolar"),
    **dict.fromkeys("sz", "sibilant"),
    **dict.fromkeys("SZ", "postalveolar"),
    **dict.fromkeys("kgNxqG", "velar"),
    **dict.fromkeys("hH?", "glottal"),
    **dict.fromkeys("rR*", "r"),
    **dict.fromkeys("wW", "w"),
    **dict.fromkeys("jJ;", "j"),
    **dict.fromkeys("lL", "lateral"),
    "_": "silence",
}
_DEFAULT_VISEME = "central"

_MOUTH_COLUMNS = np.array([unit_index(name) for name in MOUTH_UNITS])
_JAW = MOUTH_UNITS.index("jawOpen")
_CLOSE = MOUTH_UNITS.index("mouthClose")


def viseme_of(symbol: str) -> str:
    """The viseme class of an espeak phoneme mnemonic: the table, then its first character, then "central"."""
    if not symbol or symbol.startswith(PAUSE_SYMBOL):
        return "silence"
    if symbol in PHONEME_VISEMES:
        return PHONEME_VISEMES[symbol]
    if symbol in DIPHTHONGS:
        return DIPHTHONGS[symbol][0]
    return _FIRST_CHARACTER_VISEMES.get(symbol[0], _DEFAULT_VISEME)


def _target_vector(viseme: Viseme) -> np.ndarray:
    vector = np.zeros(len(MOUTH_UNITS))
    for name, value in viseme.targets.items():
        vector[MOUTH_UNITS.index(name)] = value
    return vector


_TARGETS = {name: _target_vector(viseme) for name, viseme in VISEMES.items()}


@dataclass(frozen=True)
class _Segment:
    viseme: str
    centre: float
    half_core: float


def _silence(start: float, end: float) -> _Segment:
    """Silence whose core spans [start, end] (a point when the span is empty)."""
    end = max(end, start)
    return _Segment("silence", 0.5 * (start + end), 0.5 * (end - start))


def _segments(phonemes: list[Phoneme], num_frames: int, fps: float) -> list[_Segment]:
    """Articulatory segments: one per phoneme (two per diphthong), plus silence before and after the speech."""
    clip_end = num_frames / fps
    first_start = phonemes[0].start if phonemes else clip_end
    last_end = phonemes[-1].end if phonemes else clip_end
    segments = [_silence(0.0, first_start - _SILENCE_MARGIN)]
    for phoneme in phonemes:
        duration = phoneme.end - phoneme.start
        if phoneme.symbol in DIPHTHONGS:
            for viseme, position in zip(DIPHTHONGS[phoneme.symbol], (0.3, 0.8), strict=True):
                segments.append(_Segment(viseme, phoneme.start + position * duration, 0.1 * duration))
        else:
            segments.append(_Segment(viseme_of(phoneme.symbol), phoneme.centre, CORE_FRACTION * duration))
    segments.append(_silence(last_end + _SILENCE_MARGIN, clip_end))
    return segments


def mouth_curves(
    phonemes: list[Phoneme], num_frames: int, fps: float, rng: np.random.Generator, *, strength_scale: float = 1.0
) -> np.ndarray:
    """Coarticulated mouth-unit curves ``[num_frames, NUM_UNITS]`` in [0, 1] (only :data:`MOUTH_UNITS` nonzero).

    Frame t shows time ``(t + 0.5) / fps``. The clip draws an articulation strength in
    :data:`ARTICULATION_STRENGTH_RANGE` (times ``strength_scale``, e.g. livelier for an emotion) and ±15 % dominance
    rates, so a corpus shows speakers who articulate more or less widely and crisply.
    """
    curves = np.zeros((num_frames, NUM_UNITS), dtype=np.float32)
    if num_frames == 0:
        return curves
    strength = rng.uniform(*ARTICULATION_STRENGTH_RANGE) * strength_scale
    rate_scale = rng.uniform(0.85, 1.15)
    times = (np.arange(num_frames) + 0.5) / fps
    segments = _segments(phonemes, num_frames, fps)

    centres = np.array([segment.centre for segment in segments])
    half_cores = np.array([segment.half_core for segment in segments])
    visemes = [VISEMES[segment.viseme] for segment in segments]
    alphas = np.array([viseme.dominance for viseme in visemes])
    rates = np.array([viseme.rate for viseme in visemes]) * rate_scale
    lip_scales = np.array([viseme.lip_dominance for viseme in visemes])
    targets = np.stack([_TARGETS[segment.viseme] for segment in segments])  # [S, U]

    offset = times[None, :] - centres[:, None]  # [S, T]
    distance = np.maximum(np.abs(offset) - half_cores[:, None], 0.0)
    decay = np.where(offset < 0, ANTICIPATION * rates[:, None], rates[:, None])
    dominance = alphas[:, None] * np.exp(-decay * distance)  # [S, T]
    jaw_blend = dominance.T @ targets / dominance.sum(0)[:, None]
    lip_dominance = dominance * lip_scales[:, None]
    lip_blend = lip_dominance.T @ targets / lip_dominance.sum(0)[:, None]
    mouth = np.where(np.arange(len(MOUTH_UNITS)) == _JAW, jaw_blend, lip_blend) * strength
    mouth = gaussian_filter1d(mouth, SMOOTHING_SECONDS * fps, axis=0, mode="nearest")

    closure = _bilabial_closure(phonemes, times, fps)
    mouth[:, _CLOSE] = np.maximum(mouth[:, _CLOSE], closure * mouth[:, _JAW])
    curves[:, _MOUTH_COLUMNS] = np.clip(mouth, 0.0, 1.0)
    return curves


def _bilabial_closure(phonemes: list[Phoneme], times: np.ndarray, fps: float) -> np.ndarray:
    """[T] in [0, 1]: 1 within each bilabial's closure span, falling smoothly to 0 half a frame beyond it."""
    closure = np.zeros_like(times)
    for phoneme in phonemes:
        if viseme_of(phoneme.symbol) != "bilabial":
            continue
        half_span = max(_CLOSURE_HALF_WIDTH * (phoneme.end - phoneme.start), 0.5 / fps)
        excess = np.maximum(np.abs(times - phoneme.centre) - half_span, 0.0) * 2 * fps  # in half frames
        closure = np.maximum(closure, np.clip(1.0 - excess, 0.0, 1.0) ** 2)
    return closure
