"""ComfyUI entry point of FlowVQ Talker.

ComfyUI imports this folder as a package. Keep it light: no model loading, no downloads, no asserts. The node
adapters live in ``nodes/``; the library in ``flowvq_core/`` never imports ComfyUI.
"""

WEB_DIRECTORY = "./js"

if __package__:
    # Only as a package can the adapters be imported relatively. pytest also imports this file, as a bare module
    # when the checkout's folder name is not a valid module name (e.g. "ComfyUI-FlowVQ-Talker"); there is
    # nothing to register then.
    from .nodes import NODE_CLASS_MAPPINGS, NODE_DISPLAY_NAME_MAPPINGS

    __all__ = ["NODE_CLASS_MAPPINGS", "NODE_DISPLAY_NAME_MAPPINGS", "WEB_DIRECTORY"]
