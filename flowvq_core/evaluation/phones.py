"""Phone timings of English speech from pocketsphinx: forced alignment to a transcript, or phone decoding without one.

The lip-sync judge needs to know when real speech makes its bilabials, open vowels and pauses. pocketsphinx ships
an English acoustic model, the CMU dictionary and a phone language model in its wheel, so both work offline:

- with a transcript, the words are aligned to the audio (``Decoder.set_align_text``), then a second pass aligns
  their phones (``Decoder.set_alignment`` / ``get_alignment``): the calls and settings of the
  ``pocketsphinx align -phone_align yes`` command (no bestpath, no language model), which reproduce its alignments
  of the LibriVox clips in pocketsphinx's own tests exactly, but with wider beams: with the default ones, fast
  synthetic speech (espeak-ng at 200 words per minute) sometimes finds no path through the transcript at all;
- without one, phones are decoded freely (allphone search with the phone bigram ``en-us-phone.lm.bin`` and the
  settings CMU recommends for phone recognition: language weight 2, beams 1e-20); on those clips about two
  thirds of the 10 ms frames carry the phone that forced alignment gives, and 95–100 % agree on silence vs speech.

Digitally silent samples (synthetic speech, zero padding) get a noise floor of -80 dBFS first: on exact zeros
pocketsphinx's cepstral mean normalisation goes astray and phone decoding called a fifth of the frames of two padded
espeak sentences wrongly speech or silence (one in twenty with the floor). Recordings hold few exact zeros: the
forced alignments of the LibriVox clips stay the same to the frame.

Phones are ARPAbet in lower case without stress digits (``aa``, ``p``); silence is ``sil``, the model's noise
phones (``+NSN+``, ``+SPN+``) are ``noise``. Times are in seconds at pocketsphinx's 10 ms frames.
pocketsphinx is imported at the first call, never at import time.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..audio import prepare_waveform
from ..config import AudioConfig
from ..errors import BadAudioError, InvalidOptionError, MissingDependencyError

BILABIALS = frozenset({"p", "b", "m"})
"""Phones made with the lips closed."""
OPEN_VOWELS = frozenset({"aa", "ae", "ao", "aw", "ay"})
"""Vowels with the jaw open (``aw``, ``ay`` open at their start). ``ah`` is left out: without stress digits it is
mostly the reduced schwa of "the", "a", "of" (CMUdict's AH0), spoken with the jaw barely open."""
CLOSE_VOWELS = frozenset({"iy", "ih", "uw", "uh"})
"""Vowels with the jaw nearly closed."""
ROUNDED = frozenset({"uw", "ow", "w"})
"""Phones with rounded, protruded lips (``uh`` and ``er`` are rounded too little, too inconsistently, to count)."""
SPREAD = frozenset({"iy", "ih", "eh"})
"""Front vowels, spoken with the lips spread."""
SILENT = frozenset({"sil", "noise"})
"""Labels of no speech: silence and the model's noise phones."""
PHONE_CLASSES = {"bilabial": BILABIALS, "open vowel": OPEN_VOWELS, "close vowel": CLOSE_VOWELS,
                 "rounded": ROUNDED, "spread": SPREAD}  # fmt: skip
"""The classes the lip-sync scores and the mouth close-ups look at, by name."""

FRAME_RATE = 100
"""pocketsphinx frames per second (10 ms frames)."""
_MODEL_AUDIO = AudioConfig(sample_rate=16000)
"""pocketsphinx's English acoustic model hears 16 kHz audio."""

INSTALL_HINT = "`pip install pocketsphinx` (5.1), or the eval extra: `pip install 'flowvq-talker[eval]'`"

_ALIGN_BEAMS = {"beam": 1e-120, "wbeam": 1e-100, "pbeam": 1e-120, "lpbeam": 1e-100}
_ALLPHONE_SETTINGS = {"lw": 2.0, "beam": 1e-20, "pbeam": 1e-20}
_NOISE_PHONES = frozenset({"+nsn+", "+spn+"})
_NOISE_FLOOR = 1e-4
"""Standard deviation of the noise put where the waveform is digitally silent (-80 dBFS, about 3 LSB of int16)."""


@dataclass(frozen=True)
class Phone:
    """One phone (ARPAbet, lower case, no stress digit; ``sil``, ``noise``) and its span in seconds."""

    label: str
    start: float
    end: float


@dataclass(frozen=True)
class Word:
    """One word of the transcript as spoken (lower case) and its span in seconds."""

    text: str
    start: float
    end: float


@dataclass
class Alignment:
    """The phones of an utterance in time order, its words (empty without a transcript) and the normalised
    transcript (None when the phones were decoded without one)."""

    phones: list[Phone]
    words: list[Word]
    transcript: str | None

    def silences(self, minimum: float = 0.3) -> list[tuple[float, float]]:
        """(start, end) of the pauses at least ``minimum`` seconds long: runs of silence or noise phones and of time
        no phone covers (before the first phone, between phones), merged where they touch."""
        spans: list[list[float]] = []
        cursor = 0.0
        for phone in self.phones:
            if phone.start > cursor:
                spans.append([cursor, phone.start])
            if phone.label in SILENT:
                spans.append([phone.start, phone.end])
            cursor = max(cursor, phone.end)
        merged: list[list[float]] = []
        for start, end in spans:
            if merged and start <= merged[-1][1] + 1e-9:
                merged[-1][1] = max(merged[-1][1], end)
            else:
                merged.append([start, end])
        return [(start, end) for start, end in merged if end - start >= minimum - 1e-9]


def _pocketsphinx() -> Any:
    try:
        import pocketsphinx
    except ImportError as error:
        raise MissingDependencyError(f"phone timings need pocketsphinx: {INSTALL_HINT}") from error
    return pocketsphinx


def _pcm(waveform: Any, sample_rate: int) -> bytes:
    """16-bit mono PCM at 16 kHz, as pocketsphinx reads it, with a fixed noise floor where it is exactly zero
    (module docstring); int16 input without zeros comes back bit-exact."""
    samples = prepare_waveform(waveform, sample_rate, name="waveform", config=_MODEL_AUDIO).numpy().astype(np.float64)
    pcm = np.round(samples * 32768.0)
    silent = pcm == 0
    pcm[silent] = np.round(np.random.default_rng(0).normal(0.0, _NOISE_FLOOR * 32768.0, int(silent.sum())))
    return np.clip(pcm, -32768, 32767).astype(np.int16).tobytes()


def normalise_transcript(text: str) -> list[str]:
    """The words of ``text`` as the dictionary spells them: lower case, punctuation dropped (hyphens split words,
    apostrophes inside words stay: "don't")."""
    tokens = re.findall(r"[\w']+", text.lower().replace("\u2019", "'").replace("_", " "))
    return [word for word in (token.strip("'") for token in tokens) if word]


def _label(name: str) -> str:
    label = re.sub(r"\d", "", name).lower()
    return "noise" if label in _NOISE_PHONES else label


def _decode(decoder: Any, pcm: bytes) -> None:
    decoder.start_utt()
    decoder.process_raw(pcm, full_utt=True)
    decoder.end_utt()


def _forced(pcm: bytes, transcript: str, pronunciations: Mapping[str, str]) -> Alignment:
    pocketsphinx = _pocketsphinx()
    words = normalise_transcript(transcript)
    if not words:
        raise InvalidOptionError(
            f"transcript: no words in {transcript!r}; give the words spoken, or None to decode phones"
        )
    decoder = pocketsphinx.Decoder(lm=None, bestpath=False, loglevel="FATAL", **_ALIGN_BEAMS)
    for word, phones in pronunciations.items():
        known = decoder.lookup_word(word.lower())
        if known is not None:
            raise InvalidOptionError(
                f"pronunciations: {word!r} is in the dictionary already (as {known.lower()!r}); give only missing words"
            )
        try:
            decoder.add_word(word.lower(), " ".join(phones.upper().split()), True)
        except RuntimeError as error:
            raise InvalidOptionError(
                f"pronunciations: {word!r} → {phones!r} is not a sequence of the model's ARPAbet phones "
                "(space-separated, without stress digits, e.g. 'd ae sh w uh d')"
            ) from error
    missing = sorted({word for word in words if decoder.lookup_word(word) is None})
    if missing:
        raise InvalidOptionError(
            f"transcript: {', '.join(map(repr, missing))} not in pocketsphinx's dictionary (it has no letter-to-sound "
            "rules); spell numbers and abbreviations out as spoken, or give their phones with "
            "pronunciations={'word': 'w er d'}"
        )
    text = " ".join(words)
    decoder.set_align_text(text)
    _decode(decoder, pcm)
    if decoder.hyp() is None:
        raise BadAudioError(
            "transcript: could not be aligned to the speech (no path through all its words); check that the "
            "transcript is what the waveform says, all of it"
        )
    decoder.set_alignment()
    _decode(decoder, pcm)
    result = decoder.get_alignment()
    phones = [Phone(_label(p.name), p.start / FRAME_RATE, (p.start + p.duration) / FRAME_RATE) for p in result.phones()]
    spoken = [
        Word(re.sub(r"\(\d+\)$", "", w.name), w.start / FRAME_RATE, (w.start + w.duration) / FRAME_RATE)
        for w in result.words()
        if not w.name.startswith(("<", "[", "+"))  # <sil>, <s>, </s> and noise words
    ]
    return Alignment(phones=phones, words=spoken, transcript=text)


def _allphone(pcm: bytes) -> Alignment:
    pocketsphinx = _pocketsphinx()
    decoder = pocketsphinx.Decoder(
        allphone=pocketsphinx.get_model_path("en-us/en-us-phone.lm.bin"), loglevel="FATAL", **_ALLPHONE_SETTINGS
    )
    _decode(decoder, pcm)
    phones = [Phone(_label(s.word), s.start_frame / FRAME_RATE, (s.end_frame + 1) / FRAME_RATE) for s in decoder.seg()]
    return Alignment(phones=phones, words=[], transcript=None)


def align(
    waveform: Any, sample_rate: int, transcript: str | None = None, *, pronunciations: Mapping[str, str] | None = None
) -> Alignment:
    """Phone timings of English speech ``waveform`` ([S] or [C, S], float or integer, any rate).

    With ``transcript``, forced alignment of its words (normalised by :func:`normalise_transcript`; words missing
    from the CMU dictionary raise ``ValueError`` naming them, unless ``pronunciations`` gives their ARPAbet phones);
    without, free phone decoding. Raises ``ValueError`` for an empty, silent or unalignable waveform.
    """
    pcm = _pcm(waveform, sample_rate)
    alignment = _forced(pcm, transcript, pronunciations or {}) if transcript is not None else _allphone(pcm)
    if not alignment.phones:
        raise BadAudioError("waveform: pocketsphinx found no phones in it; give at least a second of speech")
    return alignment
