"""Speech and phoneme timings from espeak-ng through its C library (ctypes).

The library is loaded at the first call, never at import time, so the package imports on machines without espeak-ng.
Synthesis runs in ``AUDIO_OUTPUT_SYNCHRONOUS`` mode with phoneme events enabled: the synth callback receives the
samples and, with them, one ``espeakEVENT_PHONEME`` per phoneme whose ``audio_position`` (ms) is where it starts.
espeak-ng keeps global state and is not thread-safe, so every call into it holds one module-wide lock; each call
loads a fresh copy of the library so that its output depends on nothing synthesised before (see ``_Session``).
The structures and constants below follow ``espeak-ng/speak_lib.h`` (API revision 12).
"""

from __future__ import annotations

import _ctypes
import ctypes
import ctypes.util
import functools
import os
import threading
from dataclasses import dataclass, field
from math import gcd

import numpy as np
from scipy import signal

from ..errors import InvalidOptionError, MissingDependencyError

SAMPLE_RATE = 16000
"""Rate of every waveform this module returns (the rate of :mod:`flowvq_core.audio`)."""

PAUSE_SYMBOL = "_"
"""Symbol of a pause phoneme (espeak's own mnemonic for silence between clauses)."""

VOICE_VARIANTS: tuple[str, ...] = ("m1", "m2", "m3", "m4", "m5", "m6", "m7", "f1", "f2", "f3", "f4")
"""espeak voice variants (``voices/!v``) offered on top of every English voice as ``<voice>+<variant>``."""

INSTALL_HINT = (
    "install espeak-ng (`sudo apt-get install espeak-ng` on Debian/Ubuntu, `brew install espeak-ng` on macOS)"
)

_LIBRARY_CANDIDATES: tuple[str, ...] = (
    "libespeak-ng.so.1",
    "libespeak-ng.so",
    "libespeak-ng.1.dylib",
    "/opt/homebrew/lib/libespeak-ng.dylib",
    "/usr/local/lib/libespeak-ng.dylib",
    "libespeak-ng.dll",
)
"""Where the shared library is looked for, after ``ctypes.util.find_library("espeak-ng")``."""

# speak_lib.h constants
_AUDIO_OUTPUT_SYNCHRONOUS = 2
_INITIALIZE_PHONEME_EVENTS = 0x0001
_INITIALIZE_DONT_EXIT = 0x8000  # without it a missing data directory makes espeak call exit()
_EVENT_LIST_TERMINATED = 0
_EVENT_PHONEME = 7
_CHARS_UTF8 = 1
_POS_CHARACTER = 1
_EE_OK = 0
_PARAM_RATE, _PARAM_PITCH, _PARAM_RANGE, _PARAM_WORDGAP = 1, 3, 4, 7
_RATE_RANGE = (80, 450)  # espeakRATE_MINIMUM, espeakRATE_MAXIMUM (words per minute)


class EspeakUnavailableError(MissingDependencyError):
    """espeak-ng's library or its data cannot be found or initialised."""


class _EventId(ctypes.Union):
    _fields_ = [("number", ctypes.c_int), ("name", ctypes.c_char_p), ("string", ctypes.c_char * 8)]


class _Event(ctypes.Structure):
    """``espeak_EVENT``."""

    _fields_ = [
        ("type", ctypes.c_int),
        ("unique_identifier", ctypes.c_uint),
        ("text_position", ctypes.c_int),
        ("length", ctypes.c_int),
        ("audio_position", ctypes.c_int),
        ("sample", ctypes.c_int),
        ("user_data", ctypes.c_void_p),
        ("id", _EventId),
    ]


class _Voice(ctypes.Structure):
    """``espeak_VOICE``."""

    _fields_ = [
        ("name", ctypes.c_char_p),
        ("languages", ctypes.c_void_p),  # priority byte + name, repeated, ended by an empty name: read by hand
        ("identifier", ctypes.c_char_p),
        ("gender", ctypes.c_ubyte),
        ("age", ctypes.c_ubyte),
        ("variant", ctypes.c_ubyte),
        ("xx1", ctypes.c_ubyte),
        ("score", ctypes.c_int),
        ("spare", ctypes.c_void_p),
    ]


_SynthCallback = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.POINTER(ctypes.c_short), ctypes.c_int, ctypes.POINTER(_Event))


@dataclass(frozen=True)
class Phoneme:
    """One phoneme in espeak's mnemonics (``p``, ``aI``, ``3:``, ``_`` for a pause) and its span in seconds."""

    symbol: str
    start: float
    end: float

    @property
    def centre(self) -> float:
        return 0.5 * (self.start + self.end)


@dataclass
class Speech:
    """A synthesised utterance: float32 mono waveform in [-1, 1] and its phoneme timings."""

    waveform: np.ndarray
    sample_rate: int = SAMPLE_RATE
    phonemes: list[Phoneme] = field(default_factory=list)

    @property
    def duration(self) -> float:
        return len(self.waveform) / self.sample_rate


class _Session:
    """One freshly loaded, initialised copy of the library; ``close()`` terminates and unloads it.

    espeak-ng keeps synthesis state in static variables that no API resets (the pitch-flutter phase, the gain
    control, the roughness cycle), so an utterance depends on everything synthesised before it in the process.
    Loading a fresh copy for every call (about 3 ms) makes the same request give the same samples, whatever came
    before. Cost: espeak-ng 1.51 does not free everything at ``espeak_Terminate`` (about 8 KB per call stays
    allocated), so a very long corpus build is best split over processes. Use only with ``_LOCK`` held.
    """

    def __init__(self, path: str):
        self._lib = ctypes.CDLL(path)
        self._declare_prototypes()
        self.native_rate = self._lib.espeak_Initialize(
            _AUDIO_OUTPUT_SYNCHRONOUS, 0, None, _INITIALIZE_PHONEME_EVENTS | _INITIALIZE_DONT_EXIT
        )
        data_path = ctypes.c_char_p()
        self._lib.espeak_Info(ctypes.byref(data_path))
        data_dir = os.fsdecode(data_path.value or b"")
        if self.native_rate <= 0 or not os.path.isfile(os.path.join(data_dir, "phontab")):
            self.close()
            raise EspeakUnavailableError(
                f"espeak-ng's library loaded but its data was not found (looked in {data_dir or 'the default path'}; "
                f"set ESPEAK_DATA_PATH to the folder holding espeak-ng-data, or {INSTALL_HINT})"
            )
        self._samples: list[np.ndarray] = []
        self._events: list[tuple[str, int]] = []
        self._callback = _SynthCallback(self._on_synth)  # kept referenced: espeak holds a raw pointer to it
        self._lib.espeak_SetSynthCallback(self._callback)

    def __enter__(self) -> _Session:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        """Stop espeak's internal thread, free its memory and unload this copy of the library."""
        self._lib.espeak_Terminate()
        _unload(self._lib)

    def _declare_prototypes(self) -> None:
        lib = self._lib
        lib.espeak_Initialize.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_char_p, ctypes.c_int]
        lib.espeak_Initialize.restype = ctypes.c_int
        lib.espeak_Info.argtypes = [ctypes.POINTER(ctypes.c_char_p)]
        lib.espeak_Info.restype = ctypes.c_char_p
        lib.espeak_SetSynthCallback.argtypes = [_SynthCallback]
        lib.espeak_SetSynthCallback.restype = None
        lib.espeak_SetVoiceByName.argtypes = [ctypes.c_char_p]
        lib.espeak_SetVoiceByName.restype = ctypes.c_int
        lib.espeak_SetParameter.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_int]
        lib.espeak_SetParameter.restype = ctypes.c_int
        lib.espeak_Synth.argtypes = [
            ctypes.c_void_p,
            ctypes.c_size_t,
            ctypes.c_uint,
            ctypes.c_int,
            ctypes.c_uint,
            ctypes.c_uint,
            ctypes.POINTER(ctypes.c_uint),
            ctypes.c_void_p,
        ]
        lib.espeak_Synth.restype = ctypes.c_int
        lib.espeak_Synchronize.argtypes = []
        lib.espeak_Synchronize.restype = ctypes.c_int
        lib.espeak_ListVoices.argtypes = [ctypes.POINTER(_Voice)]
        lib.espeak_ListVoices.restype = ctypes.POINTER(ctypes.POINTER(_Voice))
        lib.espeak_Terminate.argtypes = []
        lib.espeak_Terminate.restype = ctypes.c_int

    def _on_synth(self, wav: ctypes.POINTER(ctypes.c_short), num_samples: int, events: ctypes.POINTER(_Event)) -> int:
        if wav and num_samples > 0:
            self._samples.append(np.ctypeslib.as_array(wav, shape=(num_samples,)).copy())
        index = 0
        while events and events[index].type != _EVENT_LIST_TERMINATED:
            event = events[index]
            if event.type == _EVENT_PHONEME:
                self._events.append((event.id.string.decode("utf-8", "replace"), event.audio_position))
            index += 1
        return 0  # continue synthesis

    def list_voices(self, spec_language: str | None) -> list[tuple[str, list[str]]]:
        """(identifier, languages) of the installed voices; ``spec_language="variant"`` lists the voice variants."""
        spec = None
        if spec_language is not None:
            spec = _Voice(languages=ctypes.cast(ctypes.c_char_p(spec_language.encode()), ctypes.c_void_p))
        table = self._lib.espeak_ListVoices(ctypes.byref(spec) if spec is not None else None)
        voices = []
        index = 0
        while table[index]:
            voice = table[index].contents
            voices.append((os.fsdecode(voice.identifier or b""), _read_languages(voice.languages)))
            index += 1
        return voices

    def variants(self) -> set[str]:
        """Names of the installed voice variants (``m1``, ``f3``, ``klatt``, ...)."""
        return {identifier.rsplit("/", 1)[-1] for identifier, _ in self.list_voices("variant")}

    def select_voice(self, voice: str) -> bool:
        """Make ``voice`` (a voice file name such as ``en-us``, optionally ``+variant``) current; False if unknown.

        espeak silently ignores an unknown variant, so the variant is checked against the installed ones first.
        """
        _, plus, variant = voice.partition("+")
        if plus and variant not in self.variants():
            return False
        return self._lib.espeak_SetVoiceByName(voice.encode()) == _EE_OK

    def synthesize(
        self, text: str, voice: str, parameters: dict[int, int], seed: int
    ) -> tuple[np.ndarray, list[tuple[str, int]]]:
        """int16 samples at ``native_rate`` and (symbol, start ms) phoneme events of ``text``."""
        if not self.select_voice(voice):
            raise InvalidOptionError(
                f"unknown espeak voice {voice!r}; choose one of available_voices(), e.g. en-us, en-us+f3"
            )
        for parameter, value in parameters.items():
            self._lib.espeak_SetParameter(parameter, value, 0)
        self._samples, self._events = [], []
        _seed_libc_rand(seed)
        encoded = text.encode("utf-8") + b"\0"
        status = self._lib.espeak_Synth(encoded, len(encoded), 0, _POS_CHARACTER, 0, _CHARS_UTF8, None, None)
        if status != _EE_OK:
            raise RuntimeError(f"espeak_Synth failed with status {status} for text {text[:40]!r}")
        self._lib.espeak_Synchronize()
        samples = np.concatenate(self._samples) if self._samples else np.zeros(0, np.int16)
        return samples, self._events


def _read_languages(pointer: int | None) -> list[str]:
    """Decode espeak_VOICE.languages: (priority byte, NUL-terminated name) pairs, ended by a zero priority byte."""
    names: list[str] = []
    offset = 0
    while pointer and ctypes.string_at(pointer + offset, 1) != b"\0":
        name = ctypes.string_at(pointer + offset + 1)
        names.append(name.decode("utf-8", "replace"))
        offset += len(name) + 2  # the priority byte, the name and its NUL
    return names


@functools.cache
def _libc() -> ctypes.CDLL | None:
    """The C library (looked up once: ``find_library`` may run external tools)."""
    name = ctypes.util.find_library("c")
    return ctypes.CDLL(name) if name is not None else None


def _seed_libc_rand(seed: int) -> None:
    """Seed the C library's ``rand()``, from which espeak-ng draws the breath noise of some voices."""
    libc = _libc()
    if libc is not None:
        libc.srand(ctypes.c_uint(seed))


def _unload(library: ctypes.CDLL) -> None:
    """Release ``library``; the system unmaps it (and its static state) once nothing else holds it."""
    if os.name == "nt":
        _ctypes.FreeLibrary(library._handle)
    else:
        _ctypes.dlclose(library._handle)


_LOCK = threading.Lock()
_library_path: str | None = None
"""The library that loaded at the first call, reused by every later call."""


def _library_candidates() -> list[str]:
    found = ctypes.util.find_library("espeak-ng")
    return ([found] if found else []) + list(_LIBRARY_CANDIDATES)


def _open_session() -> _Session:
    """A fresh session on the library found at the first call (the caller holds ``_LOCK``)."""
    global _library_path
    if _library_path is None:
        errors = []
        for candidate in _library_candidates():
            try:
                _unload(ctypes.CDLL(candidate))
            except OSError as error:
                errors.append(f"{candidate}: {error}")
                continue
            _library_path = candidate
            break
        else:
            raise EspeakUnavailableError(
                f"the espeak-ng library (libespeak-ng) was not found; {INSTALL_HINT}. Tried: {'; '.join(errors)}"
            )
    return _Session(_library_path)


def available_voices(*, with_variants: bool = True) -> list[str]:
    """English voices of the installed espeak-ng (``en-us``, ``en-gb-x-rp``, ...), then ``<voice>+<variant>``.

    Variants are the male/female variants of :data:`VOICE_VARIANTS` that exist in the installed data.
    """
    with _LOCK, _open_session() as session:
        candidates = sorted(
            {
                identifier.rsplit("/", 1)[-1].lower()
                for identifier, languages in session.list_voices(None)
                if not identifier.startswith("mb/")  # MBROLA voices need extra databases
                and any(language == "en" or language.startswith("en-") for language in languages)
            }
        )
        voices = [voice for voice in candidates if session.select_voice(voice)]
        installed_variants = session.variants()
    if not with_variants:
        return voices
    variants = [variant for variant in VOICE_VARIANTS if variant in installed_variants]
    return voices + [f"{voice}+{variant}" for voice in voices for variant in variants]


def speak(
    text: str,
    *,
    voice: str = "en-us",
    rate: int = 160,
    pitch: int = 50,
    pitch_range: int = 50,
    word_gap: int = 0,
    seed: int = 0,
) -> Speech:
    """Synthesise ``text`` at 16 kHz with its phoneme timings.

    ``rate`` is in words per minute (80–450), ``pitch`` and ``pitch_range`` 0–100 (50 = the voice's normal),
    ``word_gap`` the extra pause between words in units of 10 ms. Every phoneme ends where the next begins, the
    last one at the end of the audio; pauses appear as :data:`PAUSE_SYMBOL` (``_``, ``_:``).
    espeak-ng varies its waveform with the C library's ``rand()``; ``seed`` seeds it (``srand``) right before the
    synthesis, so the same arguments give the same speech (unless another thread calls ``rand()`` meanwhile).
    """
    if not text.strip():
        raise InvalidOptionError("speak: the text is empty; give words to say")
    if not _RATE_RANGE[0] <= rate <= _RATE_RANGE[1]:
        raise InvalidOptionError(
            f"speak: rate must be in {_RATE_RANGE[0]}..{_RATE_RANGE[1]} words per minute, got {rate}"
        )
    for name, value in (("pitch", pitch), ("pitch_range", pitch_range)):
        if not 0 <= value <= 100:
            raise InvalidOptionError(f"speak: {name} must be in 0..100, got {value}")
    if word_gap < 0:
        raise InvalidOptionError(f"speak: word_gap must be >= 0, got {word_gap}")
    parameters = {_PARAM_RATE: rate, _PARAM_PITCH: pitch, _PARAM_RANGE: pitch_range, _PARAM_WORDGAP: word_gap}
    with _LOCK, _open_session() as session:
        samples, events = session.synthesize(text, voice, parameters, seed % 2**32)
        native_rate = session.native_rate
    divisor = gcd(SAMPLE_RATE, native_rate)
    waveform = signal.resample_poly(
        samples.astype(np.float64) / 32768.0, SAMPLE_RATE // divisor, native_rate // divisor
    )
    waveform = np.clip(waveform, -1.0, 1.0).astype(np.float32)
    return Speech(waveform=waveform, phonemes=_phoneme_spans(events, len(waveform) / SAMPLE_RATE))


def _phoneme_spans(events: list[tuple[str, int]], duration: float) -> list[Phoneme]:
    """Turn (symbol, start ms) events into contiguous spans; empty or zero-length entries are dropped."""
    phonemes = []
    for index, (symbol, start_ms) in enumerate(events):
        start = min(start_ms / 1000.0, duration)
        end = min(events[index + 1][1] / 1000.0, duration) if index + 1 < len(events) else duration
        if symbol and end > start:
            phonemes.append(Phoneme(symbol, start, end))
    return phonemes
