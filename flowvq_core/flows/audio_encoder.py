"""Per-frame audio encoder: a Wav2Lip-style conv net from one mel window to one embedding vector."""

from __future__ import annotations

import torch
from torch import nn


class ConvBlock(nn.Module):
    """Conv2d → BatchNorm2d (→ + input when residual) → ReLU."""

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        stride: int | tuple[int, int] = 1,
        residual: bool = False,
    ) -> None:
        super().__init__()
        if residual and (in_channels != out_channels or stride != 1):
            raise ValueError("a residual block keeps its channels and size: in == out and stride 1")
        self.conv = nn.Conv2d(in_channels, out_channels, kernel_size=3, stride=stride, padding=1, bias=False)
        self.norm = nn.BatchNorm2d(out_channels)
        self.residual = residual

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.norm(self.conv(x))
        return torch.relu(out + x if self.residual else out)


class AudioEncoder(nn.Module):
    """Mel windows ``[N, n_mels, window_frames]`` → embeddings ``[N, out_dim]``.

    Four stages at ``channels[0..3]``, each a strided conv block plus residual 3×3 blocks, take 80×16 down to
    27×16, 9×6 and 3×3 (strides (3, 1), 3, (3, 2)); a final conv (kernel up to 3×3, no padding) reduces 3×3 to 1×1
    and an adaptive average pool covers other input sizes. The final conv is linear (no BatchNorm, no ReLU) so the
    embedding is signed and batches of one work in training mode.
    """

    _STRIDES: tuple[int | tuple[int, int], ...] = (1, (3, 1), 3, (3, 2))
    _RESIDUAL_BLOCKS = (2, 2, 2, 1)

    def __init__(
        self,
        channels: tuple[int, ...] = (32, 64, 128, 256),
        out_dim: int = 512,
        n_mels: int = 80,
        window_frames: int = 16,
    ) -> None:
        super().__init__()
        if len(channels) != len(self._STRIDES):
            raise ValueError(f"AudioEncoder needs {len(self._STRIDES)} channel sizes, got {channels}")
        self.n_mels = n_mels
        self.window_frames = window_frames
        layers: list[nn.Module] = []
        in_channels = 1
        height, width = n_mels, window_frames
        for out_channels, stride, repeats in zip(channels, self._STRIDES, self._RESIDUAL_BLOCKS, strict=True):
            layers.append(ConvBlock(in_channels, out_channels, stride))
            layers += [ConvBlock(out_channels, out_channels, residual=True) for _ in range(repeats)]
            sh, sw = stride if isinstance(stride, tuple) else (stride, stride)
            height, width = (height - 1) // sh + 1, (width - 1) // sw + 1
            in_channels = out_channels
        self.features = nn.Sequential(*layers)
        self.project = nn.Conv2d(in_channels, out_dim, kernel_size=(min(3, height), min(3, width)))
        self.pool = nn.AdaptiveAvgPool2d(1)

    def forward(self, mel: torch.Tensor) -> torch.Tensor:
        if mel.ndim != 3 or mel.shape[1:] != (self.n_mels, self.window_frames):
            raise ValueError(
                f"AudioEncoder expects mel windows [N, {self.n_mels}, {self.window_frames}], got {tuple(mel.shape)}"
            )
        x = self.features(mel.unsqueeze(1))
        return self.pool(self.project(x)).flatten(1)
