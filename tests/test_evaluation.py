"""The evaluation measures on sequences whose answers are known, and the training corpus file."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from flowvq_core.datasets.corpus import CoefficientCorpus
from flowvq_core.emotions import EMOTIONS
from flowvq_core.evaluation.synthetic import (
    EmotionClassifier,
    _row,
    blink_onsets,
    blinks_per_minute,
    format_table,
    lagged_correlation,
    mouth_energy_correlation,
    pose_drift,
    pose_variability,
    seed_diversity,
    speech_energy,
)
from flowvq_core.face.rig import NUM_UNITS, unit_index


def _syllables(seconds: float, fps: float = 25.0) -> tuple[np.ndarray, np.ndarray]:
    """Tone bursts at 4 Hz and a jawOpen curve that follows them."""
    rate = 16000
    t = np.arange(int(seconds * rate)) / rate
    envelope = np.clip(np.sin(2 * np.pi * 2.0 * t), 0, 1)
    waveform = (0.5 * envelope * np.sin(2 * np.pi * 220 * t)).astype(np.float32)
    frames = round(seconds * fps)
    centres = (np.arange(frames) + 0.5) / fps
    expression = np.zeros((frames, NUM_UNITS), np.float32)
    expression[:, unit_index("jawOpen")] = np.clip(np.sin(2 * np.pi * 2.0 * centres), 0, 1)
    return waveform, expression


def test_mouth_follows_energy_and_a_shifted_mouth_is_found_within_two_frames():
    waveform, expression = _syllables(4.0)
    assert mouth_energy_correlation(expression, waveform, 16000, 25.0) > 0.8
    energy = speech_energy(waveform, 16000, len(expression), 25.0)
    mouth = expression[:, unit_index("jawOpen")]
    value, lag = lagged_correlation(np.roll(mouth, 2), energy)
    assert lag == -2 and value > 0.8
    assert mouth_energy_correlation(np.zeros_like(expression), waveform, 16000, 25.0) == -1.0


def test_blink_rate_and_pose_variability():
    expression = np.zeros((1500, NUM_UNITS), np.float32)  # one minute at 25 fps
    for start in range(0, 1500, 100):  # 15 blinks
        expression[start + 3 : start + 7, [unit_index("eyeBlinkLeft"), unit_index("eyeBlinkRight")]] = 1.0
    assert blinks_per_minute(expression, 25.0) == pytest.approx(15.0)
    assert blink_onsets(expression).tolist() == list(range(3, 1500, 100))
    expression[0, [unit_index("eyeBlinkLeft"), unit_index("eyeBlinkRight")]] = 1.0  # starts closed: one more
    assert blink_onsets(expression)[:2].tolist() == [0, 3]
    pose = np.zeros((1500, 6))
    pose[:, 1] = np.radians(3.0) * np.sign(np.sin(np.arange(1500) / 10))  # ±3° yaw
    assert pose_variability(pose) == pytest.approx(1.0, abs=0.05)  # (0 + 3 + 0) / 3
    pose[:, 0] = np.radians(np.linspace(0.0, 9.0, 1500))  # pitch wanders 9° away
    assert pose_drift(pose) == pytest.approx((9.0 + 3.0 + 0.0) / 3, abs=0.01)  # yaw starts at 0, reaches ±3°


def test_a_row_reports_the_share_of_blinks_in_the_first_second():
    waveform, expression = _syllables(4.0)
    blinks = [unit_index("eyeBlinkLeft"), unit_index("eyeBlinkRight")]
    early, late = expression.copy(), expression.copy()
    early[5:8, blinks] = early[15:18, blinks] = early[60:63, blinks] = 1.0  # two of three in the first second
    late[60:63, blinks] = 1.0
    pose = np.zeros((len(expression), 6))
    rows = [_row(name, [(e, pose, waveform, -1, 25.0)], None) for name, e in (("early", early), ("late", late))]
    assert rows[0].early_blink_share == pytest.approx(2 / 3) and rows[1].early_blink_share == 0.0
    assert rows[0].blinks_per_minute == pytest.approx(45.0)
    assert _row("none", [(expression, pose, waveform, -1, 25.0)], None).early_blink_share is None
    table = format_table(rows)
    assert "1st s" in table and "67 %" in table


def test_seed_diversity_is_zero_for_copies():
    _, expression = _syllables(2.0)
    pose = np.random.default_rng(0).normal(size=(50, 6)) * 0.05
    assert seed_diversity([pose, pose], [expression, expression]) == (0.0, 0.0)
    shifted = pose + np.radians(2.0)
    assert seed_diversity([pose, shifted], [expression, expression])[0] == pytest.approx(2.0, abs=1e-6)


def test_emotion_classifier_separates_distinct_patterns():
    rng = np.random.default_rng(0)
    patterns = rng.random((len(EMOTIONS), NUM_UNITS)) * 0.5

    def clips(count: int) -> tuple[list[np.ndarray], list[int]]:
        labels = [i % len(EMOTIONS) for i in range(count)]
        return [patterns[k] + 0.05 * rng.standard_normal((60, NUM_UNITS)) for k in labels], labels

    classifier = EmotionClassifier.fit(*clips(90))
    test, labels = clips(45)
    accuracy = np.mean([classifier.predict(e) == k for e, k in zip(test, labels, strict=True)])
    assert accuracy > 0.95


def test_corpus_round_trip_and_batches(tmp_path):
    rng = np.random.default_rng(1)
    items = []
    for label in range(3):
        frames = 30 + 10 * label
        waveform = (0.1 * rng.standard_normal(frames * 640)).astype(np.float32)
        expression = rng.random((frames, NUM_UNITS)).astype(np.float32)
        pose = rng.normal(size=(frames, 6)).astype(np.float32)
        items.append((waveform, expression, pose, label, 25.0))
    corpus = CoefficientCorpus.from_waveforms(items, {"seed": "1"})
    corpus.save(tmp_path / "corpus.safetensors")
    loaded = CoefficientCorpus.load(tmp_path / "corpus.safetensors")
    assert len(loaded) == 3 and loaded.metadata == {"seed": "1"} and loaded.labels() == [0, 1, 2]
    assert torch.allclose(loaded.clips[2].expression, corpus.clips[2].expression, atol=5e-4)  # float16
    assert torch.allclose(loaded.clips[1].mel, corpus.clips[1].mel, atol=0.016)  # stored in 8 bits over [-4, 4]
    generator = torch.Generator().manual_seed(0)
    sampler = loaded.sampler()
    batch = sampler.batch("expression", 5, 35, generator)
    assert batch.coefficients.shape == (5, 35, NUM_UNITS) and batch.windows.shape == (5, 35, 80, 16)
    assert set(batch.labels.tolist()) <= {1, 2}, "only clips at least 35 frames long"
    pose_batch = sampler.batch("pose", 4, 20, generator)
    assert torch.equal(pose_batch.source, pose_batch.coefficients[:, 0])
    with pytest.raises(ValueError, match="no clip has 99 frames"):
        sampler.batch("pose", 1, 99, generator)
    with pytest.raises(ValueError, match="kind must be"):
        sampler.batch("voice", 1, 10, generator)
