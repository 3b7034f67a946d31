"""The codebook stage of the vector-quantized image generator (paper §3.3): a VQGAN of E_h, codebook C and D_h."""

from .autoencoder import CodebookModel, Reconstruction
from .checkpoint import CodebookCheckpoint, load_codebook, save_codebook
from .config import CodebookConfig
from .discriminator import PatchDiscriminator
from .perceptual import PerceptualLoss
from .quantizer import CodebookUsage, Quantized, VectorQuantizer
from .training import CodebookTrainer

__all__ = [
    "CodebookCheckpoint",
    "CodebookConfig",
    "CodebookModel",
    "CodebookTrainer",
    "CodebookUsage",
    "PatchDiscriminator",
    "PerceptualLoss",
    "Quantized",
    "Reconstruction",
    "VectorQuantizer",
    "load_codebook",
    "save_codebook",
]
