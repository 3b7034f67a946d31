"""The nine emotion classes and their fixed ids.

The ids are part of every checkpoint: the order never changes. "talking" is the paper's ninth class, speech
without a pronounced emotion (HDTF style).
"""

from __future__ import annotations

from .errors import InvalidOptionError

EMOTIONS: tuple[str, ...] = (
    "angry",
    "contempt",
    "disgusted",
    "fear",
    "happy",
    "neutral",
    "sad",
    "surprised",
    "talking",
)
NUM_EMOTIONS = len(EMOTIONS)
NEUTRAL_ID = EMOTIONS.index("neutral")
"""The class that emotion strength 0 falls back to: calm speech."""
MAX_STRENGTH = 2.0
"""Emotion strength runs from 0 (neutral talking) through 1 (the emotion as learnt) to this (exaggerated)."""


def emotion_id(emotion: str | int) -> int:
    """Return the class id of an emotion name or id, with a clear error for anything else."""
    if isinstance(emotion, bool):
        raise InvalidOptionError(
            f"emotion must be a name or an id, not {emotion!r}; choose one of {', '.join(EMOTIONS)}"
        )
    if isinstance(emotion, int):
        if 0 <= emotion < NUM_EMOTIONS:
            return emotion
        raise InvalidOptionError(
            f"emotion id {emotion} is out of range 0..{NUM_EMOTIONS - 1}; choose one of {', '.join(EMOTIONS)}"
        )
    name = str(emotion).strip().lower()
    if name in EMOTIONS:
        return EMOTIONS.index(name)
    raise InvalidOptionError(f"unknown emotion {emotion!r}; choose one of {', '.join(EMOTIONS)}")
