"""Sizes of the vector-quantized image generator (paper §3.3): CodeFormer's setting, 512-px images → 16×16×256
latents, 1024 codes."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

from ..face.rig import NUM_UNITS
from ..vq.config import CodebookConfig


@dataclass(frozen=True)
class VQIGConfig:
    codebook: CodebookConfig = field(default_factory=CodebookConfig)
    coefficient_dim: int = NUM_UNITS + 6
    """[β; ρ] per frame: the rig's expression units and the 6 pose values."""
    window: int = 27
    """Frames of coefficients the mapping network sees around the target frame (PIRenderer's 27)."""
    descriptor_dim: int = 256
    mapping_channels: int = 256
    warp_channels: int = 32
    """Width of the warping hourglass's first level (doubling per level, capped at 8×)."""
    warp_levels: int = 4
    transformer_dim: int = 512
    transformer_layers: int = 9
    heads: int = 8

    @classmethod
    def preset(cls, name: str) -> VQIGConfig:
        """``paper``: 512 px, 9-layer 8-head 512-d transformer; ``tiny``: 64 px, for tests."""
        presets = {
            "paper": cls(),
            "tiny": cls(
                codebook=CodebookConfig.preset("tiny"),
                window=9,
                descriptor_dim=32,
                mapping_channels=32,
                warp_channels=8,
                warp_levels=3,
                transformer_dim=64,
                transformer_layers=2,
                heads=4,
            ),  # fmt: skip
        }
        if name not in presets:
            raise ValueError(f"unknown VQIG preset {name!r}; choose one of {', '.join(presets)}")
        return presets[name]

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, values: dict) -> VQIGConfig:
        fields = dict(values)
        fields["codebook"] = CodebookConfig.from_dict(fields["codebook"])
        return cls(**fields)
