"""A training corpus of coefficient clips with their speech: one safetensors file, and random training batches.

Each clip holds expression β [T, U], pose ρ [T, 6], its emotion id and its log-mel spectrogram (the Wav2Lip
features of ``audio.log_mel``, stored as 8 bits over their fixed [-4, 4] range: steps of 0.03, far below the
features' own noise), so an hour of speech is about 35 MB and needs no audio decoding to train.
Batches are random windows of ``frames`` frames, cut the way the flows expect (``SequenceBatch``: the context
frames and the frames to model).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass

import numpy as np
import torch
from safetensors.torch import load_file, save_file
from torch import Tensor

from ..audio import log_mel, mel_windows
from ..config import AudioConfig
from ..errors import BadFileError, InvalidOptionError
from ..files import atomic_write
from ..flows.context import SequenceBatch

CORPUS_KIND = "flowvq-coefficient-corpus"
_MEL_RANGE = AudioConfig.max_abs_value


def _quantize(mel: Tensor) -> Tensor:
    return ((mel.clamp(-_MEL_RANGE, _MEL_RANGE) + _MEL_RANGE) * (255 / (2 * _MEL_RANGE))).round().to(torch.uint8)


def _dequantize(codes: Tensor) -> Tensor:
    return codes.float() * (2 * _MEL_RANGE / 255) - _MEL_RANGE


@dataclass
class CorpusClip:
    expression: Tensor
    """[T, U] float32"""
    pose: Tensor
    """[T, 6] float32"""
    mel: Tensor
    """[n_mels, M] log-mel of the clip's speech"""
    label: int
    fps: float


class CoefficientCorpus:
    def __init__(self, clips: list[CorpusClip], metadata: dict[str, str] | None = None):
        if not clips:
            raise ValueError("a corpus needs at least one clip")
        self.clips = clips
        self.metadata = dict(metadata or {})

    def __len__(self) -> int:
        return len(self.clips)

    @classmethod
    def from_waveforms(
        cls,
        items: list[tuple[np.ndarray, np.ndarray, np.ndarray, int, float]],
        metadata: dict[str, str] | None = None,
    ) -> CoefficientCorpus:
        """From (waveform 16 kHz, expression, pose, label, fps) tuples: computes each clip's log-mel."""
        clips = [
            CorpusClip(
                expression=torch.as_tensor(expression, dtype=torch.float32),
                pose=torch.as_tensor(pose, dtype=torch.float32),
                mel=log_mel(torch.as_tensor(waveform, dtype=torch.float32)),
                label=int(label),
                fps=float(fps),
            )
            for waveform, expression, pose, label, fps in items
        ]
        return cls(clips, metadata)

    def save(self, path: str | os.PathLike[str]) -> None:
        tensors = {
            "expression": torch.cat([c.expression for c in self.clips]).half(),  # β in 0..1: 5e-4 steps
            "pose": torch.cat([c.pose for c in self.clips]),
            "mel": _quantize(torch.cat([c.mel for c in self.clips], dim=1)),
            "frames": torch.tensor([len(c.expression) for c in self.clips]),
            "mel_frames": torch.tensor([c.mel.shape[1] for c in self.clips]),
            "labels": torch.tensor([c.label for c in self.clips]),
            "fps": torch.tensor([c.fps for c in self.clips], dtype=torch.float64),
        }
        metadata = {"kind": CORPUS_KIND, **self.metadata}
        atomic_write(path, lambda temporary: save_file(tensors, temporary, metadata=metadata))

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> CoefficientCorpus:
        from safetensors import safe_open

        with safe_open(str(path), framework="pt") as handle:
            metadata = handle.metadata() or {}
        if metadata.get("kind") != CORPUS_KIND:
            raise BadFileError(f"{path}: not a FlowVQ coefficient corpus (kind {metadata.get('kind')!r})")
        tensors = load_file(str(path))
        frames, mel_frames = tensors["frames"].tolist(), tensors["mel_frames"].tolist()
        expressions = tensors["expression"].float().split(frames)
        poses = tensors["pose"].split(frames)
        mels = _dequantize(tensors["mel"]).split(mel_frames, dim=1)
        clips = [
            CorpusClip(e, p, m, int(label), float(fps))
            for e, p, m, label, fps in zip(expressions, poses, mels, tensors["labels"], tensors["fps"], strict=True)
        ]
        metadata.pop("kind")
        return cls(clips, metadata)

    def labels(self) -> list[int]:
        return [c.label for c in self.clips]

    def sampler(self, device: str | torch.device = "cpu") -> CorpusSampler:
        """Every frame's coefficients and mel window in flat tensors on ``device``, for fast random batches."""
        return CorpusSampler(self, torch.device(device))

    def describe(self) -> str:
        seconds = sum(len(c.expression) / c.fps for c in self.clips)
        return json.dumps({"clips": len(self.clips), "minutes": round(seconds / 60, 1), **self.metadata})


class CorpusSampler:
    """Random training windows drawn with tensor indexing (no per-clip Python work), on CPU or GPU."""

    def __init__(self, corpus: CoefficientCorpus, device: torch.device):
        clips = corpus.clips
        self.device = device
        self.expression = torch.cat([c.expression for c in clips]).to(device)
        self.pose = torch.cat([c.pose for c in clips]).to(device)
        self.windows = torch.cat([mel_windows(c.mel, len(c.expression), c.fps) for c in clips]).to(device)
        self.lengths = torch.tensor([len(c.expression) for c in clips])
        self.starts = torch.cumsum(self.lengths, 0) - self.lengths
        self.labels = torch.tensor([c.label for c in clips])

    def batch(
        self, kind: str, size: int, frames: int, generator: torch.Generator, *, foreign_source: float = 0.5
    ) -> SequenceBatch:
        """``size`` random windows of ``frames`` frames for the ``"expression"`` or ``"pose"`` flow.

        Expression: x₀ is a random frame of the same clip, or with probability ``foreign_source`` of any clip
        (a portrait's own expression says little about how it should talk). Pose: x₀ is the window's first pose,
        as a portrait's pose starts the head motion at inference. ``generator`` is a CPU generator.
        """
        if kind not in ("expression", "pose"):
            raise ValueError(f"kind must be 'expression' or 'pose', got {kind!r}")
        eligible = torch.nonzero(self.lengths >= frames).flatten()
        if len(eligible) == 0:
            raise InvalidOptionError(f"no clip has {frames} frames; use shorter windows")
        clips = eligible[torch.randint(len(eligible), (size,), generator=generator)]
        offsets = (torch.rand(size, generator=generator) * (self.lengths[clips] - frames + 1)).long()
        first = self.starts[clips] + offsets
        rows = (first[:, None] + torch.arange(frames)).to(self.device)
        values = self.expression if kind == "expression" else self.pose
        if kind == "pose":
            source_rows = first
        else:
            donors = torch.where(
                torch.rand(size, generator=generator) < foreign_source,
                torch.randint(len(self.lengths), (size,), generator=generator),
                clips,
            )
            source_rows = self.starts[donors] + (torch.rand(size, generator=generator) * self.lengths[donors]).long()
        return SequenceBatch(
            coefficients=values[rows],
            windows=self.windows[rows],
            labels=self.labels[clips].to(self.device),
            source=values[source_rows.to(self.device)],
        )
