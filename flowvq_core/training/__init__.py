"""Training at scale: resumable, multi-GPU trainers for every stage (``python -m flowvq_core train ...``)."""

from .flows import FlowTrainingConfig, train_flows

__all__ = ["FlowTrainingConfig", "train_flows"]
