"""The face model: landmarks, the expression rig, fitting, crop/paste-back and the geometric renderer.

``extract(image)`` fits one photo and ``extract_video(frames)`` a sequence; ``GeometricRenderer`` turns a fitted
face and new coefficients back into pixels.
"""

from .extract import FittedFace, FittedVideo, extract, extract_video
from .renderer import GeometricRenderer
from .rig import FACE_MODEL_ID, NUM_UNITS, UNIT_NAMES, ExpressionRig

__all__ = [
    "FACE_MODEL_ID",
    "NUM_UNITS",
    "UNIT_NAMES",
    "ExpressionRig",
    "FittedFace",
    "FittedVideo",
    "GeometricRenderer",
    "extract",
    "extract_video",
]
