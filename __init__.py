"""ComfyUI entry point of FlowVQ Talker.

ComfyUI imports this folder as a module. Keep it light: no model loading, no downloads, no asserts. The node
adapters live in ``nodes/``; the library in ``flowvq_core/`` never imports ComfyUI.
"""

from .nodes import NODE_CLASS_MAPPINGS, NODE_DISPLAY_NAME_MAPPINGS

WEB_DIRECTORY = "./js"

__all__ = ["NODE_CLASS_MAPPINGS", "NODE_DISPLAY_NAME_MAPPINGS", "WEB_DIRECTORY"]
