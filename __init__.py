"""ComfyUI entry point of FlowVQ Talker.

ComfyUI imports this folder as a package. Keep it light: no model loading, no downloads, no asserts. The node
adapters live in ``nodes/``; the library in ``flowvq_core/`` never imports ComfyUI.
"""

WEB_DIRECTORY = "./js"

if __package__:
    # Only as a package can the adapters be imported relatively. pytest also imports this file, as a bare module
    # when the checkout's folder name is not a valid module name (e.g. "ComfyUI-FlowVQ-Talker"); there is
    # nothing to register then.
    import os
    import sys

    # The library ships inside the pack (ComfyUI Manager installs requirements.txt, not the package): make
    # ``import flowvq_core`` work by appending the pack's folder to the search path (appended, so it shadows nothing).
    _PACK = os.path.dirname(os.path.abspath(__file__))
    if _PACK not in sys.path:
        sys.path.append(_PACK)

    from .nodes import NODE_CLASS_MAPPINGS, NODE_DISPLAY_NAME_MAPPINGS

    __all__ = ["NODE_CLASS_MAPPINGS", "NODE_DISPLAY_NAME_MAPPINGS", "WEB_DIRECTORY"]
