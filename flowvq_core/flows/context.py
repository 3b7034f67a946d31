"""The conditioning context c_t of a flow (paper §3.2) and its encoder.

ExpFlow: c_t = [β_0 (source expression), audio of frames t-r..t+r, previous τ frames β_{t-τ..t-1}, emotion].
PoseFlow: c_t = [audio, previous τ poses]. Each part becomes tokens through its own encoder; one shared transformer
mixes them once per frame, and all K flow steps attend to its output.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor, nn

from ..config import AudioConfig, FlowConfig
from .attention import TransformerBlock
from .audio_encoder import AudioEncoder

SILENCE_LEVEL = -AudioConfig().max_abs_value
"""What a log-mel window of silence holds everywhere (the floor of the normalised range)."""
AUDIO_CHUNK_FRAMES = 64
"""Frames per audio-encoder call on the CPU, so long speech does not grow the conv activations (and small calls
stay in cache: one call over a training batch is twice as slow there)."""
AUDIO_CHUNK_FRAMES_CUDA = 8192
"""On a GPU many small convolutions cost ~10× more than one large call (measured in training on an H100)."""


@dataclass
class FrameContext:
    """The raw context of N frames, before the context transformer."""

    audio: Tensor
    """[N, 2r+1, A] audio embeddings of frames t-r..t+r."""
    history: Tensor
    """[N, τ, D] the previous τ coefficient vectors, oldest first."""
    labels: Tensor
    """[N] emotion ids."""
    source: Tensor | None = None
    """[N, D] the source coefficients x_0 (ExpFlow only)."""


@dataclass
class SequenceBatch:
    """B clips of T frames: what training and reference encoding consume."""

    coefficients: Tensor
    """[B, T, D] ground-truth coefficients x_t."""
    windows: Tensor
    """[B, T, n_mels, window_frames] log-mel windows, one per video frame."""
    labels: Tensor
    """[B] emotion id of each clip."""
    source: Tensor
    """[B, D] x_0: the source expression (ExpFlow) or first pose (PoseFlow); it also fills the history before t=0."""


def history_windows(sequence: Tensor, source: Tensor, length: int) -> Tensor:
    """[B, T, τ, D]: for each t the frames t-τ..t-1 of ``sequence``, where frames before 0 are ``source``."""
    batch, frames, dim = sequence.shape
    padded = torch.cat([source.unsqueeze(1).expand(batch, length, dim), sequence], dim=1)
    return padded.unfold(1, length, 1)[:, :frames].transpose(2, 3)


class ContextEncoder(nn.Module):
    def __init__(self, config: FlowConfig, audio: AudioConfig | None = None):
        super().__init__()
        audio = audio or AudioConfig()
        hidden = config.hidden
        self.config = config
        self.window_shape = (audio.n_mels, audio.window_frames)
        self.audio_encoder = AudioEncoder(
            channels=config.audio_channels,
            out_dim=config.audio_dim,
            n_mels=audio.n_mels,
            window_frames=audio.window_frames,
        )
        self.audio_tokens = nn.Linear(config.audio_dim, hidden)
        self.history_tokens = nn.Linear(config.dim, hidden)
        self.dropped_token = nn.Parameter(0.02 * torch.randn(hidden))
        self.source_token = nn.Linear(config.dim, hidden) if config.use_source else None
        self.emotion_token = nn.Embedding(config.num_classes, hidden) if config.use_emotion else None
        num_tokens = int(config.use_source) + int(config.use_emotion) + 2 * config.audio_radius + 1 + config.history
        self.positions = nn.Parameter(0.02 * torch.randn(num_tokens, hidden))
        self.blocks = nn.ModuleList(
            TransformerBlock(hidden, config.heads, config.mlp_ratio) for _ in range(config.context_layers)
        )
        self.norm = nn.LayerNorm(hidden)

    def silence(self, frames: int) -> Tensor:
        """[frames, n_mels, window_frames] log-mel windows of silence."""
        like = self.positions
        return torch.full((frames, *self.window_shape), SILENCE_LEVEL, dtype=like.dtype, device=like.device)

    def embed_audio(self, windows: Tensor) -> Tensor:
        """[B, T, n_mels, W] windows → [B, T, 2r+1, A]: each frame's embeddings of frames t-r..t+r.

        Frames before the start and after the end are silence, as they are in the recording; silence is embedded
        once and shared by every clip.
        """
        batch, frames = windows.shape[:2]
        radius = self.config.audio_radius
        flat = torch.cat([windows.flatten(0, 1), self.silence(1).to(windows.dtype)])
        chunk = AUDIO_CHUNK_FRAMES_CUDA if flat.is_cuda else AUDIO_CHUNK_FRAMES
        embeddings = torch.cat([self.audio_encoder(part) for part in flat.split(chunk)])
        silence = embeddings[-1:].expand(radius, -1).unsqueeze(0).expand(batch, -1, -1)
        embeddings = torch.cat([silence, embeddings[:-1].view(batch, frames, -1), silence], dim=1)
        return embeddings.unfold(1, 2 * radius + 1, 1).transpose(2, 3)

    def forward(self, context: FrameContext) -> Tensor:
        """[N, L, H] context tokens; in training each history frame is dropped with p = history_dropout."""
        tokens = []
        if self.source_token is not None:
            if context.source is None:
                raise ValueError("this flow is conditioned on the source coefficients: pass source")
            tokens.append(self.source_token(context.source).unsqueeze(1))
        if self.emotion_token is not None:
            tokens.append(self.emotion_token(context.labels).unsqueeze(1))
        tokens.append(self.audio_tokens(context.audio))
        history = self.history_tokens(context.history)
        if self.training and self.config.history_dropout > 0:
            dropped = torch.rand(history.shape[:2], device=history.device) < self.config.history_dropout
            history = torch.where(dropped.unsqueeze(-1), self.dropped_token.to(history.dtype), history)
        tokens.append(history)
        hidden = torch.cat(tokens, dim=1) + self.positions
        for block in self.blocks:
            hidden = block(hidden)
        return self.norm(hidden)
