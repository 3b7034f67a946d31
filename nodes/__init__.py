"""ComfyUI node adapters: thin layers that translate ComfyUI types and call ``flowvq_core``.

Each module holds the nodes of one concern. Node ids and input names are a public contract: saved workflows refer
to them, so they are never renamed.
"""

import contextlib

from . import comfy
from .coefficients import (
    FlowVQEditCoefficients,
    FlowVQLoadCoefficients,
    FlowVQPreviewCoefficients,
    FlowVQSaveCoefficients,
)
from .face import FlowVQExtract3DMM
from .loaders import FlowVQLoadGenerator, FlowVQLoadRenderer
from .motion import FlowVQEncodeEmotionReference, FlowVQExpressionFlow, FlowVQPoseFlow, FlowVQSampleSMMLatent
from .render import FlowVQPasteBack, FlowVQRender, FlowVQTalkingFace

NODE_DISPLAY_NAME_MAPPINGS: dict[str, str] = {
    "FlowVQLoadGenerator": "FlowVQ Load Generator",
    "FlowVQLoadRenderer": "FlowVQ Load Renderer",
    "FlowVQExtract3DMM": "FlowVQ Extract 3DMM",
    "FlowVQSampleSMMLatent": "FlowVQ Sample SMM Latent",
    "FlowVQEncodeEmotionReference": "FlowVQ Encode Emotion Reference",
    "FlowVQExpressionFlow": "FlowVQ Expression Flow",
    "FlowVQPoseFlow": "FlowVQ Pose Flow",
    "FlowVQEditCoefficients": "FlowVQ Edit Coefficients",
    "FlowVQPreviewCoefficients": "FlowVQ Preview Coefficients",
    "FlowVQSaveCoefficients": "FlowVQ Save Coefficients",
    "FlowVQLoadCoefficients": "FlowVQ Load Coefficients",
    "FlowVQRender": "FlowVQ Render",
    "FlowVQPasteBack": "FlowVQ Paste Back",
    "FlowVQTalkingFace": "FlowVQ Talking Face",
}
NODE_CLASS_MAPPINGS: dict[str, type] = {
    "FlowVQLoadGenerator": FlowVQLoadGenerator,
    "FlowVQLoadRenderer": FlowVQLoadRenderer,
    "FlowVQExtract3DMM": FlowVQExtract3DMM,
    "FlowVQSampleSMMLatent": FlowVQSampleSMMLatent,
    "FlowVQEncodeEmotionReference": FlowVQEncodeEmotionReference,
    "FlowVQExpressionFlow": FlowVQExpressionFlow,
    "FlowVQPoseFlow": FlowVQPoseFlow,
    "FlowVQEditCoefficients": FlowVQEditCoefficients,
    "FlowVQPreviewCoefficients": FlowVQPreviewCoefficients,
    "FlowVQSaveCoefficients": FlowVQSaveCoefficients,
    "FlowVQLoadCoefficients": FlowVQLoadCoefficients,
    "FlowVQRender": FlowVQRender,
    "FlowVQPasteBack": FlowVQPasteBack,
    "FlowVQTalkingFace": FlowVQTalkingFace,
}

with contextlib.suppress(ImportError):  # outside ComfyUI (tests, plain Python) there is no model folder to register
    comfy.register_model_folder()
