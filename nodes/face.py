"""Extract 3DMM: a portrait (or a batch of frames) → the fitted face and its coefficients."""

from __future__ import annotations

import torch

from flowvq_core.coefficients import CoefficientSequence
from flowvq_core.errors import BadImageError
from flowvq_core.face import FACE_MODEL_ID, UNIT_NAMES, GeometricRenderer, extract_video
from flowvq_core.face.images import to_rgb_uint8_batch
from flowvq_core.pipeline import Portrait, prepare_portrait

from . import comfy
from .types import CATEGORY, COEFFS, FACE

LANDMARK_BACKENDS = ["mediapipe", "face_alignment"]


class FlowVQExtract3DMM:
    DESCRIPTION = (
        "Fits the face model to the largest face of the first image (landmarks → pose ρ and 40 ARKit-named "
        "expression units β). A batch of frames is also tracked frame by frame against that face."
    )
    CATEGORY = f"{CATEGORY}/face"
    RETURN_TYPES = (FACE, COEFFS)
    RETURN_NAMES = ("face", "coefficients")
    OUTPUT_TOOLTIPS = (
        "The portrait and its fitted face: what the flows animate and the renderer warps.",
        "β and ρ of every image in the batch (one frame for a single image).",
    )
    FUNCTION = "extract"

    @classmethod
    def INPUT_TYPES(cls):
        return {
            "required": {
                "image": ("IMAGE", {"tooltip": "A portrait with one clearly visible face, or video frames of one "
                                               "person (the first frame defines the face)."}),
                "landmark_backend": (LANDMARK_BACKENDS, {"default": "mediapipe",
                                                         "tooltip": "mediapipe runs offline with no downloads; "
                                                                    "face_alignment downloads its weights on first "
                                                                    "use."}),
                "crop_size": ("INT", {"default": 512, "min": 128, "max": 1024, "step": 32,
                                      "tooltip": "Side of the face crop in pixels (the renderer works at this size)."}),
                "fps": ("FLOAT", {"default": 25.0, "min": 1.0, "max": 120.0, "step": 0.5,
                                  "tooltip": "Frame rate of the image batch, stored with its coefficients."}),
            }
        }  # fmt: skip

    def extract(
        self, image: torch.Tensor, landmark_backend: str, crop_size: int, fps: float
    ) -> tuple[Portrait, CoefficientSequence]:
        if image.ndim != 4 or image.shape[0] == 0:
            raise BadImageError(f"image must be a ComfyUI IMAGE batch [B, H, W, 3], got shape {tuple(image.shape)}")
        portrait = prepare_portrait(
            image[0], GeometricRenderer(), device=comfy.compute_device(), crop_size=crop_size,
            landmark_backend=landmark_backend,
        )  # fmt: skip
        face = portrait.face
        if image.shape[0] == 1:
            expression, pose = face.expression[None], face.pose[None]
        else:
            frames = to_rgb_uint8_batch(image, name="image", allow_blank=True)
            video = extract_video(frames, identity=face, backend=landmark_backend, crop_size=crop_size)
            expression, pose = video.expression, video.pose
        coefficients = CoefficientSequence(expression[None], pose[None], fps, UNIT_NAMES, FACE_MODEL_ID)
        return portrait, coefficients
