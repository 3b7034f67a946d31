"""The vector-quantized image generator (paper §3.3): coefficients + the source face → frames through the codebook."""

from .config import VQIGConfig
from .losses import VQIGLosses, code_level_losses, image_level_loss
from .model import VQIG, VQIGOutput

__all__ = ["VQIG", "VQIGConfig", "VQIGLosses", "VQIGOutput", "code_level_losses", "image_level_loss"]
