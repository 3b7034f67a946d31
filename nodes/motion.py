"""The flow blocks (paper §3.2): sample SMM latents or encode an emotion reference, then ExpFlow and PoseFlow."""

from __future__ import annotations

from typing import Any

import torch

from flowvq_core.audio import load_audio, log_mel, mel_windows
from flowvq_core.coefficients import CoefficientSequence
from flowvq_core.emotions import EMOTIONS, MAX_STRENGTH
from flowvq_core.errors import InvalidOptionError
from flowvq_core.face import FACE_MODEL_ID, UNIT_NAMES, extract_video
from flowvq_core.face.images import to_rgb_uint8_batch
from flowvq_core.generator import CoefficientGenerator
from flowvq_core.pipeline import Portrait

from . import comfy
from .speech import speech_features
from .types import CATEGORY, COEFFS, FACE, GENERATOR_INPUT, LATENT, EmotionCodes

SEED = ("INT", {"default": 0, "min": 0, "max": 2**63 - 1, "control_after_generate": True,
                "tooltip": "Every seed gives other blinks and head motion."})  # fmt: skip
STRENGTH = ("FLOAT", {"default": 1.0, "min": 0.0, "max": MAX_STRENGTH, "step": 0.05,
                      "tooltip": "How strongly the emotion shows: 0 neutral talking, 1 as learnt, "
                                 "2 exaggerated."})  # fmt: skip
PROJECTION_CHOICES = ["model default", "on", "off"]
POSE_MODES = ["audio-driven", "still", "from reference"]


def _projection(choice: str) -> bool | None:
    return {"model default": None, "on": True, "off": False}[choice]


class FlowVQSampleSMMLatent:
    DESCRIPTION = (
        "Draws ExpFlow's latent codes from the Student-t mixture component of an emotion (paper §3.2): the "
        "emotion, its strength and the seed's own blinks, before any audio is heard."
    )
    CATEGORY = f"{CATEGORY}/flows"
    RETURN_TYPES = (LATENT,)
    RETURN_NAMES = ("latent",)
    OUTPUT_TOOLTIPS = ("Latent codes for FlowVQ Expression Flow.",)
    FUNCTION = "sample"

    @classmethod
    def INPUT_TYPES(cls):
        return {
            "required": {
                "generator": GENERATOR_INPUT,
                "emotion": (list(EMOTIONS), {"default": "happy", "tooltip": "The emotion to speak with."}),
                "strength": STRENGTH,
                "temperature": ("FLOAT", {"default": 0.0, "min": 0.0, "max": 2.0, "step": 0.05,
                                          "tooltip": "Spread of the latent samples (more: livelier, less "
                                                     "precise). 0 uses the model's default (1.2 for the "
                                                     "bundled one)."}),
                "seed": SEED,
                "frames": ("INT", {"default": 250, "min": 1, "max": 1_000_000,
                                   "tooltip": "How many video frames to cover when no audio is connected "
                                              "(codes loop when the speech is longer)."}),
            },
            "optional": {"audio": ("AUDIO", {"tooltip": "Cover exactly this speech's frames instead of 'frames'."})},
        }  # fmt: skip

    def sample(
        self,
        generator: CoefficientGenerator,
        emotion: str,
        strength: float,
        temperature: float,
        seed: int,
        frames: int,
        audio: dict[str, Any] | None = None,
    ) -> tuple[EmotionCodes]:
        if audio is not None:
            frames = speech_features(audio, generator).num_frames
        latent = generator.sample_latent(frames, emotion, seed=seed, temperature=temperature or None)
        return (EmotionCodes(latent, strength),)


class FlowVQEncodeEmotionReference:
    DESCRIPTION = (
        "Emotion transfer (paper §3.2, dotted arrows): encodes a reference clip's expressions with ExpFlow under "
        "their own context, so a new speech takes on the reference's emotion and style."
    )
    CATEGORY = f"{CATEGORY}/flows"
    RETURN_TYPES = (LATENT,)
    RETURN_NAMES = ("latent",)
    OUTPUT_TOOLTIPS = ("Latent codes of the reference for FlowVQ Expression Flow.",)
    FUNCTION = "encode"

    @classmethod
    def INPUT_TYPES(cls):
        return {
            "required": {
                "generator": GENERATOR_INPUT,
                "strength": STRENGTH,
                "seed": SEED,
            },
            "optional": {
                "reference_images": ("IMAGE", {"tooltip": "Frames of a reference video of one face (e.g. from a "
                                                          "video loader). Give this or reference_coefficients."}),
                "reference_coefficients": (COEFFS, {"tooltip": "Coefficients of a reference (FlowVQ Extract 3DMM "
                                                               "or Load Coefficients)."}),
                "reference_audio": ("AUDIO", {"tooltip": "The reference's own speech (its context); silence "
                                                         "when not connected."}),
            },
        }  # fmt: skip

    def encode(
        self,
        generator: CoefficientGenerator,
        strength: float,
        seed: int,
        reference_images: torch.Tensor | None = None,
        reference_coefficients: CoefficientSequence | None = None,
        reference_audio: dict[str, Any] | None = None,
    ) -> tuple[EmotionCodes]:
        if (reference_images is None) == (reference_coefficients is None):
            raise InvalidOptionError("connect exactly one reference: reference_images or reference_coefficients")
        if reference_coefficients is not None:
            expression, fps = reference_coefficients.expression[:1].float(), reference_coefficients.fps
        else:
            frames = to_rgb_uint8_batch(reference_images, name="reference_images", allow_blank=True)
            expression, fps = extract_video(frames).expression[None], generator.config.fps
        windows = None
        if reference_audio is not None:
            mel = log_mel(load_audio(reference_audio, name="reference_audio"))
            windows = mel_windows(mel, expression.shape[1], fps).to(generator.device)
        return (EmotionCodes(generator.reference_latent(expression, windows, seed=seed), strength),)


class FlowVQExpressionFlow:
    DESCRIPTION = "ExpFlow (paper §3.2): latent codes + speech + the portrait's face → expression curves β̂."
    CATEGORY = f"{CATEGORY}/flows"
    RETURN_TYPES = (COEFFS,)
    RETURN_NAMES = ("coefficients",)
    OUTPUT_TOOLTIPS = ("Expression β̂ for every video frame of the speech; the head stays at the portrait's pose "
                       "until FlowVQ Pose Flow moves it.",)  # fmt: skip
    FUNCTION = "generate"

    @classmethod
    def INPUT_TYPES(cls):
        return {
            "required": {
                "generator": GENERATOR_INPUT,
                "face": (FACE, {"tooltip": "From FlowVQ Extract 3DMM: the expression starts from this face's."}),
                "audio": ("AUDIO", {"tooltip": "The speech: one video frame per 1/fps s of it."}),
                "latent": (LATENT, {"tooltip": "From Sample SMM Latent or Encode Emotion Reference."}),
                "manifold_projection": (PROJECTION_CHOICES, {"tooltip": "Pull sampled codes onto the training "
                                                                        "data (paper §3.2): safer expressions, "
                                                                        "fewer blinks. 'model default' is off "
                                                                        "for the bundled model."}),
            }
        }  # fmt: skip

    def generate(
        self,
        generator: CoefficientGenerator,
        face: Portrait,
        audio: dict[str, Any],
        latent: EmotionCodes,
        manifold_projection: str,
    ) -> tuple[CoefficientSequence]:
        speech = speech_features(audio, generator)
        source = face.face
        expression = generator.generate_expression(
            speech, source.expression.to(generator.device), latent.latent, strength=latent.strength,
            use_projection=_projection(manifold_projection), progress=comfy.progress_bar(speech.num_frames),
        )  # fmt: skip
        pose = source.pose.to(expression).expand(expression.shape[0], expression.shape[1], -1).clone()
        return (CoefficientSequence(expression.cpu(), pose.cpu(), speech.fps, UNIT_NAMES, FACE_MODEL_ID),)


class FlowVQPoseFlow:
    DESCRIPTION = (
        "PoseFlow (paper §3.2): head motion for the speech, added to the coefficients from Expression Flow. "
        "'still' keeps the portrait's pose; 'from reference' loops a reference's head motion."
    )
    CATEGORY = f"{CATEGORY}/flows"
    RETURN_TYPES = (COEFFS,)
    RETURN_NAMES = ("coefficients",)
    OUTPUT_TOOLTIPS = ("The same expression with head pose ρ̂ for every frame.",)
    FUNCTION = "generate"

    @classmethod
    def INPUT_TYPES(cls):
        return {
            "required": {
                "generator": GENERATOR_INPUT,
                "face": (FACE, {"tooltip": "From FlowVQ Extract 3DMM: the motion starts at this face's pose."}),
                "audio": ("AUDIO", {"tooltip": "The speech that drives the head."}),
                "coefficients": (COEFFS, {"tooltip": "From FlowVQ Expression Flow (their expression is kept)."}),
                "seed": SEED,
                "mode": (POSE_MODES, {"tooltip": "audio-driven: PoseFlow; still: the portrait's pose; from "
                                                 "reference: the reference coefficients' head motion, looped."}),
                "amplitude": ("FLOAT", {"default": 1.0, "min": 0.0, "max": 3.0, "step": 0.05,
                                        "tooltip": "Scales the head's motion away from its first frame."}),
            },
            "optional": {"reference_coefficients": (COEFFS, {"tooltip": "Head motion for mode 'from reference'."})},
        }  # fmt: skip

    def generate(
        self,
        generator: CoefficientGenerator,
        face: Portrait,
        audio: dict[str, Any],
        coefficients: CoefficientSequence,
        seed: int,
        mode: str,
        amplitude: float,
        reference_coefficients: CoefficientSequence | None = None,
    ) -> tuple[CoefficientSequence]:
        if mode not in POSE_MODES:
            raise InvalidOptionError(f"mode must be one of {POSE_MODES}, got {mode!r}")
        speech = speech_features(audio, generator)
        samples, frames = coefficients.num_samples, coefficients.num_frames
        if frames != speech.num_frames:
            raise InvalidOptionError(
                f"coefficients have {frames} frames but the audio gives {speech.num_frames}; connect the same audio "
                "to Expression Flow and Pose Flow"
            )
        source = face.face.pose
        if mode == "audio-driven":
            pose = generator.generate_pose(
                speech, source.to(generator.device), seed=seed, num_samples=samples,
                progress=comfy.progress_bar(speech.num_frames),
            ).cpu()  # fmt: skip
        elif mode == "still":
            pose = source[None, None].expand(samples, frames, -1).clone()
        else:
            if reference_coefficients is None:
                raise InvalidOptionError("mode 'from reference' needs reference_coefficients connected")
            motion = reference_coefficients.pose[:1] - reference_coefficients.pose[:1, :1]
            index = torch.arange(frames) % motion.shape[1]
            pose = (source + motion[:, index]).expand(samples, -1, -1).clone()
        if amplitude != 1.0:
            pose = pose[:, :1] + amplitude * (pose - pose[:, :1])
        return (CoefficientSequence(coefficients.expression, pose.float(), coefficients.fps,
                                    coefficients.unit_names, coefficients.face_model_id),)  # fmt: skip
