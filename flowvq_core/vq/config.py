"""Sizes of the codebook stage (paper §3.3 uses CodeFormer's VQGAN setting)."""

from __future__ import annotations

from dataclasses import asdict, dataclass


@dataclass(frozen=True)
class CodebookConfig:
    image_size: int = 512
    base_channels: int = 64
    channel_multipliers: tuple[int, ...] = (1, 2, 2, 4, 4, 8)
    """One level per entry; every level but the last halves the resolution (512 → 16 for the paper)."""
    res_blocks: int = 2
    attention_resolutions: tuple[int, ...] = (16,)
    latent_channels: int = 256
    num_codes: int = 1024
    commitment: float = 0.25
    ema_decay: float | None = None

    @property
    def latent_size(self) -> int:
        return self.image_size // 2 ** (len(self.channel_multipliers) - 1)

    @classmethod
    def preset(cls, name: str) -> CodebookConfig:
        """``paper``: 512×512 → 16×16×256, N = 1024; ``tiny``: 64×64 → 16×16×32, N = 128, for tests."""
        presets = {
            "paper": cls(),
            "tiny": cls(
                image_size=64,
                base_channels=16,
                channel_multipliers=(1, 2, 2),
                res_blocks=1,
                latent_channels=32,
                num_codes=128,
            ),  # fmt: skip
        }
        if name not in presets:
            raise ValueError(f"unknown codebook preset {name!r}; choose one of {', '.join(presets)}")
        return presets[name]

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, values: dict) -> CodebookConfig:
        fields = dict(values)
        for name in ("channel_multipliers", "attention_resolutions"):
            fields[name] = tuple(fields[name])
        return cls(**fields)
