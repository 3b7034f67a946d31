"""The vector-quantized image generator (paper §3.3): coefficients + the source face → frames through the codebook."""

from .config import VQIGConfig

__all__ = ["VQIGConfig"]
