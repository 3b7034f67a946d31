"""Render coefficients into frames, paste them back into the photo, and the all-in-one Talking Face node."""

from __future__ import annotations

from typing import Any

import torch

from flowvq_core.coefficients import CoefficientSequence
from flowvq_core.emotions import EMOTIONS
from flowvq_core.errors import InvalidOptionError
from flowvq_core.face import GeometricRenderer
from flowvq_core.face.crop import paste_back
from flowvq_core.generator import CoefficientGenerator
from flowvq_core.pipeline import Portrait, TalkingFacePipeline, load_default_generator
from flowvq_core.rendering import Renderer, render_chunks

from . import comfy
from .motion import SEED, STRENGTH
from .types import CATEGORY, COEFFS, FACE, GENERATOR, RENDERER


class FlowVQRender:
    DESCRIPTION = "Renders the portrait's face crop for every frame of the coefficients, with a face MASK."
    CATEGORY = f"{CATEGORY}/render"
    RETURN_TYPES = ("IMAGE", "MASK")
    RETURN_NAMES = ("frames", "face_mask")
    OUTPUT_TOOLTIPS = ("The face crops [T, S, S, 3] (S: Extract 3DMM's crop size).",
                       "Where the face is in each crop (1 inside; all ones from a VQIG, which draws the whole "
                       "crop).")  # fmt: skip
    FUNCTION = "render"

    @classmethod
    def INPUT_TYPES(cls):
        return {
            "required": {
                "renderer": (RENDERER, {"tooltip": "From FlowVQ Load Renderer."}),
                "face": (FACE, {"tooltip": "From FlowVQ Extract 3DMM: the photo to animate."}),
                "coefficients": (COEFFS, {"tooltip": "From Pose Flow, Expression Flow, Edit or Load Coefficients."}),
                "sample": ("INT", {"default": 0, "min": 0, "max": 63,
                                   "tooltip": "Which sequence to render when the coefficients hold several."}),
            }
        }  # fmt: skip

    def render(
        self, renderer: Renderer, face: Portrait, coefficients: CoefficientSequence, sample: int
    ) -> tuple[torch.Tensor, torch.Tensor]:
        if sample >= coefficients.num_samples:
            raise InvalidOptionError(
                f"sample {sample} does not exist; the coefficients hold {coefficients.num_samples}"
            )
        expression, pose = coefficients.expression[sample], coefficients.pose[sample]
        progress = comfy.progress_bar(expression.shape[0])
        chunks = render_chunks(renderer, face.source_for(renderer), expression, pose, masks=True, progress=progress)
        frames, masks = [], []
        for crop, mask in chunks:
            frames.append(crop.to(comfy.output_device()))
            masks.append(mask.to(comfy.output_device()))
        return torch.cat(frames), torch.cat(masks)


class FlowVQPasteBack:
    DESCRIPTION = "Blends rendered face crops back into the original photo, so the video keeps its resolution."
    CATEGORY = f"{CATEGORY}/render"
    RETURN_TYPES = ("IMAGE",)
    RETURN_NAMES = ("frames",)
    OUTPUT_TOOLTIPS = ("Full-size frames [T, H, W, 3].",)
    FUNCTION = "paste"

    @classmethod
    def INPUT_TYPES(cls):
        return {
            "required": {
                "image": ("IMAGE", {"tooltip": "The original portrait (the first image is used)."}),
                "frames": ("IMAGE", {"tooltip": "Face crops from FlowVQ Render (or an upscaler after it, scaled "
                                                "back to the crop size)."}),
                "face": (FACE, {"tooltip": "From FlowVQ Extract 3DMM: where the crop lies in the photo."}),
                "feather": ("FLOAT", {"default": 0.1, "min": 0.0, "max": 0.5, "step": 0.01,
                                      "tooltip": "Width of the soft edge, as a share of the crop."}),
            },
            "optional": {"face_mask": ("MASK", {"tooltip": "Blend only the face (FlowVQ Render's mask)."})},
        }  # fmt: skip

    def paste(
        self,
        image: torch.Tensor,
        frames: torch.Tensor,
        face: Portrait,
        feather: float,
        face_mask: torch.Tensor | None = None,
    ) -> tuple[torch.Tensor]:
        box = face.face.crop
        if tuple(image.shape[1:3]) != (box.image_height, box.image_width):
            raise InvalidOptionError(
                f"image is {image.shape[2]}x{image.shape[1]} but the face was extracted from a "
                f"{box.image_width}x{box.image_height} image; connect the same image as Extract 3DMM's"
            )
        pasted = paste_back(image[:1].float(), frames.float(), box, mask=face_mask, feather=feather)
        return (pasted.to(comfy.output_device()),)


class FlowVQTalkingFace:
    DESCRIPTION = (
        "Everything in one node: portrait + speech + emotion + seed → talking-head frames, the audio and the frame "
        "rate, ready for CreateVideo (the same result as the blocks wired one by one)."
    )
    CATEGORY = CATEGORY
    RETURN_TYPES = ("IMAGE", "AUDIO", "FLOAT")
    RETURN_NAMES = ("frames", "audio", "fps")
    OUTPUT_TOOLTIPS = ("The video frames.", "The speech, as long as the frames.", "Frames per second.")
    FUNCTION = "generate"
    SEARCH_ALIASES = ["talking head", "lip sync", "talking face", "avatar"]

    @classmethod
    def INPUT_TYPES(cls):
        return {
            "required": {
                "image": ("IMAGE", {"tooltip": "A portrait with one clearly visible face (the first image)."}),
                "audio": ("AUDIO", {"tooltip": "The speech; the video is exactly as long."}),
                "emotion": (list(EMOTIONS), {"default": "happy", "tooltip": "The emotion to speak with."}),
                "strength": STRENGTH,
                "seed": SEED,
                "full_frame": ("BOOLEAN", {"default": True,
                                           "tooltip": "Paste the face back into the whole photo (off: the "
                                                      "face crop only)."}),
            },
            "optional": {
                "generator": (GENERATOR, {"tooltip": "A generator from FlowVQ Load Generator (default: bundled)."}),
                "renderer": (RENDERER, {"tooltip": "A renderer from FlowVQ Load Renderer (default: geometric)."}),
            },
        }  # fmt: skip

    def generate(
        self,
        image: torch.Tensor,
        audio: dict[str, Any],
        emotion: str,
        strength: float,
        seed: int,
        full_frame: bool,
        generator: CoefficientGenerator | None = None,
        renderer: Renderer | None = None,
    ) -> tuple[torch.Tensor, dict[str, Any], float]:
        device = comfy.compute_device()
        pipeline = TalkingFacePipeline(
            generator or load_default_generator(device), renderer or GeometricRenderer(), device=device
        )
        result = pipeline(
            image[0], audio, emotion=emotion, strength=strength, seed=seed, fps=pipeline.fps,
            full_frame=full_frame, progress=comfy.progress_bar(1),
        )  # fmt: skip
        speech = {"waveform": result.waveform.reshape(1, 1, -1).cpu(), "sample_rate": result.sample_rate}
        return result.frames.to(comfy.output_device()), speech, result.fps
