"""FlowVQ Talker core library: emotional talking-face generation (FlowVQTalker, CVPR 2024) in pure PyTorch.

Never imports ComfyUI. Submodules are imported on use so that ``import flowvq_core`` stays cheap.
"""

__version__ = "0.1.0"
