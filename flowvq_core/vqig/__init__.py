"""The vector-quantized image generator (paper §3.3): coefficients + the source face → frames through the codebook."""

from .config import VQIGConfig
from .losses import VQIGLosses, code_level_losses, image_level_loss
from .model import VQIG, VQIGOutput
from .renderer import VQIGRenderer
from .training import VQIGTrainer

__all__ = [
    "VQIG",
    "VQIGConfig",
    "VQIGLosses",
    "VQIGOutput",
    "VQIGRenderer",
    "VQIGTrainer",
    "code_level_losses",
    "image_level_loss",
]
