"""The synthetic corpus: espeak-ng speech with phoneme timings, and the face coefficients that go with it (visemes,
emotion patterns, blinks and head motion), from which the bundled generator is trained.

Nothing here loads espeak-ng at import time; the first call to :func:`speak` (or anything that speaks) does.
"""

from .clips import (
    SyntheticClip,
    build_corpus,
    clip_seed,
    corpus_clip,
    head_pose,
    random_blinks,
    random_sentence,
    random_text,
    synthesize_clip,
)
from .emotion_patterns import EMOTION_STYLES, EmotionStyle, emotion_curves, emotion_style, stress_envelope
from .espeak import EspeakUnavailableError, Phoneme, Speech, available_voices, speak
from .visemes import MOUTH_UNITS, VISEMES, mouth_curves, viseme_of

__all__ = [
    "EMOTION_STYLES",
    "MOUTH_UNITS",
    "VISEMES",
    "EmotionStyle",
    "EspeakUnavailableError",
    "Phoneme",
    "Speech",
    "SyntheticClip",
    "available_voices",
    "random_blinks",
    "build_corpus",
    "clip_seed",
    "corpus_clip",
    "emotion_curves",
    "emotion_style",
    "head_pose",
    "mouth_curves",
    "random_sentence",
    "random_text",
    "speak",
    "stress_envelope",
    "synthesize_clip",
    "viseme_of",
]
