"""ComfyUI node adapters: thin layers that translate ComfyUI types and call ``flowvq_core``.

The node classes are registered here; each module holds the nodes of one concern.
"""

NODE_CLASS_MAPPINGS: dict[str, type] = {}
NODE_DISPLAY_NAME_MAPPINGS: dict[str, str] = {}
