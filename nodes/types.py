"""The ComfyUI socket types of the pack, and what travels on each."""

from __future__ import annotations

from dataclasses import dataclass

from flowvq_core.generator import ExpressionLatent

GENERATOR = "FLOWVQ_GENERATOR"
"""A ``flowvq_core.generator.CoefficientGenerator`` (ExpFlow + PoseFlow + projection bank)."""
RENDERER = "FLOWVQ_RENDERER"
"""Any ``flowvq_core.rendering.Renderer``: the ``GeometricRenderer`` or a ``VQIGRenderer``."""
FACE = "FLOWVQ_FACE"
"""A ``flowvq_core.pipeline.Portrait``: the photo and its fitted face."""
COEFFS = "FLOWVQ_COEFFS"
"""A ``flowvq_core.coefficients.CoefficientSequence`` (expression β, pose ρ, fps)."""
LATENT = "FLOWVQ_LATENT"
"""An :class:`EmotionCodes`."""
CATEGORY = "FlowVQ"
GENERATOR_INPUT = (GENERATOR, {"tooltip": "From FlowVQ Load Generator."})


@dataclass
class EmotionCodes:
    """ExpFlow latent codes and how strongly their emotion shows (0 neutral talking, 1 as learnt, 2 exaggerated)."""

    latent: ExpressionLatent
    strength: float = 1.0
