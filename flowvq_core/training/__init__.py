"""Training at scale: resumable, multi-GPU trainers for every stage (``python -m flowvq_core train ...``)."""

from .flows import FlowTrainingConfig, train_flows
from .images import ImageTrainingConfig, train_images

__all__ = ["FlowTrainingConfig", "ImageTrainingConfig", "train_flows", "train_images"]
