"""Phone timings from pocketsphinx, checked against espeak-ng, which knows exactly when it said each phoneme."""

from __future__ import annotations

import difflib
import sys

import numpy as np
import pytest

from flowvq_core.evaluation.phones import Alignment, Phone, align, normalise_transcript

pytest.importorskip("pocketsphinx")

ESPEAK_TO_ARPABET = {
    **{symbol: symbol for symbol in ("p", "b", "t", "d", "k", "g", "m", "n", "f", "v", "s", "z", "r", "l", "w")},
    **{"N": "ng", "T": "th", "D": "dh", "S": "sh", "Z": "zh", "tS": "ch", "dZ": "jh", "h": "hh", "j": "y"},
    **{"t#": "t", "d#": "d", "n-": "n", "r-": "r", "*": "t"},  # flapped, syllabic and linking variants
    **dict.fromkeys(("a", "aa"), "ae"),
    **dict.fromkeys(("A:", "A@", "O2", "0"), "aa"),  # American "on", "not" are AA in CMUdict
    **dict.fromkeys(("V", "@", "@2", "@-", "@5", "@L", "a#"), "ah"),  # @L: the AH of syllabic L ("table")
    **dict.fromkeys(("3:", "3"), "er"),
    **dict.fromkeys(("I", "I2", "I#", "i"), "ih"),
    **dict.fromkeys(("i:",), "iy"),
    **dict.fromkeys(("E", "e"), "eh"),
    **dict.fromkeys(("O:", "O", "O@", "o@"), "ao"),
    **{"eI": "ey", "aI": "ay", "aU": "aw", "oU": "ow", "OI": "oy", "U": "uh", "u:": "uw"},
}
"""espeak-ng's English mnemonics → the ARPAbet phone CMUdict uses for the same sound in American speech."""

SENTENCES = ("the big map was on the table by the window", "please bring me five apples and a cup of warm milk")


@pytest.fixture(scope="module")
def speak():
    from flowvq_core.synthetic.espeak import EspeakUnavailableError, speak

    try:
        speak("a")
    except EspeakUnavailableError:
        pytest.skip("espeak-ng not installed")
    return speak


@pytest.mark.parametrize("text", SENTENCES)
def test_forced_alignment_agrees_with_espeaks_own_timing(speak, text):
    speech = speak(text, rate=160)
    expected = [(ESPEAK_TO_ARPABET[p.symbol], p.start) for p in speech.phonemes if not p.symbol.startswith("_")]
    alignment = align(speech.waveform, speech.sample_rate, text.capitalize() + ".")
    found = [(p.label, p.start) for p in alignment.phones if p.label != "sil"]
    matcher = difflib.SequenceMatcher(a=[s for s, _ in expected], b=[s for s, _ in found], autojunk=False)
    differences = [
        found[block.b + k][1] - expected[block.a + k][1]
        for block in matcher.get_matching_blocks()
        for k in range(block.size)
    ]
    assert len(differences) >= 0.8 * len(expected), "pocketsphinx says the same phones as espeak"
    assert np.median(np.abs(differences)) < 0.04
    assert [w.text for w in alignment.words] == text.split() and alignment.transcript == text
    assert all(w.start < w.end for w in alignment.words) and alignment.phones[-1].end <= speech.duration + 0.01


def test_phone_decoding_finds_speech_and_silence_where_espeak_put_them(speak):
    first, second = (speak(text, rate=160) for text in SENTENCES)
    lead, pause = 0.4, 0.8
    waveform = np.concatenate([np.zeros(6400), first.waveform, np.zeros(12800), second.waveform, np.zeros(6400)])
    offsets = (lead, lead + first.duration + pause)
    centres = [
        offset + phoneme.centre
        for speech, offset in zip((first, second), offsets, strict=True)
        for phoneme in speech.phonemes
        if not phoneme.symbol.startswith("_")
    ]
    alignment = align(waveform, 16000)
    assert alignment.words == [] and alignment.transcript is None

    def label_at(time: float) -> str:
        return next(p.label for p in alignment.phones if p.start <= time < p.end)

    spoken = np.mean([label_at(time) not in ("sil", "noise") for time in centres])
    assert spoken > 0.85, "espeak's phonemes are decoded as phones"
    pauses = alignment.silences(0.3)
    assert pauses[0] == (0.0, pytest.approx(lead, abs=0.05))
    gap = (offsets[0] + first.duration, offsets[1])
    assert any(gap[0] - 0.15 < start < gap[0] + 0.1 and gap[1] - 0.1 < end < gap[1] + 0.15 for start, end in pauses)
    assert pauses[-1][1] == pytest.approx(len(waveform) / 16000, abs=0.02)


def test_a_resampled_integer_waveform_aligns_like_the_float_one(speak):
    speech = speak(SENTENCES[0], rate=160)
    reference = align(speech.waveform, 16000, SENTENCES[0])
    from scipy.signal import resample_poly

    loud = resample_poly(speech.waveform, 441, 160) * 30000
    resampled = align(loud.astype(np.int16), 44100, SENTENCES[0])
    assert [p.label for p in resampled.phones] == [p.label for p in reference.phones]
    assert np.median([abs(a.start - b.start) for a, b in zip(resampled.phones, reference.phones, strict=True)]) <= 0.01


def test_bad_input_gets_a_clear_message(speak, monkeypatch):
    speech = speak("hello", rate=160)
    with pytest.raises(ValueError, match="waveform.*empty"):
        align(np.zeros(0, np.float32), 16000)
    with pytest.raises(ValueError, match="waveform.*silent"):
        align(np.zeros(16000, np.float32), 16000, "hello")
    with pytest.raises(ValueError, match="'xyzzyq'.*dictionary"):
        align(speech.waveform, 16000, "hello xyzzyq")
    with pytest.raises(ValueError, match="transcript: no words"):
        align(speech.waveform, 16000, " ... ")
    with pytest.raises(ValueError, match="transcript: could not be aligned"):
        align(speech.waveform, 16000, " ".join(["hello"] * 40))
    with pytest.raises(ValueError, match="pronunciations: 'hullo'.*ARPAbet"):
        align(speech.waveform, 16000, "hello", pronunciations={"hullo": "h q l"})
    with pytest.raises(ValueError, match="pronunciations: 'hello' is in the dictionary already"):
        align(speech.waveform, 16000, "hello", pronunciations={"hello": "hh eh l ow"})
    monkeypatch.setitem(sys.modules, "pocketsphinx", None)
    with pytest.raises(ImportError, match="pip install pocketsphinx"):
        align(speech.waveform, 16000)


def test_a_word_missing_from_the_dictionary_aligns_with_its_pronunciation(speak):
    speech = speak("hello", rate=160)
    alignment = align(speech.waveform, 16000, "Hullo!", pronunciations={"HULLO": "hh ah l ow"})
    assert [w.text for w in alignment.words] == ["hullo"]
    assert [p.label for p in alignment.phones if p.label != "sil"] == ["hh", "ah", "l", "ow"]


def test_transcripts_are_normalised_to_dictionary_words():
    assert normalise_transcript("“Don’t,” said Mr. Cold-Hearted — 'twice'!") == [
        "don't", "said", "mr", "cold", "hearted", "twice",
    ]  # fmt: skip


def test_silences_are_pauses_and_gaps_at_least_the_minimum_long():
    alignment = Alignment(
        phones=[
            Phone("p", 0.2, 0.3),  # 0.2 s uncovered before it
            Phone("sil", 0.3, 0.5),
            Phone("noise", 0.5, 0.7),  # sil + noise: one 0.4 s pause
            Phone("aa", 0.7, 0.9),
            Phone("m", 1.3, 1.4),  # a 0.4 s gap
            Phone("sil", 1.4, 1.6),
        ],
        words=[],
        transcript=None,
    )
    assert alignment.silences() == [(0.3, 0.7), (0.9, 1.3)]
    assert alignment.silences(0.2) == [(0.0, 0.2), (0.3, 0.7), (0.9, 1.3), (1.4, 1.6)]
    assert Alignment([], [], None).silences() == []
