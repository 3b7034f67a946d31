"""Write the example workflows from one description of each graph: the UI format that ComfyUI's template browser
lists (``workflows/*.json``) and its API-format twin that tests POST to ``/prompt`` (``workflows/api/*.json``).

    python scripts/make_workflows.py --server http://127.0.0.1:8188   # a running ComfyUI with this pack loaded

The UI format places widget values by position, so each node's widget order is read from the server's /object_info.
The example inputs the graphs load ship in ``workflows/inputs/`` (copy them into ComfyUI's ``input/`` folder).
"""

from __future__ import annotations

import argparse
import json
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
PORTRAIT, SPEECH, REFERENCE = "flowvq_portrait.jpg", "flowvq_speech.wav", "flowvq_reference_surprised.mp4"
SOCKET_WIDGETS = {"INT", "FLOAT", "STRING", "BOOLEAN", "COMBO", "COMFY_DYNAMICCOMBO_V3"}
UPLOAD_WIDGET_VALUES = {"LoadImage": ["image"], "LoadVideo": ["image"], "LoadAudio": [None, None]}
"""The extra UI-only widget values of ComfyUI's loaders (their upload buttons)."""


@dataclass
class Node:
    id: int
    type: str
    inputs: dict[str, Any] = field(default_factory=dict)
    """name → a widget value, or (source node id, output slot) for a link."""
    pos: tuple[int, int] = (0, 0)


def _generator_and_face(x: int = 0) -> list[Node]:
    return [
        Node(1, "LoadImage", {"image": PORTRAIT}, (x, 0)),
        Node(2, "LoadAudio", {"audio": SPEECH}, (x, 380)),
        Node(3, "FlowVQLoadGenerator", {"checkpoint": "bundled: flowvq_small_synthetic.safetensors"}, (x, 560)),
        Node(
            4,
            "FlowVQExtract3DMM",
            {"image": (1, 0), "landmark_backend": "mediapipe", "crop_size": 512, "fps": 25.0},
            (x + 340, 0),
        ),  # fmt: skip
    ]


def _flows_and_render(latent: tuple[int, int], x: int = 700) -> list[Node]:
    return [
        Node(
            6,
            "FlowVQExpressionFlow",
            {
                "generator": (3, 0),
                "face": (4, 0),
                "audio": (2, 0),
                "latent": latent,
                "manifold_projection": "model default",
            },
            (x + 340, 0),
        ),  # fmt: skip
        Node(
            7,
            "FlowVQPoseFlow",
            {
                "generator": (3, 0),
                "face": (4, 0),
                "audio": (2, 0),
                "coefficients": (6, 0),
                "seed": 0,
                "mode": "audio-driven",
                "amplitude": 1.0,
            },
            (x + 340, 260),
        ),  # fmt: skip
        Node(
            8,
            "FlowVQLoadRenderer",
            {"renderer": "geometric (built-in, training-free)", "warp_grid": 32, "mouth_interior": True},
            (x, 560),
        ),  # fmt: skip
        Node(
            9, "FlowVQRender", {"renderer": (8, 0), "face": (4, 0), "coefficients": (7, 0), "sample": 0}, (x + 680, 0)
        ),
        Node(
            10, "FlowVQPasteBack", {"image": (1, 0), "frames": (9, 0), "face": (4, 0), "feather": 0.1}, (x + 680, 260)
        ),
        Node(11, "FlowVQPreviewCoefficients", {"coefficients": (7, 0), "width": 768, "height": 384}, (x + 340, 560)),
        Node(12, "PreviewImage", {"images": (11, 0)}, (x + 680, 560)),
    ]


def _video(frames: tuple[int, int], prefix: str, x: int = 1800, fps: Any = 25.0, audio=(2, 0)) -> list[Node]:
    return [
        Node(20, "CreateVideo", {"images": frames, "audio": audio, "fps": fps}, (x, 0)),
        Node(
            21,
            "SaveVideo",
            {"video": (20, 0), "filename_prefix": prefix, "format": "mp4", "format.codec": "h264"},
            (x + 340, 0),
        ),
    ]


def graphs() -> dict[str, list[Node]]:
    sample = Node(5, "FlowVQSampleSMMLatent", {"generator": (3, 0), "emotion": "happy", "strength": 1.0,
                                               "temperature": 0.0, "seed": 0, "frames": 250, "audio": (2, 0)},
                  (700, 0))  # fmt: skip
    transfer = [
        Node(30, "LoadVideo", {"file": REFERENCE}, (0, 760)),
        Node(31, "GetVideoComponents", {"video": (30, 0)}, (340, 760)),
        Node(
            5,
            "FlowVQEncodeEmotionReference",
            {"generator": (3, 0), "strength": 1.0, "seed": 0, "reference_images": (31, 0), "reference_audio": (31, 1)},
            (700, 0),
        ),  # fmt: skip
    ]
    upscale = Node(13, "ImageScaleBy", {"image": (10, 0), "upscale_method": "lanczos", "scale_by": 1.5}, (1720, 300))
    one_node = [
        Node(1, "LoadImage", {"image": PORTRAIT}, (0, 0)),
        Node(2, "LoadAudio", {"audio": SPEECH}, (0, 380)),
        Node(
            3,
            "FlowVQTalkingFace",
            {"image": (1, 0), "audio": (2, 0), "emotion": "happy", "strength": 1.0, "seed": 0, "full_frame": True},
            (340, 0),
        ),  # fmt: skip
    ]
    return {
        "flowvq_blocks": [
            *_generator_and_face(),
            sample,
            *_flows_and_render((5, 0)),
            *_video((10, 0), "flowvq/blocks"),
        ],  # fmt: skip
        "flowvq_emotion_transfer": [
            *_generator_and_face(),
            *transfer,
            *_flows_and_render((5, 0)),
            *_video((10, 0), "flowvq/emotion_transfer"),
        ],  # fmt: skip
        "flowvq_full_frame_upscaled": [
            *_generator_and_face(),
            sample,
            *_flows_and_render((5, 0)),
            upscale,
            *_video((13, 0), "flowvq/upscaled"),
        ],  # fmt: skip
        "flowvq_one_node": [*one_node, *_video((3, 0), "flowvq/one_node", x=700, fps=(3, 2), audio=(3, 1))],
    }


def api_format(nodes: list[Node]) -> dict[str, Any]:
    def value(v: Any) -> Any:
        return [str(v[0]), v[1]] if isinstance(v, tuple) else v

    return {str(n.id): {"class_type": n.type, "inputs": {k: value(v) for k, v in n.inputs.items()}} for n in nodes}


def ui_format(nodes: list[Node], object_info: dict[str, Any]) -> dict[str, Any]:
    """The graph as the frontend saves it: nodes with positional widget values, links as 6-tuples."""
    links: list[list[Any]] = []
    ui_nodes = {}
    for order, node in enumerate(nodes):
        info = object_info[node.type]
        inputs, widgets = [], []
        for section in ("required", "optional"):
            for name in info.get("input_order", {}).get(section, []):
                spec = info["input"][section][name]
                kind = "COMBO" if isinstance(spec[0], list) else spec[0]
                given = node.inputs.get(name)
                is_widget = kind in SOCKET_WIDGETS
                if isinstance(given, tuple):
                    links.append([len(links) + 1, given[0], given[1], node.id, len(inputs), _output_type(
                        object_info, nodes, given)])  # fmt: skip
                    entry = {"name": name, "type": kind, "link": len(links)}
                    if is_widget:
                        entry["widget"] = {"name": name}
                    inputs.append(entry)
                elif not is_widget and section == "required":
                    inputs.append({"name": name, "type": kind, "link": None})
                if is_widget:
                    default = spec[1].get("default") if len(spec) > 1 else None
                    widgets.append(given if given is not None and not isinstance(given, tuple) else default)
                    if len(spec) > 1 and spec[1].get("control_after_generate"):
                        widgets.append("fixed")
                    if kind == "COMFY_DYNAMICCOMBO_V3":
                        widgets.append(node.inputs.get(f"{name}.codec", "auto"))
        widgets += UPLOAD_WIDGET_VALUES.get(node.type, [])
        named = zip(info["output_name"], info["output"], strict=True)
        outputs = [{"name": n, "type": k, "links": [], "slot_index": slot} for slot, (n, k) in enumerate(named)]
        ui_nodes[node.id] = {
            "id": node.id, "type": node.type, "pos": list(node.pos), "size": [315, 130], "flags": {},
            "order": order, "mode": 0, "inputs": inputs, "outputs": outputs,
            "properties": {"Node name for S&R": node.type}, "widgets_values": widgets,
        }  # fmt: skip
    for link in links:
        ui_nodes[link[1]]["outputs"][link[2]]["links"].append(link[0])
    return {
        "last_node_id": max(ui_nodes), "last_link_id": len(links), "nodes": list(ui_nodes.values()),
        "links": links, "groups": [], "config": {}, "extra": {"ds": {"scale": 0.8, "offset": [40, 40]}},
        "version": 0.4,
    }  # fmt: skip


def _output_type(object_info: dict[str, Any], nodes: list[Node], link: tuple[int, int]) -> str:
    source = next(n for n in nodes if n.id == link[0])
    return object_info[source.type]["output"][link[1]]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--server", default="http://127.0.0.1:8188", help="a running ComfyUI with this pack")
    args = parser.parse_args()
    try:
        object_info = json.load(urllib.request.urlopen(f"{args.server}/object_info"))
    except OSError as error:
        raise SystemExit(f"no ComfyUI answers at {args.server} ({error}); start one with this pack loaded") from error
    (ROOT / "workflows" / "api").mkdir(parents=True, exist_ok=True)
    for name, nodes in graphs().items():
        ui = ui_format(nodes, object_info)
        (ROOT / "workflows" / f"{name}.json").write_text(json.dumps(ui, indent=1) + "\n", encoding="utf-8")
        api = api_format(nodes)
        (ROOT / "workflows" / "api" / f"{name}.json").write_text(json.dumps(api, indent=1) + "\n", encoding="utf-8")
        print(f"workflows/{name}.json and workflows/api/{name}.json: {len(nodes)} nodes")


if __name__ == "__main__":
    main()
