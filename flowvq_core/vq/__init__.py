"""The codebook stage of the vector-quantized image generator (paper §3.3): quantizer, encoder E_h, decoder D_h."""

from .quantizer import CodebookUsage, Quantized, VectorQuantizer

__all__ = ["CodebookUsage", "Quantized", "VectorQuantizer"]
