"""The flow-based coefficient generator of paper §3.2: ExpFlow, PoseFlow and their latent distributions."""

from .actnorm import MultiActNorm
from .base import CompositeTransform, FlowCondition, Transform
from .coefficient_flow import CoefficientFlow, ExpFlow, FlowLoss, PoseFlow, extend_latent
from .context import ContextEncoder, FrameContext, SequenceBatch, history_windows
from .coupling import ConditionalAffineCoupling
from .invconv import InvertibleLinearLU
from .latent import StandardGaussian, StudentTMixture
from .projection import ManifoldProjection
from .step import FlowStep

__all__ = [
    "CoefficientFlow",
    "CompositeTransform",
    "ConditionalAffineCoupling",
    "ContextEncoder",
    "ExpFlow",
    "FlowCondition",
    "FlowLoss",
    "FlowStep",
    "FrameContext",
    "InvertibleLinearLU",
    "ManifoldProjection",
    "MultiActNorm",
    "PoseFlow",
    "SequenceBatch",
    "StandardGaussian",
    "StudentTMixture",
    "Transform",
    "extend_latent",
    "history_windows",
]
