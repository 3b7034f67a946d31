"""Edit, preview, save and load coefficient sequences."""

from __future__ import annotations

import os

import numpy as np
import torch

from flowvq_core.coefficients import CoefficientSequence
from flowvq_core.curves import plot_curves
from flowvq_core.editing import MAX_GAIN, edit_coefficients

from . import comfy
from .types import CATEGORY, COEFFS

SAVE_FORMATS = {"safetensors": ".safetensors", "json": ".json", "arkit csv (Live Link Face)": ".csv"}


def _gain(tooltip: str) -> tuple[str, dict]:
    return ("FLOAT", {"default": 1.0, "min": 0.0, "max": MAX_GAIN, "step": 0.05, "tooltip": tooltip})


class FlowVQEditCoefficients:
    DESCRIPTION = "Tunes generated motion: per-group gains, head-motion amplitude and temporal smoothing."
    CATEGORY = f"{CATEGORY}/coefficients"
    RETURN_TYPES = (COEFFS,)
    RETURN_NAMES = ("coefficients",)
    OUTPUT_TOOLTIPS = ("The edited coefficients.",)
    FUNCTION = "edit"

    @classmethod
    def INPUT_TYPES(cls):
        return {
            "required": {
                "coefficients": (COEFFS, {"tooltip": "Coefficients to edit."}),
                "mouth": _gain("Scales the speech units of the mouth (jaw, lips): livelier or calmer lips."),
                "blink": _gain("Scales eyeBlink (0: no blinks; above 1 half blinks become full ones)."),
                "brows": _gain("Scales the brow units."),
                "smile": _gain("Scales mouthSmile."),
                "pose_amplitude": _gain("Scales the head's motion away from its first frame (0: a still head)."),
                "smoothing": ("FLOAT", {"default": 0.0, "min": 0.0, "max": 10.0, "step": 0.25,
                                        "tooltip": "Gaussian smoothing over time, σ in frames (0: none)."}),
            }
        }  # fmt: skip

    def edit(
        self,
        coefficients: CoefficientSequence,
        mouth: float,
        blink: float,
        brows: float,
        smile: float,
        pose_amplitude: float,
        smoothing: float,
    ) -> tuple[CoefficientSequence]:
        gains = {"mouth": mouth, "blink": blink, "brows": brows, "smile": smile}
        return (edit_coefficients(coefficients, gains=gains, pose_amplitude=pose_amplitude, smoothing=smoothing),)


class FlowVQPreviewCoefficients:
    DESCRIPTION = "A plot of the curves: mouth, blinks, smile, brows (0..1) and the head's angles over time."
    CATEGORY = f"{CATEGORY}/coefficients"
    RETURN_TYPES = ("IMAGE",)
    RETURN_NAMES = ("plot",)
    OUTPUT_TOOLTIPS = ("The plot as an IMAGE (connect Preview Image to see it).",)
    FUNCTION = "preview"
    OUTPUT_NODE = True

    @classmethod
    def INPUT_TYPES(cls):
        return {
            "required": {
                "coefficients": (COEFFS, {"tooltip": "Coefficients to plot (the first sample)."}),
                "width": ("INT", {"default": 768, "min": 256, "max": 2048, "step": 64, "tooltip": "Plot width."}),
                "height": ("INT", {"default": 384, "min": 128, "max": 1024, "step": 64, "tooltip": "Plot height."}),
            }
        }  # fmt: skip

    def preview(self, coefficients: CoefficientSequence, width: int, height: int) -> dict:
        plot = plot_curves(coefficients, width=width, height=height)
        image = torch.from_numpy(plot.astype(np.float32) / 255)[None].to(comfy.output_device())
        sample = coefficients.select(0)
        curves = {
            "fps": [coefficients.fps],
            "jawOpen": _column(sample, "jawOpen"),
            "blink": _column(sample, "eyeBlinkLeft"),
            "yaw": np.degrees(sample.pose[0, :, 1].float().numpy()).round(3).tolist(),
        }
        return {"ui": {"flowvq_curves": [curves]}, "result": (image,)}


def _column(sequence: CoefficientSequence, name: str) -> list[float]:
    names = sequence.unit_names or ()
    if name not in names:
        return []
    return sequence.expression[0, :, names.index(name)].float().numpy().round(4).tolist()


class FlowVQSaveCoefficients:
    DESCRIPTION = (
        "Saves coefficients to ComfyUI's output folder: safetensors (exact), JSON (readable) or a Live Link Face "
        "CSV that drives ARKit-rigged 3D avatars."
    )
    CATEGORY = f"{CATEGORY}/coefficients"
    RETURN_TYPES = ()
    FUNCTION = "save"
    OUTPUT_NODE = True

    @classmethod
    def INPUT_TYPES(cls):
        return {
            "required": {
                "coefficients": (COEFFS, {"tooltip": "Coefficients to save (the first sample for CSV)."}),
                "filename_prefix": ("STRING", {"default": "flowvq/coefficients",
                                               "tooltip": "Name inside ComfyUI's output folder; a counter is "
                                                          "appended."}),
                "format": (list(SAVE_FORMATS), {"tooltip": "File format."}),
            }
        }  # fmt: skip

    def save(self, coefficients: CoefficientSequence, filename_prefix: str, format: str) -> dict:
        folder, stem, counter, subfolder = comfy.output_prefix(filename_prefix)
        name = f"{stem}_{counter:05}{SAVE_FORMATS[format]}"
        path = os.path.join(folder, name)
        if format.startswith("arkit"):
            coefficients.to_arkit_csv(path)
        else:
            coefficients.save(path)
        return {"ui": {"flowvq_files": [{"filename": name, "subfolder": subfolder, "type": "output"}]}}


class FlowVQLoadCoefficients:
    DESCRIPTION = "Loads coefficients (.safetensors or .json) from ComfyUI's input folder."
    CATEGORY = f"{CATEGORY}/coefficients"
    RETURN_TYPES = (COEFFS,)
    RETURN_NAMES = ("coefficients",)
    OUTPUT_TOOLTIPS = ("The loaded coefficients.",)
    FUNCTION = "load"

    @classmethod
    def INPUT_TYPES(cls):
        tooltip = "A coefficient file in ComfyUI's input folder (saved by Save Coefficients)."
        return {"required": {"file": (comfy.input_files(), {"tooltip": tooltip})}}

    @classmethod
    def VALIDATE_INPUTS(cls, file: str):
        if not file.endswith(comfy.COEFFICIENT_SUFFIXES):
            return f"{file!r} is not a coefficient file (.safetensors or .json)"
        return True

    def load(self, file: str) -> tuple[CoefficientSequence]:
        return (CoefficientSequence.load(comfy.input_path(file)),)
