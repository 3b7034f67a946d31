"""Phonetic lip sync judged on rendered pixels: does the mouth FaceMesh sees make the shapes of the phones heard?

The phones come from :func:`flowvq_core.evaluation.phones.align` on the real speech; the mouth from FaceMesh
landmarks of the rendered frames (:func:`flowvq_core.evaluation.face_measures.track_frames`). Each score asks one
question a viewer would: do the lips meet on /p b m/, does the jaw open more on open vowels than on close ones,
do the lips narrow on rounded phones and widen on spread ones, is the mouth shut in pauses, and does the opening
follow the loudness of the speech.

Frame t shows the instant ``(t + 0.5) / fps``. A phone's frames are those whose instant lies within it (the frame
showing its middle when it falls between two instants). A bilabial's window is widened by half a frame each side,
so it holds every frame that overlaps it (a 60 ms bilabial spans 1–2 frames at 25 fps), and the bilabial counts as
closed when the lips are closed in any of them.
Frames where FaceMesh found no face are left out of every score.
"""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..audio import prepare_waveform, speech_energy
from ..config import AudioConfig
from .face_measures import lip_gap, mouth_width
from .phones import BILABIALS, CLOSE_VOWELS, OPEN_VOWELS, ROUNDED, SPREAD, Alignment
from .synthetic import lagged_correlation

CLOSED_GAP = 0.01
"""Lip gap (inter-ocular distances) below which the lips count as closed: the middle of the empty stretch between
the closed and the parted lips FaceMesh reads on real faces. On the webp previews of talking-head services (four
clips, inter-ocular 26–103 px) shut lips read 0.0003–0.0047 (0.0058–0.0068 barely parted at the centre), visibly
parted ones 0.013 and up. On our geometric renderer a still head with jawOpen 0 reads 0.001–0.008 (0.0016 at
jawOpen 0.05), jawOpen 0.1 about 0.026, 0.15 about 0.034. FaceMesh's noise grows when the head turns: with the head
jittered by ±0.04 rad, 5 % (256 px) to 13 % (512 px) of shut frames read above 0.01 (2–3 % above 0.02), so a
bilabial is judged on every frame overlapping it and closed if any of them is."""
SILENCE_MINIMUM = 0.3
"""Pauses shorter than this (seconds) are not scored: the mouth need not close between words."""
SILENCE_MARGIN = 0.1
"""Seconds left out at each end of a pause, while the mouth closes after speech and opens before it."""
_RATIO_FLOOR = 1e-3
"""Denominators of the ratios are at least this (inter-ocular distances, below FaceMesh's resolution)."""


@dataclass
class LipSyncScores:
    """How the rendered mouth follows the phones of the speech (lengths in inter-ocular distances)."""

    bilabial_closure: float | None
    """Share of /p b m/ phones during which the lips close (None: no bilabial with a face in view)."""
    bilabials: int
    """Number of bilabials scored."""
    open_vowel_gap: float | None
    """Mean lip gap on open vowels."""
    close_vowel_gap: float | None
    """Mean lip gap on close vowels."""
    open_close_ratio: float | None
    """open / close vowel gap (> 1: the jaw follows vowel height)."""
    rounded_width: float | None
    """Mean mouth width on rounded phones."""
    spread_width: float | None
    """Mean mouth width on spread phones."""
    rounding_ratio: float | None
    """rounded / spread width (< 1: rounding shows)."""
    silence_closed: float | None
    """Share of the frames in pauses (``SILENCE_MINIMUM`` s or longer, less ``SILENCE_MARGIN`` at each end) with the
    lips closed (None: no pause)."""
    energy_correlation: float
    """Pearson correlation of the lip gap with the speech energy at the best lag within ±2 frames (-1 if flat)."""


def _checked_points(points: Any, found: Any) -> tuple[np.ndarray, np.ndarray]:
    points = np.asarray(points, dtype=np.float64)
    if points.ndim != 3 or points.shape[0] == 0 or points.shape[1] < 468 or points.shape[2] not in (2, 3):
        raise ValueError(f"points: expected FaceMesh landmarks [T, >=468, 2 or 3] in pixels, got {points.shape}")
    if not np.isfinite(points).all():
        raise ValueError("points: the landmarks contain NaN or infinite values")
    found = np.ones(len(points), bool) if found is None else np.asarray(found, dtype=bool)
    if found.shape != (len(points),):
        raise ValueError(f"found: expected one flag per frame, shape ({len(points)},), got {found.shape}")
    if not found.any():
        raise ValueError("found: FaceMesh found no face in any frame; there is no mouth to score")
    return points, found


def _mean(values: np.ndarray, frames: list[int]) -> float | None:
    return float(values[sorted(set(frames))].mean()) if frames else None


def _ratio(numerator: float | None, denominator: float | None) -> float | None:
    if numerator is None or denominator is None:
        return None
    return numerator / max(denominator, _RATIO_FLOOR)


def lipsync_scores(
    points: Any,
    fps: float,
    alignment: Alignment,
    waveform: Any,
    sample_rate: int,
    *,
    closed_gap: float = CLOSED_GAP,
    found: Any = None,
) -> LipSyncScores:
    """Scores of the mouth in FaceMesh landmarks ``points`` [T, ≥468, 2|3] (pixels) of frames at ``fps`` against the
    phones of ``alignment`` and the loudness of ``waveform`` (the speech the frames go with, from time 0).

    ``found`` [T] marks the frames where FaceMesh found a face (all when None): the others are left out of the
    phone scores, and their lip gap is interpolated from their neighbours for the energy correlation.
    """
    points, found = _checked_points(points, found)
    if isinstance(fps, bool) or not isinstance(fps, numbers.Real) or not (math.isfinite(fps) and fps > 0):
        raise ValueError(f"fps: must be a positive number of frames per second, got {fps!r}")
    if not (math.isfinite(closed_gap) and closed_gap > 0):
        raise ValueError(f"closed_gap: must be a positive lip gap in inter-ocular distances, got {closed_gap!r}")
    samples = prepare_waveform(waveform, sample_rate, name="waveform").numpy()
    gap, width = lip_gap(points), mouth_width(points)
    instants = (np.arange(len(points)) + 0.5) / fps

    def frames_within(start: float, end: float) -> np.ndarray:
        return np.flatnonzero(found & (instants >= start) & (instants < end))

    def phone_frames(labels: frozenset[str]) -> list[int]:
        """Frames of the phones with these labels; a phone between two instants gets the frame showing its middle."""
        frames: list[int] = []
        for phone in alignment.phones:
            if phone.label in labels:
                middle = int(0.5 * (phone.start + phone.end) * fps)
                within = frames_within(phone.start, phone.end).tolist()
                frames += within or ([middle] if middle < len(points) and found[middle] else [])
        return frames

    closures = []
    for phone in alignment.phones:
        if phone.label in BILABIALS:
            window = frames_within(phone.start - 0.5 / fps, phone.end + 0.5 / fps)
            if window.size:
                closures.append(bool(gap[window].min() < closed_gap))
    pause_frames = [
        int(t)
        for start, end in alignment.silences(SILENCE_MINIMUM)
        for t in frames_within(start + SILENCE_MARGIN, end - SILENCE_MARGIN)
    ]
    open_gap, close_gap = _mean(gap, phone_frames(OPEN_VOWELS)), _mean(gap, phone_frames(CLOSE_VOWELS))
    rounded, spread = _mean(width, phone_frames(ROUNDED)), _mean(width, phone_frames(SPREAD))
    seen = np.flatnonzero(found)
    curve = np.interp(np.arange(len(points)), seen, gap[seen])
    energy = speech_energy(samples, AudioConfig.sample_rate, len(points), fps)
    return LipSyncScores(
        bilabial_closure=float(np.mean(closures)) if closures else None,
        bilabials=len(closures),
        open_vowel_gap=open_gap,
        close_vowel_gap=close_gap,
        open_close_ratio=_ratio(open_gap, close_gap),
        rounded_width=rounded,
        spread_width=spread,
        rounding_ratio=_ratio(rounded, spread),
        silence_closed=float(np.mean(gap[pause_frames] < closed_gap)) if pause_frames else None,
        energy_correlation=lagged_correlation(curve, energy)[0],
    )
