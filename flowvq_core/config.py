"""Dataclass configs with presets: ``paper`` (the paper's sizes), ``small`` (the bundled default), ``tiny`` (tests).

Every network takes its sizes from these; a checkpoint stores its config as JSON in the file's metadata so it can
be rebuilt without guessing.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from typing import Any, Literal

from .emotions import NUM_EMOTIONS
from .errors import InvalidOptionError

PRESETS = ("paper", "small", "tiny")


@dataclass(frozen=True)
class AudioConfig:
    """Log-mel features in the Wav2Lip style: 16 kHz, 80 bins, 80 mel frames per second, [-4, 4]."""

    sample_rate: int = 16000
    n_fft: int = 800
    hop_length: int = 200
    win_length: int = 800
    n_mels: int = 80
    fmin: float = 55.0
    fmax: float = 7600.0
    preemphasis: float = 0.97
    ref_level_db: float = 20.0
    min_level_db: float = -100.0
    max_abs_value: float = 4.0
    window_frames: int = 16
    """Mel frames per video frame window (16 frames = 0.2 s)."""

    @property
    def mel_frames_per_second(self) -> float:
        return self.sample_rate / self.hop_length


@dataclass(frozen=True)
class FlowConfig:
    """Sizes of one coefficient flow (ExpFlow or PoseFlow), paper §3.2."""

    dim: int = 64
    """Size of the coefficient vector x_t (β_t for ExpFlow, ρ_t for PoseFlow); a property of the face model. The
    paper's BFM has 64 expression coefficients; :meth:`expression` takes the open rig's 40 units, :meth:`pose` 6."""
    num_steps: int = 8
    """K flow steps (multi-actnorm → invertible 1×1 conv → conditional affine coupling)."""
    hidden: int = 256
    """Token width of the context encoder and of every coupling transformer."""
    heads: int = 4
    context_layers: int = 2
    """Layers of the shared context transformer, computed once per frame."""
    coupling_layers: int = 1
    """Layers of each coupling transformer F (its query is the h1 token, its keys the context tokens)."""
    mlp_ratio: int = 2
    history: int = 10
    """τ previous frames in the context."""
    history_dropout: float = 0.5
    """Probability that a history frame is replaced by the learned "dropped" token during training."""
    audio_radius: int = 4
    """The context holds the audio embeddings of frames t-r..t+r."""
    audio_channels: tuple[int, ...] = (32, 64, 128, 256)
    audio_dim: int = 512
    use_source: bool = True
    """Condition on the source coefficient x_0 (ExpFlow: identity; PoseFlow leaves it out, paper §3.2)."""
    use_emotion: bool = True
    """Condition on the emotion label and use per-emotion actnorm (ExpFlow) or a plain one (PoseFlow)."""
    num_classes: int = NUM_EMOTIONS
    latent: Literal["smm", "gaussian"] = "smm"
    dof: float = 50.0
    """Degrees of freedom ν of the Student-t mixture."""
    learn_means: bool = False
    consistency_weight: float = 0.1
    """Weight of the consistency loss of Eq. 11 (our choice; the paper does not give it)."""

    @property
    def actnorm_classes(self) -> int:
        return self.num_classes if self.use_emotion else 1

    @classmethod
    def expression(cls, preset: str = "paper", dim: int | None = None) -> FlowConfig:
        """ExpFlow: source, audio, history and emotion in the context; Student-t mixture latent. ``dim`` defaults
        to the units of the face rig (``face.rig.NUM_UNITS``), so the default builds the model that runs."""
        return dataclasses.replace(_flow_sizes(preset), dim=rig_units() if dim is None else dim)

    @classmethod
    def pose(cls, preset: str = "paper", dim: int = 6) -> FlowConfig:
        """PoseFlow: audio and pose history only; N(0, I) latent; plain actnorm (paper §3.2)."""
        return dataclasses.replace(_flow_sizes(preset), dim=dim, use_source=False, use_emotion=False, latent="gaussian")


def rig_units() -> int:
    """The expression size of the open face rig, imported on use so that reading a config stays light."""
    from .face.rig import NUM_UNITS

    return NUM_UNITS


def _flow_sizes(preset: str) -> FlowConfig:
    if preset == "paper":
        return FlowConfig()
    if preset == "small":  # the bundled default: fast enough for real time on a 2-core CPU
        return FlowConfig(
            num_steps=4,
            hidden=64,
            heads=4,
            context_layers=1,
            coupling_layers=1,
            audio_channels=(16, 32, 64, 64),
            audio_dim=64,
        )
    if preset == "tiny":
        return FlowConfig(
            num_steps=3,
            hidden=32,
            heads=2,
            context_layers=1,
            coupling_layers=1,
            audio_channels=(8, 16, 16, 32),
            audio_dim=32,
        )
    raise InvalidOptionError(f"unknown preset {preset!r}; choose one of {', '.join(PRESETS)}")


@dataclass(frozen=True)
class GeneratorConfig:
    """The flow-based coefficient generator: ExpFlow + PoseFlow + their audio features."""

    expression: FlowConfig = field(default_factory=FlowConfig.expression)
    pose: FlowConfig = field(default_factory=FlowConfig.pose)
    audio: AudioConfig = field(default_factory=AudioConfig)
    fps: float = 25.0

    @classmethod
    def preset(cls, name: str = "paper", expression_dim: int | None = None, pose_dim: int = 6) -> GeneratorConfig:
        """The sizes of preset ``name``; the expression size defaults to the face rig's units."""
        return cls(
            expression=FlowConfig.expression(name, expression_dim),
            pose=FlowConfig.pose(name, pose_dim),
        )

    def to_json(self) -> str:
        return json.dumps(dataclasses.asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> GeneratorConfig:
        data = json.loads(text)
        return cls(
            expression=_flow_from_dict(data["expression"]),
            pose=_flow_from_dict(data["pose"]),
            audio=AudioConfig(**data["audio"]),
            fps=float(data["fps"]),
        )


def _flow_from_dict(data: dict[str, Any]) -> FlowConfig:
    data = dict(data)
    data["audio_channels"] = tuple(data["audio_channels"])
    return FlowConfig(**data)
