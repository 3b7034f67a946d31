"""A reproducible synthetic training corpus: speech, expression coefficients and head pose per clip.

No real talking-face dataset is available, so each clip is built from a seed: a sentence from our own templates,
spoken by espeak-ng with a random voice, rate and pitch; its phoneme timings drive coarticulated mouth curves
(:mod:`.visemes`); an emotion adds its FACS pattern and speaking style (:mod:`.emotion_patterns`); a renewal process
adds blinks; the speech energy and phrase structure drive the head pose. The same seed always gives the same clip
(on the same espeak-ng installation: its voice list and phoneme timings are part of the recipe).
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from scipy.ndimage import gaussian_filter1d

from ..audio import frame_count, speech_energy
from ..emotions import EMOTIONS, emotion_id
from ..face.rig import NUM_UNITS, unit_index
from .emotion_patterns import EmotionStyle, emotion_curves, emotion_style, slow_noise, stress_envelope
from .espeak import SAMPLE_RATE, Phoneme, available_voices, speak
from .visemes import mouth_curves

# ---------------------------------------------------------------------------------------------------- sentences

_SUBJECTS = (
    "my brother", "the old teacher", "our neighbour", "a young doctor", "the little girl", "my best friend",
    "the captain", "your mother", "the new manager", "a tired farmer", "the children", "everyone in the office",
    "the woman next door", "my grandfather", "the pilot", "a quiet student", "the baker", "his sister",
    "the police officer", "our guide",
)  # fmt: skip
_VERBS = (  # (past, base)
    ("found", "find"), ("painted", "paint"), ("bought", "buy"), ("forgot", "forget"), ("carried", "carry"),
    ("opened", "open"), ("cleaned", "clean"), ("borrowed", "borrow"), ("lost", "lose"), ("fixed", "fix"),
    ("sold", "sell"), ("watched", "watch"), ("moved", "move"), ("described", "describe"), ("noticed", "notice"),
    ("brought", "bring"),
)  # fmt: skip
_OBJECTS = (
    "a blue umbrella", "the broken window", "an old map", "the heavy box", "a bottle of milk", "the wooden chair",
    "a bunch of flowers", "the red bicycle", "a strange letter", "the kitchen table", "a small puppy",
    "the morning paper", "a pair of shoes", "the photo album", "a bag of apples", "the golden watch",
)  # fmt: skip
_PLACES = (
    "in the garden", "at the station", "near the river", "by the window", "behind the house", "on the bus",
    "at the market", "in the library", "under the bridge", "at the beach",
)  # fmt: skip
_PAST_TIMES = ("yesterday", "last night", "this morning", "on Sunday", "before dinner", "after the meeting",
               "a week ago", "in the spring")  # fmt: skip
_FUTURE_TIMES = ("tomorrow", "next week", "tonight", "soon", "before it gets dark", "on Friday")
_OPENERS = ("Oh no", "Well", "Honestly", "Look", "Wow", "You know", "Believe it or not", "Listen")
_TEMPLATES = (
    "{Subject} {past} {object} {place} {past_time}.",
    "Did {subject} really {base} {object} {place}?",
    "I can't believe {subject} {past} {object}!",
    "{Past_time}, {subject} {past} {object} and {past2} it {place}.",
    "Why would {subject} {base} {object} {past_time}?",
    "Please ask {subject} to {base} {object} {place} {future_time}.",
    "{opener}, {subject} {past} {object} {place}!",
    "We should {base} {object} {place} {future_time}.",
    "{Subject} said that {subject2} {past} {object} {past_time}.",
    "Do you think {subject} will {base} {object} {future_time}?",
)
_SECOND_SENTENCE_PROBABILITY = 0.3


def _capitalised(phrase: str) -> str:
    return phrase[:1].upper() + phrase[1:]


def random_sentence(rng: np.random.Generator) -> str:
    """One English sentence from our templates and word lists (many thousand combinations)."""

    def pick(options: tuple) -> object:
        return options[rng.integers(len(options))]

    (past, base), (past2, _) = pick(_VERBS), pick(_VERBS)
    subject, subject2, past_time = pick(_SUBJECTS), pick(_SUBJECTS), pick(_PAST_TIMES)
    template = pick(_TEMPLATES)
    return template.format(
        subject=subject,
        Subject=_capitalised(subject),
        subject2=subject2,
        past=past,
        past2=past2,
        base=base,
        object=pick(_OBJECTS),
        place=pick(_PLACES),
        past_time=past_time,
        Past_time=_capitalised(past_time),
        future_time=pick(_FUTURE_TIMES),
        opener=pick(_OPENERS),
    )


def random_text(rng: np.random.Generator) -> str:
    """One sentence, sometimes two, so clips vary in length and contain pauses."""
    sentences = [random_sentence(rng)]
    if rng.random() < _SECOND_SENTENCE_PROBABILITY:
        sentences.append(random_sentence(rng))
    return " ".join(sentences)


# ------------------------------------------------------------------------------------------------------- energy

EFFORT_FLOOR = 0.45
"""Articulation gain of the quietest speech; the loudest frames articulate at ``EFFORT_FLOOR + EFFORT_GAIN``."""
EFFORT_GAIN = 0.75


def vocal_effort(energy: np.ndarray, fps: float) -> np.ndarray:
    """[T] gain on the mouth's articulation from the loudness around each frame (80 ms smoothing).

    Jaw and lip excursions grow with vocal effort (Schulman 1989, "Articulatory dynamics of loud and normal
    speech"; Huber et al. 1999): a stressed, loud syllable opens wider than a quiet one with the same phonemes.
    """
    return EFFORT_FLOOR + EFFORT_GAIN * gaussian_filter1d(energy, sigma=0.08 * fps / 2.0)


# ------------------------------------------------------------------------------------------------------- blinks

BLINK_RATE_RANGE = (10.0, 30.0)
"""Blinks per minute; each clip draws its own rate."""
BLINK_MIN_GAP = 0.3
"""Seconds between blink peaks, at least."""
BLINK_INTERVAL_SHAPE = 2.5
"""Gamma shape of the intervals beyond the minimum gap (1 = Poisson-like, larger = more regular)."""
BLINK_CLOSE_SECONDS = (0.06, 0.09)
BLINK_OPEN_SECONDS = (0.15, 0.2)
HALF_BLINK_PROBABILITY = 0.15


def blink_shape(offset: np.ndarray, peak: float, close_seconds: float, open_seconds: float) -> np.ndarray:
    """Lid closure of one blink at ``offset`` seconds from its peak: a fast close, then a slower opening."""
    closing = peak * np.sin(0.5 * np.pi * np.clip(1.0 + offset / close_seconds, 0.0, 1.0)) ** 2
    opening = peak * np.cos(0.5 * np.pi * np.clip(offset / open_seconds, 0.0, 1.0)) ** 2
    return np.where(offset < 0, closing, opening)


def random_blinks(
    num_frames: int, fps: float, rng: np.random.Generator, *, rate_per_minute: float | None = None
) -> tuple[np.ndarray, list[int]]:
    """[num_frames] eyelid closure in [0, 1] and the frames where blinks peak.

    A renewal process: intervals are the minimum gap plus a gamma variable, their mean 60 / rate; the rate is drawn
    from :data:`BLINK_RATE_RANGE` unless given. Each peak sits on a frame centre (so a frame shows the closed lid),
    reaches 0.95–1.0, or 0.35–0.7 for an occasional half blink.
    """
    rate = rng.uniform(*BLINK_RATE_RANGE) if rate_per_minute is None else rate_per_minute
    min_gap = BLINK_MIN_GAP + 1.0 / fps  # snapping a peak to its frame moves it by up to half a frame
    mean_extra = max(60.0 / rate - min_gap, 1e-3)
    duration = num_frames / fps
    times = np.arange(num_frames) / fps + 0.5 / fps
    curve = np.zeros(num_frames)
    peak_frames: list[int] = []
    time = rng.uniform(0.0, 1.0) * (min_gap + rng.gamma(BLINK_INTERVAL_SHAPE, mean_extra / BLINK_INTERVAL_SHAPE))
    while time < duration:
        frame = min(int(time * fps), num_frames - 1)
        half_blink = rng.random() < HALF_BLINK_PROBABILITY
        peak = rng.uniform(0.35, 0.7) if half_blink else rng.uniform(0.95, 1.0)
        close_seconds, open_seconds = rng.uniform(*BLINK_CLOSE_SECONDS), rng.uniform(*BLINK_OPEN_SECONDS)
        first = max(frame - int(close_seconds * fps) - 1, 0)
        last = min(frame + int(open_seconds * fps) + 2, num_frames)
        offsets = times[first:last] - times[frame]
        curve[first:last] = np.maximum(curve[first:last], blink_shape(offsets, peak, close_seconds, open_seconds))
        peak_frames.append(frame)
        time += min_gap + rng.gamma(BLINK_INTERVAL_SHAPE, mean_extra / BLINK_INTERVAL_SHAPE)
    return curve, peak_frames


# --------------------------------------------------------------------------------------------------------- pose

BASE_POSE_MEAN = (0.0, 0.0, 0.0, 0.5, 0.47, 0.20)
"""Mean per-clip base pose (pitch, yaw, roll rad, tx, ty, scale); our extractor reads a frontal portrait near it."""
BASE_POSE_STD = (np.radians(3.0), np.radians(3.0), np.radians(3.0), 0.01, 0.01, 0.01)
_PIVOT_DISTANCE = 0.8
"""Distance from the neck pivot to the head centre, in head sizes: rotating moves the face centre by this lever."""
_PAUSE_SECONDS = 0.15
_SPEAKING_ENERGY = 0.35


def ornstein_uhlenbeck(
    num_frames: int, fps: float, rng: np.random.Generator, *, time_constant: float, std: float
) -> np.ndarray:
    """[T] Ornstein–Uhlenbeck drift (mean 0, stationary std ``std``), exact discretisation, stationary start."""
    decay = np.exp(-1.0 / (fps * time_constant))
    innovations = rng.normal(0.0, std * np.sqrt(1.0 - decay**2), num_frames)
    values = np.empty(num_frames)
    value = rng.normal(0.0, std)
    for index in range(num_frames):
        value = decay * value + innovations[index]
        values[index] = value
    return values


def _critically_damped(targets: np.ndarray, fps: float, time_constant: float) -> np.ndarray:
    """Two cascaded first-order lags: a smooth, overshoot-free approach to piecewise-constant targets."""
    alpha = 1.0 - np.exp(-1.0 / (fps * time_constant))
    output = targets.astype(np.float64).copy()
    for _ in range(2):
        state = output[0]
        for index in range(len(output)):
            state += alpha * (output[index] - state)
            output[index] = state
    return output


def _phrases(energy: np.ndarray, fps: float) -> list[tuple[int, int]]:
    """[start, end) frames of the phrases: speaking runs joined across pauses shorter than ``_PAUSE_SECONDS``."""
    speaking = energy > _SPEAKING_ENERGY
    phrases: list[tuple[int, int]] = []
    index = 0
    while index < len(speaking):
        if not speaking[index]:
            index += 1
            continue
        start = index
        while index < len(speaking) and speaking[index]:
            index += 1
        if phrases and start - phrases[-1][1] < _PAUSE_SECONDS * fps:
            phrases[-1] = (phrases[-1][0], index)
        else:
            phrases.append((start, index))
    return phrases


def head_pose(
    num_frames: int,
    fps: float,
    energy: np.ndarray,
    rng: np.random.Generator,
    *,
    style: EmotionStyle,
    intensity: float,
) -> np.ndarray:
    """[num_frames, 6] absolute head pose (pitch, yaw, roll in radians, tx, ty, scale) of a talking head.

    A base pose per clip, plus: Ornstein–Uhlenbeck drift of the angles; nods (pitch down) on stressed syllables;
    a new yaw/pitch/roll target per phrase (speaking run between pauses), approached smoothly and relaxing towards
    the base in pauses, larger when the phrase is loud; translation following the rotation about the neck; a
    nearly constant scale. Amplitudes are drawn per clip and scaled by the emotion's style (``head_motion_gain``,
    ``head_motion_speed``, ``head_offset_degrees`` times intensity).
    """
    base = rng.normal(BASE_POSE_MEAN, BASE_POSE_STD)
    base = np.clip(base, np.subtract(BASE_POSE_MEAN, 2 * np.array(BASE_POSE_STD)),
                   np.add(BASE_POSE_MEAN, 2 * np.array(BASE_POSE_STD)))  # fmt: skip
    base[:3] += np.radians(style.head_offset_degrees) * intensity
    amplitude = rng.uniform(0.6, 1.3) * style.head_motion_gain
    speed = style.head_motion_speed
    degree = np.radians(1.0) * amplitude

    drift_time = rng.uniform(1.5, 4.0) / speed
    angles = np.stack(
        [
            ornstein_uhlenbeck(num_frames, fps, rng, time_constant=drift_time, std=1.2 * degree),
            ornstein_uhlenbeck(num_frames, fps, rng, time_constant=drift_time, std=1.8 * degree),
            ornstein_uhlenbeck(num_frames, fps, rng, time_constant=drift_time, std=0.6 * degree),
        ],
        1,
    )

    loudness = gaussian_filter1d(energy, 0.3 * fps, mode="nearest")
    phrase_targets = np.zeros((num_frames, 3))
    for start, end in _phrases(energy, fps):
        target = rng.normal(0.0, (0.8, 2.0, 0.5)) * degree
        phrase_targets[start:end] = target * (0.5 + loudness[start:end, None])
    angles += np.stack([_critically_damped(phrase_targets[:, axis], fps, 0.25 / speed) for axis in range(3)], 1)

    nod_amplitude = rng.uniform(1.5, 3.5) * degree
    angles[:, 0] += nod_amplitude * gaussian_filter1d(stress_envelope(energy, fps), 0.04 * fps, mode="nearest")
    angles[:, 2] += 0.15 * angles[:, 1]  # the head tilts a little as it turns

    pose = np.empty((num_frames, 6))
    pose[:, :3] = base[:3] + angles
    lever = _PIVOT_DISTANCE * base[5]
    pose[:, 3] = base[3] + lever * (np.sin(angles[:, 1]) - 0.5 * np.sin(angles[:, 2]))
    pose[:, 4] = base[4] + lever * np.sin(angles[:, 0])
    pose[:, 3:5] += np.stack(
        [ornstein_uhlenbeck(num_frames, fps, rng, time_constant=3.0 / speed, std=0.002) for _ in range(2)], 1
    )
    pose[:, 5] = base[5] * (1.0 + ornstein_uhlenbeck(num_frames, fps, rng, time_constant=4.0, std=0.01))
    return pose


# --------------------------------------------------------------------------------------------------------- clips

SILENCE_PADDING_SECONDS = (0.1, 0.5)
"""Silence added before and after the speech (each drawn), so silence is learnt as a closed mouth."""
GAIN_DB_RANGE = (-6.0, 3.0)
NOISE_PROBABILITY = 0.3
NOISE_SNR_DB_RANGE = (25.0, 45.0)
_PEAK_BEFORE_GAIN = 0.5
_EYE_BLINK = (unit_index("eyeBlinkLeft"), unit_index("eyeBlinkRight"))
_EYE_SQUINT = (unit_index("eyeSquintLeft"), unit_index("eyeSquintRight"))
_EYE_WIDE = (unit_index("eyeWideLeft"), unit_index("eyeWideRight"))
_SQUINT_CLOSURE = 0.45
"""Share of the eye aperture that eyeSquint = 1 closes (rig): a blink over a squint only closes what is left."""


@dataclass
class SyntheticClip:
    """One training clip: audio, per-frame coefficients and how it was made."""

    waveform: np.ndarray
    """[S] float32 mono at ``sample_rate``."""
    sample_rate: int
    fps: float
    expression: np.ndarray
    """[T, NUM_UNITS] float32 in [0, 1], T = ``frame_count(len(waveform), sample_rate, fps)``."""
    pose: np.ndarray
    """[T, 6] float32 absolute (pitch, yaw, roll rad, tx, ty, scale)."""
    emotion: str
    intensity: float
    text: str
    voice: str
    rate: int
    pitch: int
    phonemes: list[Phoneme]
    """Phonemes on the clip's own timeline (after the leading silence)."""
    blink_frames: list[int]

    @property
    def num_frames(self) -> int:
        return int(self.expression.shape[0])

    @property
    def duration(self) -> float:
        return len(self.waveform) / self.sample_rate


@functools.cache
def _voices() -> tuple[str, ...]:
    return tuple(available_voices())


def _augmented_audio(speech: np.ndarray, lead: float, trail: float, rng: np.random.Generator) -> np.ndarray:
    """Peak-normalised speech at a random gain, padded with silence (the clean signal, for energy and curves)."""
    gain = 10.0 ** (rng.uniform(*GAIN_DB_RANGE) / 20.0)
    scaled = speech * (_PEAK_BEFORE_GAIN * gain / max(float(np.abs(speech).max()), 1e-6))
    return np.concatenate([np.zeros(round(lead * SAMPLE_RATE)), scaled, np.zeros(round(trail * SAMPLE_RATE))]).astype(
        np.float64
    )


def _with_noise(waveform: np.ndarray, speech_rms: float, rng: np.random.Generator) -> np.ndarray:
    if rng.random() >= NOISE_PROBABILITY:
        return waveform
    noise_rms = speech_rms / 10.0 ** (rng.uniform(*NOISE_SNR_DB_RANGE) / 20.0)
    return waveform + rng.normal(0.0, noise_rms, len(waveform))


def synthesize_clip(
    seed: int,
    *,
    emotion: str | None = None,
    intensity: float | None = None,
    text: str | None = None,
    fps: float = 25.0,
) -> SyntheticClip:
    """Synthesize one clip from ``seed`` (the same seed and arguments always give the same clip).

    ``emotion`` is drawn uniformly from the nine when None; ``intensity`` uniformly from 0.5–1.0 (0 for neutral);
    ``text`` from :func:`random_text`. Raises ValueError for an unknown emotion or an intensity outside [0, 1], and
    :class:`~flowvq_core.synthetic.espeak.EspeakUnavailableError` without espeak-ng.
    """
    rng = np.random.default_rng(seed)
    emotion = EMOTIONS[rng.integers(len(EMOTIONS))] if emotion is None else EMOTIONS[emotion_id(emotion)]
    style = emotion_style(emotion)
    if intensity is None:
        intensity = 0.0 if emotion == "neutral" else float(rng.uniform(0.5, 1.0))
    elif not 0.0 <= intensity <= 1.0:
        raise ValueError(f"intensity must be in [0, 1], got {intensity}")
    if not fps > 0:
        raise ValueError(f"fps must be positive, got {fps}")
    text = random_text(rng) if text is None else text

    voices = _voices()
    voice = voices[rng.integers(len(voices))]
    rate = int(np.clip(round(rng.uniform(135, 195) * style.speech_rate_scale), 80, 450))
    pitch = int(np.clip(round(rng.uniform(30, 70)) + style.pitch_shift, 0, 100))
    pitch_range = int(np.clip(round(rng.uniform(35, 75) * style.pitch_range_scale), 0, 100))
    word_gap = int(rng.choice([0, 0, 0, 1, 2]))
    speech = speak(
        text,
        voice=voice,
        rate=rate,
        pitch=pitch,
        pitch_range=pitch_range,
        word_gap=word_gap,
        seed=int(rng.integers(2**32)),
    )

    lead, trail = rng.uniform(*SILENCE_PADDING_SECONDS, size=2)
    clean = _augmented_audio(speech.waveform, lead, trail, rng)
    speech_rms = float(np.sqrt(np.mean(clean[round(lead * SAMPLE_RATE) :][: len(speech.waveform)] ** 2)))
    waveform = np.clip(_with_noise(clean, speech_rms, rng), -1.0, 1.0).astype(np.float32)
    num_frames = frame_count(len(waveform), SAMPLE_RATE, fps)
    phonemes = [Phoneme(p.symbol, p.start + lead, p.end + lead) for p in speech.phonemes]
    energy = speech_energy(clean, SAMPLE_RATE, num_frames, fps)

    expression = mouth_curves(phonemes, num_frames, fps, rng, strength_scale=style.articulation_gain).astype(np.float64)
    expression *= vocal_effort(energy, fps)[:, None]  # louder syllables open wider (Schulman 1989)
    expression += emotion_curves(emotion, intensity, num_frames, fps, energy, rng)
    unit_gain = 1.0 + 0.05 * rng.uniform(-1.0, 1.0, NUM_UNITS)
    wobble = np.stack([slow_noise(num_frames, fps, rng, period_seconds=(0.5, 3.0)) for _ in range(NUM_UNITS)], 1)
    expression *= unit_gain * (1.0 + 0.03 * wobble)  # per-clip jitter; zero units stay exactly zero
    expression = np.clip(expression, 0.0, 1.0)

    blinks, blink_frames = random_blinks(num_frames, fps, rng)
    for blink_unit, squint_unit, wide_unit in zip(_EYE_BLINK, _EYE_SQUINT, _EYE_WIDE, strict=True):
        expression[:, blink_unit] = np.minimum(blinks, 1.0 - _SQUINT_CLOSURE * expression[:, squint_unit])
        expression[:, wide_unit] *= 1.0 - blinks  # a closing lid cannot stay raised
    pose = head_pose(num_frames, fps, energy, rng, style=style, intensity=intensity)

    return SyntheticClip(
        waveform=waveform,
        sample_rate=SAMPLE_RATE,
        fps=float(fps),
        expression=np.clip(expression, 0.0, 1.0).astype(np.float32),
        pose=pose.astype(np.float32),
        emotion=emotion,
        intensity=float(intensity),
        text=text,
        voice=voice,
        rate=rate,
        pitch=pitch,
        phonemes=phonemes,
        blink_frames=blink_frames,
    )


def clip_seed(seed: int, index: int) -> int:
    """The seed of clip ``index`` of the corpus built with ``seed`` (independent streams for every pair)."""
    return int(np.random.SeedSequence([seed, index]).generate_state(1)[0])


def corpus_clip(index: int, seed: int = 0, *, fps: float = 25.0) -> SyntheticClip:
    """Clip ``index`` of ``build_corpus(..., seed)``, regenerated alone (emotion ``EMOTIONS[index % 9]``)."""
    return synthesize_clip(clip_seed(seed, index), emotion=EMOTIONS[index % len(EMOTIONS)], fps=fps)


def build_corpus(
    num_clips: int, seed: int = 0, *, fps: float = 25.0, progress: Callable[[int, int], None] | None = None
) -> list[SyntheticClip]:
    """``num_clips`` clips balanced over the emotions; ``progress(done, total)`` after each clip."""
    if num_clips < 0:
        raise ValueError(f"num_clips must be >= 0, got {num_clips}")
    clips = []
    for index in range(num_clips):
        clips.append(corpus_clip(index, seed, fps=fps))
        if progress is not None:
            progress(index + 1, num_clips)
    return clips
