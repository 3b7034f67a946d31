"""Load Generator and Load Renderer: the models every other block uses."""

from __future__ import annotations

from flowvq_core.checkpoint import checkpoint_kind
from flowvq_core.errors import InvalidOptionError
from flowvq_core.face import GeometricRenderer
from flowvq_core.generator import GENERATOR_KIND, CoefficientGenerator
from flowvq_core.pipeline import DEFAULT_GENERATOR, load_default_generator
from flowvq_core.rendering import Renderer
from flowvq_core.vqig.renderer import PRECISIONS, VQIG_KIND, VQIGRenderer

from . import comfy
from .types import CATEGORY, GENERATOR, RENDERER

BUNDLED = f"bundled: {DEFAULT_GENERATOR.name}"
"""The choice that loads the generator shipped with the pack (the default when models/flowvq is empty)."""
GEOMETRIC = "geometric (built-in, training-free)"
VQIG_PREFIX = "vqig: "


def _files_of_kind(kind: str) -> list[str]:
    """Checkpoints in models/flowvq/ that declare ``kind`` (generators and VQ renderers share the folder)."""
    return [name for name in comfy.model_files() if checkpoint_kind(comfy.model_path(name)) == kind]


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
                    [BUNDLED, *_files_of_kind(GENERATOR_KIND)],
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
        "open mouth's interior: no training, any CPU. 'vqig: …' is a trained vector-quantized image generator "
        "(paper §3.3) from models/flowvq/."
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
                "renderer": ([GEOMETRIC, *(VQIG_PREFIX + f for f in _files_of_kind(VQIG_KIND))],
                             {"tooltip": "Which renderer: the geometric one, or a VQIG checkpoint from "
                                         "models/flowvq/."}),
                "warp_grid": ("INT", {"default": 32, "min": 8, "max": 128, "step": 8,
                                      "tooltip": "Geometric renderer: resolution of the warp field (a finer grid "
                                                 "follows the lips and lids more closely and costs more time)."}),
                "mouth_interior": ("BOOLEAN", {"default": True,
                                               "tooltip": "Geometric renderer: paint a dark cavity and teeth where "
                                                          "the mouth opens wider than in the photo."}),
            },
            "optional": {
                "vqig_precision": (list(PRECISIONS), {"default": "float32",
                                                      "tooltip": "VQIG: float32, or bfloat16 autocast (about as "
                                                                 "good, faster and lighter on recent GPUs)."}),
            },
        }  # fmt: skip

    def load(
        self, renderer: str, warp_grid: int, mouth_interior: bool, vqig_precision: str = "float32"
    ) -> tuple[Renderer]:
        if renderer == GEOMETRIC:
            return (GeometricRenderer(grid_size=warp_grid, mouth_interior=mouth_interior),)
        if renderer.startswith(VQIG_PREFIX):
            path = comfy.model_path(renderer[len(VQIG_PREFIX) :])
            return (VQIGRenderer.load(path, device=comfy.compute_device(), precision=vqig_precision),)
        raise InvalidOptionError(
            f"renderer {renderer!r} is not available; choose {GEOMETRIC!r} or a VQIG from the list"
        )
