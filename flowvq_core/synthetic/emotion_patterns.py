"""Facial-expression patterns of the nine emotions, from FACS action units mapped to our rig units.

Each emotion's prototype lists the action units (AUs) of the Facial Action Coding System (Ekman & Friesen 1978;
the emotion prototypes of Ekman, Friesen & Hager, FACS Investigator's Guide 2002, as summarised in EMFACS tables)
and the ARKit-named units of :mod:`flowvq_core.face.rig` that show them: AU1 inner brow raiser → browInnerUp,
AU2 outer brow raiser → browOuterUp, AU4 brow lowerer → browDown, AU5 upper lid raiser → eyeWide, AU6 cheek raiser
→ cheekSquint (+ a little eyeSquint), AU7 lid tightener → eyeSquint, AU9 nose wrinkler → noseSneer, AU10 upper lip
raiser → mouthUpperUp, AU12 lip corner puller → mouthSmile, AU14 dimpler → mouthPress + mouthLeft/Right on one
side, AU15 lip corner depressor → mouthFrown, AU17 chin raiser → mouthShrugLower, AU20 lip stretcher →
mouthStretch, AU23 lip tightener / AU24 lip pressor → mouthPress + mouthRoll, AU26 jaw drop → jawOpen.

Beyond the static pattern an emotion has a speaking style: how much it emphasises stressed syllables with the brows
(or, for anger, by lowering them), how widely it articulates, and how the head moves. "neutral" (MEAD's calm,
expressionless reading) and "talking" (HDTF-like lively speech without a pronounced emotion) both have an empty
pattern and differ by style: talking articulates more widely and its brows move with speech emphasis.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from scipy.ndimage import gaussian_filter1d
from scipy.signal import find_peaks

from ..emotions import EMOTIONS
from ..face.rig import NUM_UNITS, unit_index

FLUCTUATION = 0.15
"""Relative amplitude of the slow fluctuation of an emotion's pattern over a clip."""

STRESS_MIN_GAP_SECONDS = 0.25
"""Stressed syllables are at least this far apart."""


def _both(prefix: str, value: float) -> dict[str, float]:
    return {f"{prefix}Left": value, f"{prefix}Right": value}


@dataclass(frozen=True)
class EmotionStyle:
    """What an emotion adds to a talking face, at intensity 1."""

    pattern: dict[str, float]
    """Unit targets of the FACS prototype, held over the clip."""
    emphasis: dict[str, float] = field(default_factory=dict)
    """Units added on stressed syllables (times the stress envelope)."""
    articulation_gain: float = 1.0
    """Scale of the mouth's articulation strength."""
    head_motion_gain: float = 1.0
    """Scale of head-motion amplitudes."""
    head_motion_speed: float = 1.0
    """Scale of head-motion speed (below 1: slower drift and sway)."""
    head_offset_degrees: tuple[float, float, float] = (0.0, 0.0, 0.0)
    """(pitch, yaw, roll) added to the clip's base pose; positive pitch = head down (``face/pose.py``)."""
    speech_rate_scale: float = 1.0
    """Scale of the espeak speaking rate."""
    pitch_shift: int = 0
    """Added to the espeak base pitch (0–100 scale)."""
    pitch_range_scale: float = 1.0
    """Scale of the espeak pitch range (intonation liveliness)."""


_BROW_EMPHASIS = {"browInnerUp": 1.0, **_both("browOuterUp", 1.0)}

EMOTION_STYLES: dict[str, EmotionStyle] = {
    # AU4 + AU5 + AU7 + AU23/24: lowered brows, glaring lids, pressed and thinned lips; stress by lowering the brows
    "angry": EmotionStyle(
        pattern={
            **_both("browDown", 0.7),
            **_both("eyeWide", 0.2),
            **_both("eyeSquint", 0.3),
            **_both("mouthPress", 0.4),
            "mouthRollLower": 0.15,
            "mouthRollUpper": 0.15,
        },
        emphasis=_both("browDown", 0.2),
        articulation_gain=1.1,
        head_motion_gain=1.3,
        head_motion_speed=1.2,
        head_offset_degrees=(1.5, 0.0, 0.0),
        speech_rate_scale=1.08,
        pitch_range_scale=1.2,
    ),
    # unilateral AU12 + AU14: one lip corner pulled up and tightened; slight chin-up and head tilt
    "contempt": EmotionStyle(
        pattern={"mouthSmileLeft": 0.45, "mouthPressLeft": 0.35, "mouthLeft": 0.2, "eyeSquintLeft": 0.12},
        emphasis={"mouthSmileLeft": 0.08, "browOuterUpLeft": 0.1},
        articulation_gain=0.9,
        head_motion_gain=0.9,
        head_offset_degrees=(-2.5, 1.0, 2.0),
        speech_rate_scale=0.95,
    ),
    # AU9 + AU10 (+ AU4, AU6/7, AU15, AU17): wrinkled nose, raised upper lip, lowered brows; head turned away a little
    "disgusted": EmotionStyle(
        pattern={
            **_both("noseSneer", 0.6),
            **_both("mouthUpperUp", 0.4),
            **_both("browDown", 0.3),
            **_both("cheekSquint", 0.3),
            **_both("eyeSquint", 0.2),
            **_both("mouthFrown", 0.15),
            "mouthShrugLower": 0.25,
        },
        emphasis=_both("noseSneer", 0.12),
        articulation_gain=0.95,
        head_offset_degrees=(-1.0, 2.0, 0.0),
        speech_rate_scale=0.95,
    ),
    # AU1 + AU2 + AU4 + AU5 + AU20 (+ AU25): raised yet drawn-together brows, wide eyes, stretched lips
    "fear": EmotionStyle(
        pattern={
            "browInnerUp": 0.6,
            **_both("browOuterUp", 0.35),
            **_both("browDown", 0.2),
            **_both("eyeWide", 0.55),
            **_both("mouthStretch", 0.45),
            "jawOpen": 0.08,
        },
        emphasis={"browInnerUp": 0.12},
        head_motion_gain=1.1,
        head_motion_speed=1.2,
        head_offset_degrees=(-1.0, 0.0, 0.0),
        speech_rate_scale=1.1,
        pitch_shift=8,
    ),
    # AU6 + AU12: cheek raiser with lip-corner puller (the Duchenne smile)
    "happy": EmotionStyle(
        pattern={**_both("cheekSquint", 0.5), **_both("eyeSquint", 0.25), **_both("mouthSmile", 0.65)},
        emphasis={"browInnerUp": 0.08, **_both("browOuterUp", 0.12), **_both("cheekSquint", 0.1)},
        articulation_gain=1.05,
        head_motion_gain=1.15,
        speech_rate_scale=1.05,
        pitch_shift=5,
        pitch_range_scale=1.2,
    ),
    # no action units; calm articulation, still brows
    "neutral": EmotionStyle(
        pattern={},
        emphasis={key: 0.04 * value for key, value in _BROW_EMPHASIS.items()},
        articulation_gain=0.85,
        head_motion_gain=0.8,
        head_motion_speed=0.9,
        pitch_range_scale=0.8,
    ),
    # AU1 + AU4 + AU15 (+ AU17): raised inner brows, slightly lowered brows, lip corners down; head low and slow
    "sad": EmotionStyle(
        pattern={
            "browInnerUp": 0.6,
            **_both("browDown", 0.2),
            **_both("mouthFrown", 0.5),
            "mouthShrugLower": 0.25,
        },
        emphasis={"browInnerUp": 0.12},
        articulation_gain=0.85,
        head_motion_gain=0.7,
        head_motion_speed=0.65,
        head_offset_degrees=(4.0, 0.0, 0.0),
        speech_rate_scale=0.85,
        pitch_shift=-8,
        pitch_range_scale=0.6,
    ),
    # AU1 + AU2 + AU5 + AU26: raised brows, wide eyes, dropped jaw
    "surprised": EmotionStyle(
        pattern={"browInnerUp": 0.65, **_both("browOuterUp", 0.65), **_both("eyeWide", 0.5), "jawOpen": 0.2},
        emphasis={"browInnerUp": 0.1, **_both("browOuterUp", 0.15), **_both("eyeWide", 0.1)},
        articulation_gain=1.1,
        head_motion_gain=1.3,
        head_motion_speed=1.2,
        head_offset_degrees=(-2.0, 0.0, 0.0),
        speech_rate_scale=1.05,
        pitch_shift=8,
        pitch_range_scale=1.4,
    ),
    # no fixed action units: lively articulation, brows rising on stressed syllables (AU1 + AU2 as batons)
    "talking": EmotionStyle(
        pattern={},
        emphasis={key: 0.35 * value for key, value in _BROW_EMPHASIS.items()},
        articulation_gain=1.2,
        head_motion_gain=1.1,
        head_motion_speed=1.1,
        pitch_range_scale=1.2,
    ),
}


def emotion_style(emotion: str) -> EmotionStyle:
    """The style of ``emotion`` (a name of :data:`flowvq_core.emotions.EMOTIONS`); a clear ValueError otherwise."""
    if emotion not in EMOTION_STYLES:
        raise ValueError(f"unknown emotion {emotion!r}; choose one of {', '.join(EMOTIONS)}")
    return EMOTION_STYLES[emotion]


def _unit_vector(values: dict[str, float]) -> np.ndarray:
    vector = np.zeros(NUM_UNITS)
    for name, value in values.items():
        vector[unit_index(name)] = value
    return vector


def slow_noise(
    num_frames: int, fps: float, rng: np.random.Generator, *, period_seconds: tuple[float, float]
) -> np.ndarray:
    """[T] smooth random curve in [-1, 1]: three sinusoids with random periods in ``period_seconds`` and phases."""
    times = np.arange(num_frames) / fps
    periods = rng.uniform(*period_seconds, size=3)
    phases = rng.uniform(0, 2 * np.pi, size=3)
    weights = rng.dirichlet(np.ones(3))
    return (weights[:, None] * np.sin(2 * np.pi * times[None, :] / periods[:, None] + phases[:, None])).sum(0)


def stress_envelope(energy: np.ndarray, fps: float) -> np.ndarray:
    """[T] in [0, 1]: a smooth bump on every stressed syllable of a speech-energy curve ``[T]`` in [0, 1].

    Stressed syllables are the energy peaks at least :data:`STRESS_MIN_GAP_SECONDS` apart that stand out from
    their surroundings (prominence) and are louder than the clip's median peak; each becomes a bump rising about
    0.1 s before the peak and decaying over about 0.3 s, scaled by its loudness.
    """
    envelope = np.zeros(len(energy))
    if len(energy) < 3:
        return envelope
    smooth = gaussian_filter1d(energy.astype(np.float64), 0.03 * fps, mode="nearest")
    peaks, properties = find_peaks(
        smooth, prominence=0.08, distance=max(1, round(STRESS_MIN_GAP_SECONDS * fps)), height=0.3
    )
    if len(peaks) == 0:
        return envelope
    heights = properties["peak_heights"]
    stressed = heights >= np.median(heights)
    times = np.arange(len(energy)) / fps
    for peak, height in zip(peaks[stressed], heights[stressed], strict=True):
        offset = times - times[peak]
        rise = np.exp(-0.5 * (offset / 0.05) ** 2)
        fall = np.exp(-np.maximum(offset, 0.0) / 0.15)
        envelope = np.maximum(envelope, height * np.where(offset < 0, rise, fall))
    return np.clip(envelope, 0.0, 1.0)


def emotion_curves(
    emotion: str, intensity: float, num_frames: int, fps: float, energy: np.ndarray, rng: np.random.Generator
) -> np.ndarray:
    """Unit curves ``[num_frames, NUM_UNITS]`` of an emotion at ``intensity`` (0..1) over speech with ``energy``.

    The FACS pattern times intensity, fluctuating slowly by ±:data:`FLUCTUATION` (one shared and one per-unit
    component), plus the style's emphasis on stressed syllables (present even at intensity 0, so a calm speaker's
    brows still move a little). Not clipped: the caller sums it with the mouth and blinks, then clips.
    """
    style = emotion_style(emotion)
    if len(energy) != num_frames:
        raise ValueError(f"energy has {len(energy)} frames, expected {num_frames}")
    shared = slow_noise(num_frames, fps, rng, period_seconds=(2.0, 6.0))
    per_unit = np.stack([slow_noise(num_frames, fps, rng, period_seconds=(1.5, 5.0)) for _ in range(NUM_UNITS)], 1)
    fluctuation = 1.0 + FLUCTUATION * (0.6 * shared[:, None] + 0.4 * per_unit)
    pattern = intensity * _unit_vector(style.pattern)[None, :] * fluctuation
    emphasis_scale = 0.5 + 0.5 * intensity
    emphasis = emphasis_scale * stress_envelope(energy, fps)[:, None] * _unit_vector(style.emphasis)[None, :]
    return (pattern + emphasis).astype(np.float32)
