"""The open expression rig: named expression units (ARKit blendshape names) over the 468-vertex FaceMesh.

Every unit is a displacement field built by our own code from the geometry of the subject's own neutral mesh: a few
control vertices get a displacement measured in the face's own lengths (mouth width W, eye width E, eye aperture A),
and a smooth compactly supported kernel spreads it to the skin around them. A unit's weight runs 0..1 (1 = that
action at full strength); a face is ``neutral + Σ β_k · unit_k`` (linear blendshapes).
Coordinates are the canonical head space of ``pose.py`` (X = subject's left, Y up, Z towards the camera).
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from . import topology

FACE_MODEL_ID = "mediapipe468-arkit40-v1"
"""Written into every checkpoint trained on this rig; loading against another face model is an error."""

UNIT_NAMES: tuple[str, ...] = (
    "jawOpen", "jawLeft", "jawRight", "mouthClose", "mouthFunnel", "mouthPucker", "mouthLeft", "mouthRight",
    "mouthSmileLeft", "mouthSmileRight", "mouthFrownLeft", "mouthFrownRight", "mouthStretchLeft", "mouthStretchRight",
    "mouthRollLower", "mouthRollUpper", "mouthShrugLower", "mouthShrugUpper", "mouthPressLeft", "mouthPressRight",
    "mouthLowerDownLeft", "mouthLowerDownRight", "mouthUpperUpLeft", "mouthUpperUpRight", "cheekPuff",
    "cheekSquintLeft", "cheekSquintRight", "noseSneerLeft", "noseSneerRight", "eyeBlinkLeft", "eyeBlinkRight",
    "eyeSquintLeft", "eyeSquintRight", "eyeWideLeft", "eyeWideRight", "browDownLeft", "browDownRight", "browInnerUp",
    "browOuterUpLeft", "browOuterUpRight",
)  # fmt: skip
NUM_UNITS = len(UNIT_NAMES)
UNIT_RANGE = (0.0, 1.0)
"""Every unit's weight lies in this range: what fitting returns and what the generator is trained on."""

JAW_GAP = 0.7
"""Inner-lip gap at jawOpen = 1, in mouth widths (a wide-open jaw)."""
RELAXED_EYE_APERTURE = 0.22
"""Mean lid-to-lid opening of the narrowest eye we take as relaxed and open, in eye widths (single photos: narrower
eyes count as partly blinked; FaceMesh reads about 0.25–0.33 on open eyes in portraits)."""


def clamp_to_unit_range(beta: Tensor) -> Tensor:
    """β with every weight inside ``UNIT_RANGE``: a solver's rounding (−1e-18, 1 + 1e-15) never leaves the range."""
    return beta.clamp(*UNIT_RANGE)


def unit_index(name: str) -> int:
    if name not in UNIT_NAMES:
        raise ValueError(f"unknown expression unit {name!r}; the units are {', '.join(UNIT_NAMES)}")
    return UNIT_NAMES.index(name)


def _kernel(distance: Tensor, radius: float) -> Tensor:
    """Smooth compact bump: 1 at distance 0, 0 beyond radius (cos² fall-off)."""
    return torch.cos(0.5 * math.pi * (distance / radius).clamp(max=1.0)).pow(2)


def spread_displacement(mesh: Tensor, controls: list[int], displacement: Tensor, radius: float) -> Tensor:
    """A smooth field over the mesh that moves ``controls`` by ``displacement`` ([n, 3] or [3])."""
    displacement = displacement.expand(len(controls), 3)
    weights = _kernel(torch.cdist(mesh, mesh[controls]), radius)
    total = weights.sum(-1, keepdim=True)
    return (weights @ displacement) / total.clamp_min(1.0)


def _side(mesh: Tensor, sign: float, width: float) -> Tensor:
    """[N] 0..1: how much a vertex belongs to the subject's left (sign +1) or right (−1) half."""
    return ((sign * mesh[:, 0] / width) * 0.5 + 0.5).clamp(0, 1)


class FaceGeometry:
    """Lengths and landmark groups of one neutral mesh."""

    def __init__(self, mesh: Tensor):
        topo = topology.face_topology()
        self.mesh = mesh
        self.mouth_width = float((mesh[topology.MOUTH_CORNER_LEFT] - mesh[topology.MOUTH_CORNER_RIGHT]).norm())
        self.eye_width = 0.5 * float(
            (mesh[topology.EYE_OUTER_LEFT] - mesh[topology.EYE_INNER_LEFT]).norm()
            + (mesh[topology.EYE_OUTER_RIGHT] - mesh[topology.EYE_INNER_RIGHT]).norm()
        )
        self.upper_lip = topo.regions["upper_lip"].tolist()
        self.lower_lip = topo.regions["lower_lip"].tolist()
        self.lips = sorted(set(self.upper_lip) | set(self.lower_lip))
        self.upper_lip_outer = [v for v in self.upper_lip if v in set(topo.regions["lips_outer"].tolist())]
        self.lower_lip_outer = [v for v in self.lower_lip if v in set(topo.regions["lips_outer"].tolist())]
        self.eyes = {
            +1: self._eye(topo.loops["eye_left"].tolist(), topology.EYE_OUTER_LEFT, topology.EYE_INNER_LEFT),
            -1: self._eye(topo.loops["eye_right"].tolist(), topology.EYE_OUTER_RIGHT, topology.EYE_INNER_RIGHT),
        }
        self.brows = {+1: topo.regions["brow_left"].tolist(), -1: topo.regions["brow_right"].tolist()}

    def _eye(self, loop: list[int], outer: int, inner: int) -> tuple[list[int], list[int]]:
        """(upper lid, lower lid) vertices of an eye contour, corners excluded."""
        i, j = sorted((loop.index(outer), loop.index(inner)))
        first, second = loop[i + 1 : j], loop[j + 1 :] + loop[:i]
        if self.mesh[first, 1].mean() < self.mesh[second, 1].mean():
            first, second = second, first
        return first, second

    def lid_gap(self, upper: list[int], lower: list[int]) -> Tensor:
        """[len(upper)] vertical distance from each upper-lid vertex down to the lower lid below it."""
        upper_points, lower_points = self.mesh[upper], self.mesh[lower]
        nearest = torch.cdist(upper_points[:, :1], lower_points[:, :1]).argmin(-1)
        return (upper_points[:, 1] - lower_points[nearest, 1]).clamp_min(0)


def build_units(neutral: Tensor) -> Tensor:
    """[NUM_UNITS, 468, 3] displacement fields of every unit on this neutral mesh [468, 3]."""
    g = FaceGeometry(neutral)
    mesh, W, E = neutral, g.mouth_width, g.eye_width
    zero = torch.zeros_like(mesh)
    units: dict[str, Tensor] = {}

    def vec(x: float, y: float, z: float) -> Tensor:
        return mesh.new_tensor([x, y, z])

    # Jaw: the lower face rotates about a hinge near the ears; the upper lip stays.
    mouth_line = 0.5 * (mesh[topology.UPPER_LIP_INNER, 1] + mesh[topology.LOWER_LIP_INNER, 1])
    jaw_weight = ((mouth_line - mesh[:, 1]) / (0.5 * W) + 0.5).clamp(0, 1)
    jaw_weight = jaw_weight * jaw_weight * (3 - 2 * jaw_weight)
    jaw_weight[g.lower_lip] = 1.0
    jaw_weight[g.upper_lip] = 0.0
    jaw_weight[
        [
            topology.MOUTH_CORNER_LEFT,
            topology.MOUTH_CORNER_RIGHT,
            topology.INNER_MOUTH_CORNER_LEFT,
            topology.INNER_MOUTH_CORNER_RIGHT,
        ]
    ] = 0.5
    hinge = mesh.new_tensor(
        [
            0.0,
            float(mesh[topology.NOSE_TIP, 1]),
            float(mesh[[topology.FACE_SIDE_LEFT, topology.FACE_SIDE_RIGHT], 2].mean()) - 0.5 * W,
        ]
    )
    radius = float((mesh[topology.LOWER_LIP_INNER] - hinge)[1:].norm())
    angle = JAW_GAP * W / radius
    relative = mesh - hinge
    rotated = torch.stack(
        [
            relative[:, 0],
            relative[:, 1] * math.cos(angle) - relative[:, 2] * math.sin(angle),
            relative[:, 1] * math.sin(angle) + relative[:, 2] * math.cos(angle),
        ],
        -1,
    )  # the chin swings down and back about the hinge
    units["jawOpen"] = jaw_weight[:, None] * (rotated - relative)
    units["jawLeft"] = jaw_weight[:, None] * vec(0.15 * W, 0, 0)
    units["jawRight"] = jaw_weight[:, None] * vec(-0.15 * W, 0, 0)

    lip_radius = 0.45 * W
    close = torch.zeros_like(mesh)
    close[g.upper_lip, 1] = -0.5 * JAW_GAP * W
    close[g.lower_lip, 1] = 0.5 * JAW_GAP * W
    units["mouthClose"] = spread_displacement(mesh, g.lips, close[g.lips], 0.25 * W)

    centre = 0.5 * (mesh[topology.MOUTH_CORNER_LEFT] + mesh[topology.MOUTH_CORNER_RIGHT])
    inward = centre - mesh[g.lips]
    inward[:, 1:] = 0
    funnel = 0.15 * W * torch.sign(mesh[g.lips, 1:2] - centre[1]) * vec(0, 1, 0) + vec(0, 0, 0.15 * W)
    units["mouthFunnel"] = spread_displacement(mesh, g.lips, funnel + 0.2 * inward, lip_radius)
    units["mouthPucker"] = spread_displacement(mesh, g.lips, 0.45 * inward + vec(0, 0, 0.2 * W), lip_radius)
    units["mouthLeft"] = spread_displacement(mesh, g.lips, vec(0.2 * W, 0, 0), lip_radius)
    units["mouthRight"] = spread_displacement(mesh, g.lips, vec(-0.2 * W, 0, 0), lip_radius)

    corners = {
        +1: [topology.MOUTH_CORNER_LEFT, topology.INNER_MOUTH_CORNER_LEFT],
        -1: [topology.MOUTH_CORNER_RIGHT, topology.INNER_MOUTH_CORNER_RIGHT],
    }
    for sign, side in ((+1, "Left"), (-1, "Right")):
        units[f"mouthSmile{side}"] = spread_displacement(
            mesh, corners[sign], vec(sign * 0.2 * W, 0.25 * W, -0.05 * W), 0.6 * W
        )
        units[f"mouthFrown{side}"] = spread_displacement(
            mesh, corners[sign], vec(sign * 0.03 * W, -0.22 * W, 0), 0.55 * W
        )
        units[f"mouthStretch{side}"] = spread_displacement(
            mesh, corners[sign], vec(sign * 0.22 * W, -0.08 * W, 0), 0.55 * W
        )

    roll_upper = vec(0, -0.08 * W, -0.06 * W)
    roll_lower = vec(0, 0.08 * W, -0.06 * W)
    units["mouthRollUpper"] = spread_displacement(mesh, g.upper_lip_outer, roll_upper, 0.2 * W)
    units["mouthRollLower"] = spread_displacement(mesh, g.lower_lip_outer, roll_lower, 0.2 * W)
    units["mouthShrugUpper"] = spread_displacement(mesh, g.upper_lip, vec(0, 0.12 * W, 0.03 * W), 0.35 * W)
    units["mouthShrugLower"] = spread_displacement(
        mesh, g.lower_lip + [topology.CHIN], vec(0, 0.15 * W, 0.03 * W), 0.5 * W
    )

    for sign, side in ((+1, "Left"), (-1, "Right")):
        half = _side(mesh, sign, 0.3 * W)[:, None]
        press = torch.zeros_like(mesh)
        press[g.upper_lip, 1] = -0.06 * W
        press[g.lower_lip, 1] = 0.06 * W
        units[f"mouthPress{side}"] = half * spread_displacement(mesh, g.lips, press[g.lips], 0.2 * W)
        units[f"mouthLowerDown{side}"] = half * spread_displacement(mesh, g.lower_lip, vec(0, -0.2 * W, 0), 0.3 * W)
        units[f"mouthUpperUp{side}"] = half * spread_displacement(mesh, g.upper_lip, vec(0, 0.15 * W, 0), 0.3 * W)

    cheek_centres = {sign: 0.5 * (mesh[corners[sign][0]] + mesh[g.eyes[sign][1]].mean(0)) + vec(sign * 0.2 * W, 0, 0)
                     for sign in (+1, -1)}  # fmt: skip
    puff = zero.clone()
    for sign in (+1, -1):
        puff = puff + _kernel((mesh - cheek_centres[sign]).norm(dim=-1), 0.6 * W)[:, None] * vec(
            sign * 0.15 * W, 0, 0.06 * W
        )
    units["cheekPuff"] = puff

    for sign, side in ((+1, "Left"), (-1, "Right")):
        upper_lid, lower_lid = g.eyes[sign]
        aperture = g.lid_gap(upper_lid, lower_lid)
        under_eye = mesh[lower_lid].mean(0) - vec(0, 0.35 * E, 0)
        cheek = _kernel((mesh - under_eye).norm(dim=-1), 0.5 * E)[:, None]
        units[f"cheekSquint{side}"] = cheek * vec(0, 0.12 * E, 0.03 * E)
        wing = mesh[topology.NOSE_TIP] + vec(sign * 0.22 * W, 0.05 * W, -0.12 * W)
        units[f"noseSneer{side}"] = _kernel((mesh - wing).norm(dim=-1), 0.3 * W)[:, None] * vec(0, 0.08 * W, 0.02 * W)

        blink = torch.zeros(len(upper_lid) + len(lower_lid), 3, dtype=mesh.dtype)
        blink[: len(upper_lid), 1] = -0.9 * aperture
        blink[len(upper_lid) :, 1] = 0.1 * aperture.mean()
        units[f"eyeBlink{side}"] = spread_displacement(mesh, upper_lid + lower_lid, blink, 0.3 * E)
        squint = blink.clone()
        squint[: len(upper_lid), 1] = -0.15 * aperture
        squint[len(upper_lid) :, 1] = 0.3 * aperture.mean()
        units[f"eyeSquint{side}"] = (
            spread_displacement(mesh, upper_lid + lower_lid, squint, 0.3 * E) + 0.5 * units[f"cheekSquint{side}"]
        )
        wide = torch.zeros(len(upper_lid), 3, dtype=mesh.dtype)
        wide[:, 1] = 0.45 * aperture
        units[f"eyeWide{side}"] = spread_displacement(mesh, upper_lid, wide, 0.3 * E)

        brow = g.brows[sign]
        outer = sorted(brow, key=lambda v: abs(float(mesh[v, 0])))[len(brow) // 2 :]
        units[f"browDown{side}"] = spread_displacement(mesh, brow, vec(-sign * 0.06 * E, -0.25 * E, 0), 0.5 * E)
        units[f"browOuterUp{side}"] = spread_displacement(mesh, outer, vec(0, 0.3 * E, 0), 0.45 * E)
    inner_brows = [v for sign in (+1, -1) for v in sorted(g.brows[sign], key=lambda v: abs(float(mesh[v, 0])))[:5]]
    units["browInnerUp"] = spread_displacement(mesh, inner_brows, vec(0, 0.3 * E, 0), 0.45 * E)
    return torch.stack([units[name] for name in UNIT_NAMES])


class ExpressionRig:
    """A subject's neutral mesh and its units: ``deform(β)`` = neutral + Σ β_k · unit_k."""

    unit_names = UNIT_NAMES
    face_model_id = FACE_MODEL_ID

    def __init__(self, neutral: Tensor):
        if neutral.shape != (topology.NUM_VERTICES, 3):
            raise ValueError(f"a neutral mesh has shape [{topology.NUM_VERTICES}, 3], got {tuple(neutral.shape)}")
        self.neutral = neutral
        self.units = build_units(neutral)

    def deform(self, coefficients: Tensor) -> Tensor:
        """[..., NUM_UNITS] → [..., 468, 3]."""
        units = self.units.to(coefficients)
        return self.neutral.to(coefficients) + torch.einsum("...k,kvc->...vc", coefficients, units)
