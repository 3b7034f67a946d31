"""Synthetic-corpus measures of generated coefficient sequences (``eval --synthetic``): do the lips follow the
speech, do the eyes blink at a human rate, is the emotion recognisable, does the head move, do seeds differ?

All work on plain arrays (expression [T, U] in the rig's unit order, pose [T, 6], a 16 kHz waveform) so the same
numbers describe the synthetic corpus, generated sequences and coefficients extracted from a real video.
Its emotion classifier is trained on the corpus' own patterns and its speech is espeak-ng's, so these rows debug
training; they are not evidence of what a viewer sees (the outside judges of this package are).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from ..audio import speech_energy
from ..emotions import EMOTIONS
from ..face.rig import unit_index

MAX_LAG = 2
"""Mouth ↔ energy correlation takes the best lag within ±2 frames (audio features look 4 frames ahead)."""
BLINK_THRESHOLD = 0.5


def mouth_opening(expression: np.ndarray) -> np.ndarray:
    """[T] how far the mouth opens: jawOpen (the lips' own units shape the opening more than they size it)."""
    return expression[:, unit_index("jawOpen")]


def lagged_correlation(a: np.ndarray, b: np.ndarray, max_lag: int = MAX_LAG) -> tuple[float, int]:
    """The highest Pearson correlation of a[t] with b[t + lag] over |lag| ≤ max_lag → (correlation, lag)."""
    best = (-1.0, 0)
    for lag in range(-max_lag, max_lag + 1):
        x = a[max(0, -lag) : len(a) - max(0, lag)]
        y = b[max(0, lag) : len(b) - max(0, -lag)]
        if len(x) < 3 or x.std() < 1e-9 or y.std() < 1e-9:
            continue
        value = float(np.corrcoef(x, y)[0, 1])
        if value > best[0]:
            best = (value, lag)
    return best


def mouth_energy_correlation(expression: np.ndarray, waveform: np.ndarray, sample_rate: int, fps: float) -> float:
    return lagged_correlation(mouth_opening(expression), speech_energy(waveform, sample_rate, len(expression), fps))[0]


def mean_blink(expression: np.ndarray) -> np.ndarray:
    """[T] the mean of the two eyeBlink units: how closed the eyes are in each frame, as the coefficients say."""
    return expression[:, [unit_index("eyeBlinkLeft"), unit_index("eyeBlinkRight")]].mean(1)


def blink_onsets(expression: np.ndarray, threshold: float = BLINK_THRESHOLD) -> np.ndarray:
    """Frames where a blink starts: upward crossings of the mean eyeBlink through ``threshold`` (frame 0 if closed)."""
    closed = mean_blink(expression) > threshold
    return np.flatnonzero(np.concatenate([closed[:1], closed[1:] & ~closed[:-1]]))


def blink_count(expression: np.ndarray, threshold: float = BLINK_THRESHOLD) -> int:
    return len(blink_onsets(expression, threshold))


def blinks_per_minute(expression: np.ndarray, fps: float) -> float:
    return blink_count(expression) / (len(expression) / fps / 60.0)


def pose_variability(pose: np.ndarray) -> float:
    """Mean standard deviation over time of pitch, yaw and roll, in degrees."""
    return float(np.degrees(pose[:, :3].std(0)).mean())


def pose_drift(pose: np.ndarray) -> float:
    """How far the head wanders from where it started: the largest |angle − first frame's| over time, in degrees,
    averaged over pitch, yaw and roll (an autoregressive pose model that accumulates error shows it here)."""
    return float(np.degrees(np.abs(pose[:, :3] - pose[:1, :3]).max(0)).mean())


def seed_diversity(poses: list[np.ndarray], expressions: list[np.ndarray]) -> tuple[float, float]:
    """Across sequences of the same audio from different seeds: (mean pairwise RMS pose difference in degrees,
    mean pairwise 1 − correlation of the blink curves; 0 = identical blinks, ~1 = unrelated)."""
    pose_gaps, blink_gaps = [], []
    for i in range(len(poses)):
        for j in range(i + 1, len(poses)):
            pose_gaps.append(float(np.degrees(np.sqrt(((poses[i][:, :3] - poses[j][:, :3]) ** 2).mean()))))
            a, b = mean_blink(expressions[i]), mean_blink(expressions[j])
            same = a.std() > 1e-6 and b.std() > 1e-6
            blink_gaps.append(1.0 - float(np.corrcoef(a, b)[0, 1]) if same else float(not np.allclose(a, b)))
    return float(np.mean(pose_gaps)), float(np.mean(blink_gaps))


def clip_features(expression: np.ndarray) -> np.ndarray:
    """What the emotion classifier sees: each unit's mean and standard deviation over the clip, and mouth
    liveliness (the mean absolute frame-to-frame change of the mouth opening)."""
    liveliness = np.abs(np.diff(mouth_opening(expression))).mean() if len(expression) > 1 else 0.0
    return np.concatenate([expression.mean(0), expression.std(0), [liveliness]])


@dataclass
class EmotionClassifier:
    """A linear classifier (multinomial logistic regression on standardised clip features) of the 9 emotions.

    Trained on the corpus' own coefficients, it judges whether generated sequences carry the emotion asked for.
    """

    mean: np.ndarray
    scale: np.ndarray
    weights: np.ndarray
    bias: np.ndarray

    @classmethod
    def fit(
        cls, expressions: list[np.ndarray], labels: list[int], steps: int = 500, l2: float = 1e-3
    ) -> EmotionClassifier:
        features = np.stack([clip_features(e) for e in expressions])
        mean, scale = features.mean(0), features.std(0) + 1e-6
        x = (features - mean) / scale
        y = np.eye(len(EMOTIONS))[labels]
        weights = np.zeros((x.shape[1], len(EMOTIONS)))
        bias = np.zeros(len(EMOTIONS))
        for _ in range(steps):  # full-batch gradient descent: a convex problem of a few hundred rows
            logits = x @ weights + bias
            probabilities = np.exp(logits - logits.max(1, keepdims=True))
            probabilities /= probabilities.sum(1, keepdims=True)
            gradient = (probabilities - y) / len(x)
            weights -= 0.5 * (x.T @ gradient + l2 * weights)
            bias -= 0.5 * gradient.sum(0)
        return cls(mean, scale, weights, bias)

    def predict(self, expression: np.ndarray) -> int:
        x = (clip_features(expression) - self.mean) / self.scale
        return int(np.argmax(x @ self.weights + self.bias))


HELD_OUT_SEED = 1
"""Held-out synthetic clips come from this corpus seed (the bundled generator is trained on seed 0)."""


@dataclass
class SequenceMetrics:
    """One row of the evaluation table (means over the clips it covers)."""

    name: str
    clips: int
    mouth_correlation: float
    blinks_per_minute: float
    emotion_accuracy: float | None
    pose_std_degrees: float
    pose_drift_degrees: float
    early_blink_share: float | None = None
    """Share of the blinks that start in the first second of a clip (a start-up artefact shows here; blinks spread
    evenly give about 1 s over the clip length)."""
    seed_pose_rms_degrees: float | None = None
    seed_blink_decorrelation: float | None = None


def _row(
    name: str,
    items: list[tuple[np.ndarray, np.ndarray, np.ndarray, int, float]],
    classifier: EmotionClassifier | None,
) -> SequenceMetrics:
    """items: (expression, pose, waveform 16 kHz, emotion id or -1, fps)."""
    correlations = [mouth_energy_correlation(e, w, 16000, fps) for e, _, w, _, fps in items]
    minutes = sum(len(e) / fps for e, _, _, _, fps in items) / 60
    onsets = [blink_onsets(e) / fps for e, _, _, _, fps in items]
    blinks = sum(len(o) for o in onsets)
    labelled = [(e, k) for e, _, _, k, _ in items if k >= 0]
    accuracy = None
    if classifier is not None and labelled:
        accuracy = float(np.mean([classifier.predict(e) == k for e, k in labelled]))
    return SequenceMetrics(
        name=name,
        clips=len(items),
        mouth_correlation=float(np.mean(correlations)),
        blinks_per_minute=blinks / minutes,
        emotion_accuracy=accuracy,
        pose_std_degrees=float(np.mean([pose_variability(p) for _, p, *_ in items])),
        pose_drift_degrees=float(np.mean([pose_drift(p) for _, p, *_ in items])),
        early_blink_share=sum(int((o < 1.0).sum()) for o in onsets) / blinks if blinks else None,
    )


def evaluate(
    generator,
    *,
    clips: int = 18,
    seeds: int = 3,
    classifier_clips: int = 180,
    videos: tuple[str, ...] = (),
    use_projection: bool | None = None,
    temperature: float | None = None,
    held_out_seed: int = HELD_OUT_SEED,
    progress: Callable[[str], None] | None = None,
) -> list[SequenceMetrics]:
    """Rows: held-out synthetic ground truth (corpus ``held_out_seed``); the generator on the same audio (seeds
    0..seeds−1, the clip's emotion); the same at strength 0 (accuracy = share judged neutral); and for each real
    video its extracted coefficients and the generator driven by its audio."""
    import torch

    from ..audio import audio_features
    from ..emotions import NEUTRAL_ID, emotion_id
    from ..synthetic.clips import corpus_clip

    say = progress or (lambda message: None)
    say(f"training the emotion classifier on {classifier_clips} corpus clips")
    training = [corpus_clip(i) for i in range(classifier_clips)]
    classifier = EmotionClassifier.fit([c.expression for c in training], [emotion_id(c.emotion) for c in training])
    options = {"use_projection": use_projection, "temperature": temperature}
    truth, generated, calm = [], [], []
    pose_gaps, blink_gaps = [], []
    for index in range(clips):
        clip = corpus_clip(index, seed=held_out_seed)
        label = emotion_id(clip.emotion)
        say(f"held-out clip {index + 1}/{clips} ({clip.emotion})")
        truth.append((clip.expression, clip.pose, clip.waveform, label, clip.fps))
        speech = audio_features((clip.waveform, clip.sample_rate), clip.fps)
        source_expression = torch.from_numpy(clip.expression[0])
        source_pose = torch.from_numpy(clip.pose[0])
        runs = [
            generator.generate(speech, source_expression, source_pose, label, seed=s, **options) for s in range(seeds)
        ]
        expressions = [r.expression[0].cpu().numpy() for r in runs]
        poses = [r.pose[0].cpu().numpy() for r in runs]
        generated += [(e, p, clip.waveform, label, clip.fps) for e, p in zip(expressions, poses, strict=True)]
        if seeds > 1:
            pose_gap, blink_gap = seed_diversity(poses, expressions)
            pose_gaps.append(pose_gap)
            blink_gaps.append(blink_gap)
        neutral = generator.generate(speech, source_expression, source_pose, label, seed=0, strength=0.0, **options)
        calm.append((neutral.expression[0].cpu().numpy(), neutral.pose[0].cpu().numpy(), clip.waveform, NEUTRAL_ID,
                     clip.fps))  # fmt: skip
    rows = [_row("synthetic ground truth", truth, classifier)]
    row = _row("generated", generated, classifier)
    if pose_gaps:
        row.seed_pose_rms_degrees = float(np.mean(pose_gaps))
        row.seed_blink_decorrelation = float(np.mean(blink_gaps))
    rows += [row, _row("generated, strength 0 (→ neutral)", calm, classifier)]
    for path in videos:
        rows += _video_rows(generator, path, classifier, seeds, say, options)
    return rows


def _video_rows(
    generator, path: str, classifier: EmotionClassifier, seeds: int, say, options: dict
) -> list[SequenceMetrics]:
    from ..audio import audio_features
    from ..face import extract_video
    from ..video import read_video

    say(f"video {path}")
    clip = read_video(path)
    if clip.waveform is None:
        raise ValueError(f"video {path}: it has no audio track; evaluation needs the speech")
    fitted = extract_video(clip.frames)
    expression, pose = fitted.expression.numpy(), fitted.pose.numpy()
    speech = audio_features((clip.waveform, clip.sample_rate), clip.fps)
    waveform = speech.waveform.numpy()
    frames = min(len(expression), speech.num_frames)
    label = classifier.predict(expression)
    real = [(expression[:frames], pose[:frames], waveform, -1, clip.fps)]
    runs = [
        generator.generate(speech, fitted.expression[0], fitted.pose[0], label, seed=s, **options) for s in range(seeds)
    ]
    made = [(r.expression[0].cpu().numpy(), r.pose[0].cpu().numpy(), waveform, label, clip.fps) for r in runs]
    name = os.path.basename(path)
    return [_row(f"{name}: extracted", real, None), _row(f"{name}: generated ({EMOTIONS[label]})", made, classifier)]


def format_table(rows: list[SequenceMetrics]) -> str:
    def number(value: float | None, digits: int = 2) -> str:
        return "—" if value is None else f"{value:.{digits}f}"

    header = (f"{'sequences':<36} {'clips':>5} {'mouth r':>7} {'blinks/min':>10} {'emotion acc':>11} "
              f"{'1st s':>5} {'pose std°':>9} {'drift°':>6} {'seed pose Δ°':>12} {'seed blink 1−r':>14}")  # fmt: skip
    lines = [header, "-" * len(header)]
    for r in rows:
        accuracy = "—" if r.emotion_accuracy is None else f"{100 * r.emotion_accuracy:.0f} %"
        early = "—" if r.early_blink_share is None else f"{100 * r.early_blink_share:.0f} %"
        lines.append(
            f"{r.name:<36} {r.clips:>5} {r.mouth_correlation:>7.2f} {r.blinks_per_minute:>10.1f} {accuracy:>11} "
            f"{early:>5} "
            f"{r.pose_std_degrees:>9.2f} {r.pose_drift_degrees:>6.1f} {number(r.seed_pose_rms_degrees):>12} "
            f"{number(r.seed_blink_decorrelation):>14}"
        )
    return "\n".join(lines)
