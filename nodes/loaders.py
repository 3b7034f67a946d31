"""Load Generator and Load Renderer: the models every other block uses."""

from __future__ import annotations

from flowvq_core.face import GeometricRenderer
from flowvq_core.generator import CoefficientGenerator
from flowvq_core.pipeline import DEFAULT_GENERATOR, load_default_generator

from . import comfy
from .types import CATEGORY, GENERATOR, RENDERER

BUNDLED = f"bundled: {DEFAULT_GENERATOR.name}"
"""The choice that loads the generator shipped with the pack (the default when models/flowvq is empty)."""
GEOMETRIC = "geometric (built-in, training-free)"


class FlowVQLoadGenerator:
    DESCRIPTION = "Loads ExpFlow + PoseFlow (paper §3.2) and their manifold-projection bank from one file."
    CATEGORY = f"{CATEGORY}/loaders"
    RETURN_TYPES = (GENERATOR,)
    RETURN_NAMES = ("generator",)
    OUTPUT_TOOLTIPS = ("The coefficient generator: audio + emotion → expression and head-pose curves.",)
    FUNCTION = "load"
    SEARCH_ALIASES = ["talking head", "lip sync", "flowvqtalker"]

    @classmethod
    def INPUT_TYPES(cls):
        return {
            "required": {
                "checkpoint": (
                    [BUNDLED, *comfy.model_files()],
                    {
                        "tooltip": "A generator checkpoint from models/flowvq/, or the one bundled with the pack "
                        "(trained on synthetic espeak-ng speech; see its model card)."
                    },
                )  # fmt: skip
            }
        }

    def load(self, checkpoint: str) -> tuple[CoefficientGenerator]:
        device = comfy.compute_device()
        if checkpoint == BUNDLED:
            return (load_default_generator(device),)
        return (CoefficientGenerator.load(comfy.model_path(checkpoint), device=device).eval(),)


class FlowVQLoadRenderer:
    DESCRIPTION = (
        "The renderer that turns coefficients into frames. 'geometric' warps the photo by the face rig and paints an "
        "open mouth's interior: no training, any CPU."
    )
    CATEGORY = f"{CATEGORY}/loaders"
    RETURN_TYPES = (RENDERER,)
    RETURN_NAMES = ("renderer",)
    OUTPUT_TOOLTIPS = ("A renderer for FlowVQ Render.",)
    FUNCTION = "load"

    @classmethod
    def INPUT_TYPES(cls):
        return {
            "required": {
                "renderer": ([GEOMETRIC], {"tooltip": "Which renderer. Learned VQ renderers will be listed here."}),
                "warp_grid": ("INT", {"default": 32, "min": 8, "max": 128, "step": 8,
                                      "tooltip": "Resolution of the warp field (a finer grid follows the lips and "
                                                 "lids more closely and costs more time)."}),
                "mouth_interior": ("BOOLEAN", {"default": True,
                                               "tooltip": "Paint a dark cavity and teeth where the mouth opens "
                                                          "wider than in the photo."}),
            }
        }  # fmt: skip

    def load(self, renderer: str, warp_grid: int, mouth_interior: bool) -> tuple[GeometricRenderer]:
        if renderer != GEOMETRIC:
            raise ValueError(f"renderer {renderer!r} is not available; choose {GEOMETRIC!r}")
        return (GeometricRenderer(grid_size=warp_grid, mouth_interior=mouth_interior),)
