"""The synthetic corpus: espeak-ng speech and phoneme timings, visemes, emotions, blinks, head pose, reproducibility."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from flowvq_core.audio import frame_count, speech_energy
from flowvq_core.emotions import EMOTIONS
from flowvq_core.face.rig import NUM_UNITS, unit_index
from flowvq_core.synthetic import (
    EMOTION_STYLES,
    MOUTH_UNITS,
    EspeakUnavailableError,
    Phoneme,
    available_voices,
    build_corpus,
    corpus_clip,
    emotion_curves,
    mouth_curves,
    random_blinks,
    random_sentence,
    speak,
    synthesize_clip,
    viseme_of,
)
from flowvq_core.synthetic import espeak as espeak_module


def _espeak_installed() -> bool:
    try:
        available_voices(with_variants=False)
    except EspeakUnavailableError:
        return False
    return True


pytestmark = pytest.mark.skipif(not _espeak_installed(), reason="espeak-ng not installed")

FPS = 25.0
JAW, CLOSE = unit_index("jawOpen"), unit_index("mouthClose")
PRESS = [unit_index("mouthPressLeft"), unit_index("mouthPressRight")]
BROWS = [unit_index(name) for name in ("browInnerUp", "browOuterUpLeft", "browOuterUpRight")]
MOUTH = [unit_index(name) for name in MOUTH_UNITS]


def _frame_at(seconds: float, fps: float = FPS) -> int:
    """The frame whose centre is nearest ``seconds``."""
    return int(np.floor(seconds * fps))


@pytest.fixture(scope="module")
def sentence():
    return speak("The quick brown fox jumps over the lazy dog.")


@pytest.fixture(scope="module")
def train_corpus():
    return build_corpus(9 * 6, seed=11)


@pytest.fixture(scope="module")
def test_corpus():
    return build_corpus(9 * 4, seed=12)


def test_importing_does_not_load_espeak():
    code = "import flowvq_core.synthetic as d; assert d.espeak._library_path is None"
    subprocess.run([sys.executable, "-c", code], check=True)


def test_phoneme_events_are_ordered_and_cover_the_audio(sentence):
    assert sentence.sample_rate == 16000
    assert sentence.waveform.dtype == np.float32 and np.abs(sentence.waveform).max() <= 1.0
    phonemes = sentence.phonemes
    duration = len(sentence.waveform) / sentence.sample_rate
    assert 1.0 < duration < 5.0
    starts = np.array([p.start for p in phonemes])
    ends = np.array([p.end for p in phonemes])
    assert np.all(np.diff(starts) > 0) and np.all(ends > starts)
    assert np.allclose(ends[:-1], starts[1:])  # each phoneme ends where the next begins
    assert starts[0] >= 0 and ends[-1] == pytest.approx(duration)
    assert (ends[-1] - starts[0]) / duration > 0.9
    symbols = [p.symbol for p in phonemes]
    assert {"k", "w", "b", "f", "s", "d", "g"} <= set(symbols)
    assert sum(not symbol.startswith("_") for symbol in symbols) >= 25
    # voiced sound where the phonemes say so, near silence in the trailing pause
    energy = speech_energy(sentence.waveform, 16000, frame_count(len(sentence.waveform), 16000, FPS), FPS)
    fox = next(p for p in phonemes if p.symbol == "0")  # the vowel of "fox"
    assert energy[_frame_at(fox.centre)] > 0.7


def test_voices_and_their_errors():
    voices = available_voices()
    assert {"en-us", "en-gb-x-rp", "en-us+f3", "en-us+m7"} <= set(voices)
    variant = speak("Hello there.", voice="en-gb-x-rp+f2", rate=190, pitch=70, pitch_range=80, word_gap=2)
    plain = speak("Hello there.", voice="en-us")
    assert len(variant.waveform) != len(plain.waveform) or not np.allclose(variant.waveform, plain.waveform)
    with pytest.raises(ValueError, match="unknown espeak voice"):
        speak("Hello.", voice="xx-nowhere")
    with pytest.raises(ValueError, match="unknown espeak voice"):
        speak("Hello.", voice="en-us+nobody")
    with pytest.raises(ValueError, match="rate"):
        speak("Hello.", rate=20)


def test_missing_library_says_how_to_install(monkeypatch):
    monkeypatch.setattr(espeak_module, "_library_path", None)
    monkeypatch.setattr(espeak_module, "_library_candidates", lambda: ["/nonexistent/libespeak-ng.so.1"])
    with pytest.raises(EspeakUnavailableError, match="apt-get install espeak-ng") as error:
        speak("Hello.")
    assert "brew install espeak-ng" in str(error.value)


def test_phoneme_symbols_map_to_visemes():
    assert viseme_of("p") == viseme_of("m") == "bilabial"
    assert viseme_of("f") == "labiodental"
    assert viseme_of("u:") == "close_rounded" and viseme_of("A:") == "open"
    assert viseme_of("_:") == viseme_of("_") == "silence"
    assert viseme_of("aI") == "open"  # a diphthong starts with its first viseme
    assert viseme_of("O9") == "open_rounded"  # unknown symbols fall back on their first character


def test_bilabials_close_the_lips_and_open_vowels_open_the_jaw():
    speech = speak("papa mama baba")
    num_frames = frame_count(len(speech.waveform), 16000, FPS)
    curves = mouth_curves(speech.phonemes, num_frames, FPS, np.random.default_rng(0))
    assert curves.shape == (num_frames, NUM_UNITS)
    assert np.all(np.delete(curves, MOUTH, axis=1) == 0)
    bilabial_jaw, vowel_jaw = [], []
    for phoneme in speech.phonemes:
        if phoneme.symbol in ("p", "b", "m"):
            frame = _frame_at(phoneme.centre)
            assert curves[frame, CLOSE] >= 0.95 * curves[frame, JAW]  # lips meet whatever the jaw does
            assert curves[frame, PRESS].min() > 0.2
            bilabial_jaw.append(curves[frame, JAW])
        elif phoneme.symbol == "A:":
            span = slice(_frame_at(phoneme.start), _frame_at(phoneme.end) + 1)
            vowel_jaw.append(curves[span, JAW].max())
            assert (curves[span, JAW] - curves[span, CLOSE]).max() > 0.25  # lips apart
    assert len(bilabial_jaw) == 6 and len(vowel_jaw) == 3
    assert max(bilabial_jaw) < 0.7 * min(vowel_jaw)


def test_silence_relaxes_to_a_closed_mouth(sentence):
    lead = 0.4
    phonemes = [Phoneme(p.symbol, p.start + lead, p.end + lead) for p in sentence.phonemes]
    num_frames = frame_count(len(sentence.waveform) + int(2 * lead * 16000), 16000, FPS)
    curves = mouth_curves(phonemes, num_frames, FPS, np.random.default_rng(1))
    assert curves[: _frame_at(0.2)].max() < 0.05
    assert curves[_frame_at(phonemes[-1].end + 0.2) :].max() < 0.05
    assert curves[:, JAW].max() > 0.3


def test_jaw_follows_speech_energy():
    for seed in range(3):
        clip = synthesize_clip(seed, emotion="neutral", text="The quick brown fox jumps over the lazy dog.")
        energy = speech_energy(clip.waveform, clip.sample_rate, clip.num_frames, clip.fps)
        assert np.corrcoef(energy, clip.expression[:, JAW])[0, 1] > 0.5


@pytest.mark.parametrize("fps", [25.0, 30.0])
def test_clip_shapes_ranges_and_timing(fps):
    clip = synthesize_clip(3, fps=fps)
    num_frames = frame_count(len(clip.waveform), 16000, fps)
    assert clip.expression.shape == (num_frames, NUM_UNITS) and clip.expression.dtype == np.float32
    assert clip.pose.shape == (num_frames, 6) and clip.pose.dtype == np.float32
    assert clip.waveform.dtype == np.float32 and np.abs(clip.waveform).max() <= 1.0
    assert clip.expression.min() >= 0.0 and clip.expression.max() <= 1.0
    assert np.isfinite(clip.pose).all()
    assert np.abs(np.degrees(clip.pose[:, :3])).max() < 25.0
    assert np.all(np.abs(clip.pose[:, 3:5] - [0.5, 0.47]) < 0.1)
    assert np.all((clip.pose[:, 5] > 0.15) & (clip.pose[:, 5] < 0.25))
    assert clip.phonemes[0].start >= 0.1 and clip.phonemes[-1].end <= clip.duration - 0.1 + 1e-6
    assert clip.emotion in EMOTIONS and clip.text and clip.voice in available_voices()
    for frame in clip.blink_frames:
        assert 0 <= frame < num_frames
        assert clip.expression[frame, unit_index("eyeBlinkLeft")] > 0.3
        assert clip.expression[frame, unit_index("eyeBlinkLeft")] == clip.expression[frame, unit_index("eyeBlinkRight")]


@pytest.mark.parametrize("rate", [12.0, 28.0])
def test_blink_rate_and_gaps(rate):
    fps = 50.0
    curve, peaks = random_blinks(int(600 * fps), fps, np.random.default_rng(int(rate)), rate_per_minute=rate)
    per_minute = len(peaks) / 10.0
    assert 10.0 <= per_minute <= 30.0 and per_minute == pytest.approx(rate, rel=0.15)
    assert np.diff(peaks).min() / fps >= 0.3
    assert curve.min() >= 0.0 and curve.max() <= 1.0
    heights = curve[peaks]
    assert 0.05 < np.mean(heights < 0.8) < 0.3  # occasional half blinks
    assert np.all(heights[heights >= 0.8] >= 0.95)


def test_drawn_blink_rate_is_within_the_natural_range():
    fps = 25.0
    for seed in range(4):
        _, peaks = random_blinks(int(600 * fps), fps, np.random.default_rng(seed))
        assert 9.0 <= len(peaks) / 10.0 <= 31.0


def test_blinks_close_faster_than_they_open():
    fps = 200.0
    curve, peaks = random_blinks(int(120 * fps), fps, np.random.default_rng(3), rate_per_minute=20.0)
    measured = 0
    for peak in peaks:
        height = curve[peak]
        if height < 0.95 or peak < fps or peak > len(curve) - fps:
            continue
        above = curve > 0.1 * height
        start, end = peak, peak
        while above[start - 1]:
            start -= 1
        while above[end + 1]:
            end += 1
        closing, opening = (peak - start) / fps, (end - peak) / fps
        assert 0.04 < closing < 0.1 and 0.1 < opening < 0.2 and closing < opening
        measured += 1
    assert measured >= 20


def test_nearest_centroid_separates_the_nine_emotions(train_corpus, test_corpus):
    assert [clip.emotion for clip in train_corpus[:9]] == list(EMOTIONS)
    assert all(clip.intensity >= 0.5 for clip in train_corpus if clip.emotion != "neutral")
    labels = np.array([EMOTIONS.index(clip.emotion) for clip in train_corpus])
    means = np.stack([clip.expression.mean(0) for clip in train_corpus])
    centroids = np.stack([means[labels == k].mean(0) for k in range(len(EMOTIONS))])
    fresh = np.stack([clip.expression.mean(0) for clip in test_corpus])
    truth = np.array([EMOTIONS.index(clip.emotion) for clip in test_corpus])
    predicted = np.argmin(((fresh[:, None] - centroids[None]) ** 2).sum(-1), axis=1)
    assert (predicted == truth).mean() >= 0.9


def test_talking_is_livelier_than_neutral(train_corpus):
    def brow_motion(emotion: str) -> list[float]:
        return [float(c.expression[:, BROWS].std(0).mean()) for c in train_corpus if c.emotion == emotion]

    assert min(brow_motion("talking")) > 3 * max(brow_motion("neutral"))
    assert list(EMOTION_STYLES) == list(EMOTIONS)
    assert EMOTION_STYLES["talking"].articulation_gain > EMOTION_STYLES["neutral"].articulation_gain


def test_head_motion_is_realistic_and_follows_the_emotion(train_corpus):
    motion = {emotion: [] for emotion in EMOTIONS}
    for clip in train_corpus:
        angles = np.degrees(clip.pose[:, :3])
        spread = angles.std(0)
        assert 0.1 < spread[0] < 4.0 and 0.1 < spread[1] < 5.0 and spread[2] < 2.0
        assert np.abs(angles - angles.mean(0)).max() < 12.0
        motion[clip.emotion].append(spread[:2].mean())
    assert np.mean(motion["angry"] + motion["surprised"]) > np.mean(motion["sad"])


def test_emotion_curves_scale_with_intensity():
    energy = np.zeros(50)
    weak = emotion_curves("happy", 0.5, 50, FPS, energy, np.random.default_rng(0))
    strong = emotion_curves("happy", 1.0, 50, FPS, energy, np.random.default_rng(0))
    smile = unit_index("mouthSmileLeft")
    assert strong[:, smile].mean() == pytest.approx(2 * weak[:, smile].mean())
    assert np.abs(emotion_curves("neutral", 0.0, 50, FPS, energy, np.random.default_rng(0))).max() == 0
    with pytest.raises(ValueError, match="angry, contempt"):
        emotion_curves("bored", 1.0, 50, FPS, energy, np.random.default_rng(0))


def test_same_seed_same_clip_and_corpus_clips_regenerate_alone(train_corpus):
    first, again, other = synthesize_clip(5), synthesize_clip(5), synthesize_clip(6)
    for name in ("waveform", "expression", "pose"):
        np.testing.assert_array_equal(getattr(first, name), getattr(again, name))
    assert (first.text, first.voice, first.emotion, first.blink_frames) == (
        again.text,
        again.voice,
        again.emotion,
        again.blink_frames,
    )
    assert first.text != other.text or not np.array_equal(first.expression, other.expression)
    alone = corpus_clip(7, seed=11)
    np.testing.assert_array_equal(alone.expression, train_corpus[7].expression)
    np.testing.assert_array_equal(alone.waveform, train_corpus[7].waveform)


def test_invalid_arguments_are_clear_errors():
    with pytest.raises(ValueError, match="angry, contempt, disgusted"):
        synthesize_clip(0, emotion="bored")
    with pytest.raises(ValueError, match="intensity"):
        synthesize_clip(0, emotion="happy", intensity=1.5)


def test_build_corpus_reports_progress():
    calls: list[tuple[int, int]] = []
    clips = build_corpus(2, seed=3, progress=lambda done, total: calls.append((done, total)))
    assert calls == [(1, 2), (2, 2)] and [clip.emotion for clip in clips] == ["angry", "contempt"]


def test_sentences_are_varied_and_reproducible():
    sentences = [random_sentence(np.random.default_rng(seed)) for seed in range(500)]
    assert len(set(sentences)) >= 450
    assert sentences[:5] == [random_sentence(np.random.default_rng(seed)) for seed in range(5)]
    assert all(s[0].isupper() and s[-1] in ".?!" for s in sentences)


def test_speech_energy_is_normalised():
    sample_rate = 16000
    waveform = np.zeros(sample_rate, dtype=np.float32)
    waveform[8000:12000] = 0.5 * np.sin(np.arange(4000) * 0.3)
    energy = speech_energy(waveform, sample_rate, 25, 25.0)
    assert energy.shape == (25,) and energy.min() >= 0 and energy.max() == pytest.approx(1.0)
    assert energy[:10].max() == 0 and energy[14] > 0.9
    assert np.all(speech_energy(np.zeros(1600), sample_rate, 3, 25.0) == 0)
