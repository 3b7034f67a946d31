"""The face images of a prepared folder, as the codebook and the VQIG train on them (paper §3.3).

Photos come from ``crops/`` (FFHQ), video frames from ``frames/<id>.mp4`` with the clip's coefficients from
``clips/<id>.safetensors`` (both written by ``prepare``, one frame per coefficient frame). Every draw takes a
``torch.Generator``, so a batch depends only on its seed: what makes ``--resume`` exact and lets data-loading
workers build batches in any order. Only the frames drawn are decoded (``prepare`` writes a keyframe every 12
frames), about 10 ms a frame at 512 px, so a batch costs the same whether the data hold ten clips or a million.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from ..errors import BadFileError
from ..vqig.mapping import coefficient_windows
from .prepare import prepared_sources, source_file_name


@dataclass
class MotionBatch:
    """What a VQIG step takes: per target frame, a source frame of the same clip and the target's coefficient window."""

    sources: Tensor
    """[B, 3, S, S] in −1..1."""
    targets: Tensor
    """[B, 3, S, S] in −1..1."""
    windows: Tensor
    """[B, D, window] the [β; ρ] of the frames around each target."""


class PreparedFaces:
    def __init__(self, root: str | os.PathLike[str], split: str = "train", *, size: int):
        """The finished sources of ``split`` in ``root`` (a ``prepare`` output), served at ``size`` pixels."""
        self.root = Path(root)
        self.size = size
        self.photos: list[Path] = []
        self.clips: list[tuple[Path, Path, int]] = []
        """(frames video, coefficient corpus, frame count) of each clip."""
        for entry in prepared_sources(self.root, split):
            name = source_file_name(entry["id"])
            if entry.get("layout") == "ffhq":
                self.photos.append(self.root / "crops" / f"{name}.png")
            elif (self.root / "frames" / f"{name}.mp4").is_file():
                frames = self.root / "frames" / f"{name}.mp4"
                self.clips.append((frames, self.root / "clips" / f"{name}.safetensors", int(entry["frames"])))
        self._clip_starts = np.cumsum([0] + [count for _, _, count in self.clips])
        """Index of each clip's first frame among all frames (and the total at the end)."""
        self._coefficients: dict[Path, Tensor] = {}

    def __len__(self) -> int:
        """Face images in all: photos plus video frames."""
        return len(self.photos) + int(self._clip_starts[-1])

    def image_batch(self, count: int, generator: torch.Generator, *, flip: bool = True) -> Tensor:
        """``count`` images [B, 3, S, S] in −1..1, each a random photo or a random frame of a random clip (every
        face image equally likely), mirrored at random when ``flip``."""
        if len(self) == 0:
            raise BadFileError(f"{self.root}: no face images; prepare photos (--layout ffhq) or videos first")
        picks = torch.randint(len(self), (count,), generator=generator).tolist()
        mirrors = torch.rand(count, generator=generator) < 0.5
        images = []
        for pick, mirror in zip(picks, mirrors.tolist(), strict=True):
            image = self._photo(pick) if pick < len(self.photos) else self._frame_at(pick - len(self.photos))
            images.append(image.flip(-1) if flip and mirror else image)
        return torch.stack(images)

    def motion_batch(self, count: int, window: int, generator: torch.Generator) -> MotionBatch:
        """``count`` (source, target, coefficient window) triples, each from a random clip (never mirrored: the
        coefficients name left and right)."""
        if not self.clips:
            raise BadFileError(f"{self.root}: no video clips with face frames; run prepare on talking videos")
        sources, targets, windows = [], [], []
        for _ in range(count):
            clip = int(torch.randint(len(self.clips), (1,), generator=generator))
            frames_path, corpus_path, frames = self.clips[clip]
            motion = self._windows(corpus_path, window)
            source, target = torch.randint(min(frames, len(motion)), (2,), generator=generator).tolist()
            pair = self._frames(frames_path, [source, target])
            sources.append(pair[0])
            targets.append(pair[1])
            windows.append(motion[target])
        return MotionBatch(torch.stack(sources), torch.stack(targets), torch.stack(windows))

    def _photo(self, index: int) -> Tensor:
        from PIL import Image

        with Image.open(self.photos[index]) as image:
            pixels = np.asarray(image.convert("RGB"))
        return self._to_model(torch.from_numpy(pixels)[None])[0]

    def _frame_at(self, index: int) -> Tensor:
        """Frame ``index`` counted over all clips in order."""
        clip = int(np.searchsorted(self._clip_starts, index, side="right")) - 1
        return self._frames(self.clips[clip][0], [index - int(self._clip_starts[clip])])[0]

    def _frames(self, path: Path, indices: list[int]) -> Tensor:
        """Frames ``indices`` of a clip [N, 3, S, S] in −1..1."""
        from ..video import read_frames

        return self._to_model(torch.from_numpy(read_frames(path, indices)))

    def _windows(self, corpus_path: Path, window: int) -> Tensor:
        """[T, D, window] coefficient windows of a clip's frames ([β; ρ] per frame)."""
        if corpus_path not in self._coefficients:
            from .corpus import CoefficientCorpus

            clip = CoefficientCorpus.load(corpus_path).clips[0]
            coefficients = torch.cat([torch.as_tensor(clip.expression), torch.as_tensor(clip.pose)], -1).float()
            self._coefficients[corpus_path] = coefficients
        return coefficient_windows(self._coefficients[corpus_path][None], window)

    def _to_model(self, pixels: Tensor) -> Tensor:
        """uint8 [N, H, W, 3] → float [N, 3, S, S] in −1..1 at the model's size."""
        images = pixels.permute(0, 3, 1, 2).float() / 127.5 - 1
        if images.shape[-1] != self.size or images.shape[-2] != self.size:
            images = F.interpolate(images, size=(self.size, self.size), mode="bilinear", antialias=True,
                                   align_corners=False)  # fmt: skip
        return images
