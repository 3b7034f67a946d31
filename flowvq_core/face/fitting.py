"""Fitting the rig to landmarks: pose by weighted Procrustes, expression by bounded least squares.

Inputs are the 468 mesh landmarks in crop units (x, y right/down in 0..1, z away from the camera on the x scale).
With a known neutral mesh (a video, or another photo of the same subject) the pose is the similarity that best maps
the neutral's rigid points onto the landmarks, and β minimises Σ_v w_v‖m_v − n_v − Σ_k β_k u_kv‖² + λ‖β‖² with
0 ≤ β ≤ 1. A single photo has no neutral to compare with, so its head frame comes from the face's own axes and its
neutral is the photo with the expressions that can be judged on their own undone (open jaw closed, narrowed eyes
opened to a relaxed aperture); every other unit starts at 0 for that identity.
"""

from __future__ import annotations

import functools
from collections.abc import Callable

import numpy as np
import torch
from scipy.optimize import lsq_linear
from torch import Tensor

from . import topology
from .pose import similarity_procrustes, to_camera, transform_to_pose
from .rig import (
    JAW_GAP,
    RELAXED_EYE_APERTURE,
    UNIT_RANGE,
    FaceGeometry,
    build_units,
    clamp_to_unit_range,
    spread_displacement,
    unit_index,
)

EXPRESSION_PRIOR = 1e-3
"""λ of the small ridge prior that keeps β at 0 when the landmarks do not ask for a unit."""
OBSERVED_CLOSURE = (0.50, 0.06)
"""FaceMesh's lid response: a blink b closes the lid gap it reports by 0.50·b + 0.06·b² of the open gap (so a fully
closed eye still reads 44 % open, as FaceMesh does on closed eyes in photos). Measured with
``scripts/face_recovery.py``'s blink sweep on renders of the astronaut; fitting inverts it."""
WIDE_OPENING = 0.45
"""How much eyeWide = 1 widens the lid gap, as a fraction of the open gap (the unit's definition in ``rig.py``)."""
EYE_UNITS = ("eyeBlinkLeft", "eyeWideLeft", "eyeBlinkRight", "eyeWideRight")
"""Units read from each eye's own aperture rather than the mesh-wide least squares."""


@functools.lru_cache(maxsize=1)
def rigid_vertices() -> np.ndarray:
    """Vertices that do not move with expressions: the nose, the eye corners and the face oval above the ears."""
    topo = topology.face_topology()
    oval = topo.loops["face_oval"].tolist()
    start = oval.index(topology.FOREHEAD)
    oval = oval[start:] + oval[:start]
    upper_oval = oval[: oval.index(topology.FACE_SIDE_LEFT) + 1] + oval[oval.index(topology.FACE_SIDE_RIGHT) :]
    corners = [
        topology.EYE_OUTER_LEFT,
        topology.EYE_INNER_LEFT,
        topology.EYE_OUTER_RIGHT,
        topology.EYE_INNER_RIGHT,
        topology.NASION,
    ]
    return np.array(sorted(set(topo.regions["nose"].tolist()) | set(upper_oval) | set(corners)))


@functools.lru_cache(maxsize=1)
def _fit_weights_numpy() -> np.ndarray:
    """Per-vertex weight of the expression fit: lips, eyes and brows carry the signal; the outline is noisy."""
    topo = topology.face_topology()
    weights = np.ones(topology.NUM_VERTICES)
    for region in ("lips_outer", "eye_left", "eye_right", "brow_left", "brow_right"):
        weights[topo.regions[region]] = 4.0
    weights[topo.regions["lips_inner"]] = 12.0  # the lip gap is the clearest signal of the jaw
    weights[topo.regions["face_oval"]] = 0.3
    return weights


def fit_weights(like: Tensor) -> Tensor:
    return torch.as_tensor(_fit_weights_numpy(), dtype=like.dtype, device=like.device)


def head_frame(camera: Tensor) -> Tensor:
    """[..., 468, 3] camera-space landmarks → [..., 3, 3] head rotation from the face's own axes.

    X: across the eye corners and the face sides; Y: up the facial midline from the base of the nose to the top of
    the forehead (both rigid), made orthogonal to X; Z = X × Y. Used where no neutral mesh exists yet (one photo).
    """
    across = sum(
        torch.nn.functional.normalize(camera[..., a, :] - camera[..., b, :], dim=-1)
        for a, b in ((topology.EYE_OUTER_LEFT, topology.EYE_OUTER_RIGHT),
                     (topology.EYE_INNER_LEFT, topology.EYE_INNER_RIGHT),
                     (topology.FACE_SIDE_LEFT, topology.FACE_SIDE_RIGHT))
    )  # fmt: skip
    x_axis = torch.nn.functional.normalize(across, dim=-1)
    up = camera[..., topology.FOREHEAD, :] - camera[..., topology.NOSE_BASE, :]
    y_axis = torch.nn.functional.normalize(up - (up * x_axis).sum(-1, keepdim=True) * x_axis, dim=-1)
    return torch.stack([x_axis, y_axis, torch.linalg.cross(x_axis, y_axis)], -1)


def eye_apertures(points: Tensor, neutral: Tensor, vertices: np.ndarray | None = None) -> Tensor:
    """[..., K, ≥2] landmarks → [..., 2] lid gap over eye width of the left and right eye, in the image plane.

    ``vertices`` names the mesh vertex of each row (all 468 when None); lid pairs are the upper-lid vertices and the
    lower-lid vertex below each on ``neutral``, among the rows present; the gap is measured across the line of the
    eye corners, so a rolled head reads the same. A ratio of two lengths seen from one view
    barely changes with the head's pose and averages every lid pair, so a small pose error or one noisy landmark
    moves it little (unlike the mesh-wide fit, where eye units trade off against brows and squints).
    """
    row = {int(v): i for i, v in enumerate(np.arange(topology.NUM_VERTICES) if vertices is None else vertices)}
    g = FaceGeometry(neutral)
    ratios = []
    for sign, outer, inner in (
        (+1, topology.EYE_OUTER_LEFT, topology.EYE_INNER_LEFT),
        (-1, topology.EYE_OUTER_RIGHT, topology.EYE_INNER_RIGHT),
    ):
        upper, lower = ([v for v in lid if v in row] for lid in g.eyes[sign])
        below = torch.cdist(neutral[upper, :1], neutral[lower, :1]).argmin(-1).tolist()
        top_rows, bottom_rows = [row[v] for v in upper], [row[lower[i]] for i in below]
        axis = points[..., row[inner], :2] - points[..., row[outer], :2]
        width = axis.norm(dim=-1, keepdim=True).clamp_min(1e-9)
        normal = torch.stack([-axis[..., 1], axis[..., 0]], -1) / width
        lid_vectors = points[..., bottom_rows, :2] - points[..., top_rows, :2]
        gap = (lid_vectors * normal.unsqueeze(-2)).sum(-1).abs().mean(-1)
        ratios.append(gap / width.squeeze(-1))
    return torch.stack(ratios, -1)


def eye_coefficients(seen: Tensor, neutral: Tensor) -> Tensor:
    """Apertures seen [..., 2] and of the neutral in the same view [..., 2] → [..., 4] β of ``EYE_UNITS``.

    A narrower eye is a blink (FaceMesh's response ``OBSERVED_CLOSURE`` inverted), a wider one eyeWide.
    """
    openness = seen / neutral.clamp_min(1e-9)
    closure = (1 - openness).clamp_min(0)
    linear, quadratic = OBSERVED_CLOSURE
    blink = (torch.sqrt(linear**2 + 4 * quadratic * closure) - linear) / (2 * quadratic)
    wide = (openness - 1).clamp_min(0) / WIDE_OPENING
    left, right = blink.clamp(0, 1).unbind(-1), wide.clamp(0, 1).unbind(-1)
    return torch.stack([left[0], right[0], left[1], right[1]], -1)


def solve_with_eyes(residual: Tensor, units: Tensor, weights: Tensor, eyes: Tensor) -> Tensor:
    """β [..., U]: the eye units fixed to ``eyes`` [..., 4], the rest by bounded least squares on what they leave.

    The blink's landmark motion is taken as FaceMesh reports it (``OBSERVED_CLOSURE``), so the rest of the face is
    fitted to what the eye units really explain.
    """
    indices = [unit_index(name) for name in EYE_UNITS]
    linear, quadratic = OBSERVED_CLOSURE
    seen_amount = eyes.clone()
    seen_amount[..., 0::2] = linear * eyes[..., 0::2] + quadratic * eyes[..., 0::2] ** 2
    eye_fields = units[..., indices, :, :]
    explained = (seen_amount[..., :, None, None] * eye_fields).sum(-3)
    free = units.clone()
    free[..., indices, :, :] = 0
    beta = solve_bounded_least_squares(residual - explained, free, weights)
    beta[..., indices] = eyes.to(beta)
    return clamp_to_unit_range(beta)


def solve_bounded_least_squares(
    residual: Tensor, units: Tensor, weights: Tensor, prior: float = EXPRESSION_PRIOR
) -> Tensor:
    """β [..., U] in ``UNIT_RANGE`` minimising Σ_v w_v‖r_v − Σ_k β_k u_kv‖² + prior·‖β‖².

    residual [..., V, C]; units [U, V, C] shared by every row, or [..., U, V, C] one set per row (e.g. rotated into
    each frame's view). The normal equations G β = r are built batched in torch; each row's box-constrained problem
    ‖Lᵀβ − L⁻¹r‖² (G = L·Lᵀ) is then solved exactly by bounded-variable least squares, a U×U problem per row.
    """
    vertex_weights = weights.repeat_interleave(residual.shape[-1])
    flat_units = units.reshape(*units.shape[:-2], -1)
    flat_residual = residual.reshape(*residual.shape[:-2], -1)
    gram = (flat_units * vertex_weights) @ flat_units.transpose(-1, -2)
    eye = torch.eye(gram.shape[-1], dtype=gram.dtype, device=gram.device)
    gram = gram + prior * gram.diagonal(dim1=-2, dim2=-1).mean(-1)[..., None, None] * eye
    rhs = ((flat_residual * vertex_weights).unsqueeze(-2) @ flat_units.transpose(-1, -2)).squeeze(-2)
    gram = gram.expand(*rhs.shape[:-1], *gram.shape[-2:]).double().cpu()
    factor = torch.linalg.cholesky(gram)
    projected = torch.linalg.solve_triangular(factor, rhs.double().cpu().unsqueeze(-1), upper=False).squeeze(-1)
    rows_a = factor.transpose(-1, -2).reshape(-1, *gram.shape[-2:]).numpy()
    rows_b = projected.reshape(-1, gram.shape[-1]).numpy()
    solved = [lsq_linear(a, b, bounds=UNIT_RANGE, method="bvls").x for a, b in zip(rows_a, rows_b, strict=True)]
    beta = torch.from_numpy(np.stack(solved)).view_as(rhs)
    return clamp_to_unit_range(beta).to(residual)


def canonicalize_single(points: Tensor) -> tuple[Tensor, Tensor]:
    """Crop-unit landmarks [468, 3] of one photo → (canonical mesh [468, 3], pose [6]) from the face's own axes."""
    camera = to_camera(points)
    rotation = head_frame(camera)
    rigid = camera[rigid_vertices()]
    centre = rigid.mean(0)
    scale = ((rigid - centre).pow(2).sum(-1).mean()).sqrt()
    mesh = (camera - centre) @ rotation / scale
    return mesh, transform_to_pose(rotation, scale, centre)


RELAXED_CORNER_LIFT = 0.03
"""How far above the middle of the lip line the mouth corners of a relaxed mouth sit, in mouth widths."""
SMILE_CORNER_LIFT = 0.25
"""How far mouthSmile = 1 lifts a corner, in mouth widths (the unit's definition in ``rig.py``)."""


def neutralize(mesh: Tensor) -> Tensor:
    """The identity's neutral guessed from one canonical mesh: jaw closed, smile undone (corners lifted above a
    relaxed mouth's count as mouthSmile), lips met, eyes open at least to a relaxed aperture.

    Eyes narrower than ``RELAXED_EYE_APERTURE`` (a blink, a squint) are opened to it along an almond-shaped lid
    profile; wider eyes are this person's open eyes and stay, so rendering eyeBlink = 0 never has to show more
    eyeball than the photo holds (one photo cannot tell a half-blink from naturally narrow eyes any better).
    """
    g = FaceGeometry(mesh)
    units = build_units(mesh)
    gap = float(mesh[topology.UPPER_LIP_INNER, 1] - mesh[topology.LOWER_LIP_INNER, 1])
    jaw = min(max(gap / (JAW_GAP * g.mouth_width), 0.0), 1.0)
    neutral = mesh - jaw * units[unit_index("jawOpen")]
    for side, corner in (("Left", topology.MOUTH_CORNER_LEFT), ("Right", topology.MOUTH_CORNER_RIGHT)):
        lift = float(mesh[corner, 1] - 0.5 * (mesh[topology.UPPER_LIP_INNER, 1] + mesh[topology.LOWER_LIP_INNER, 1]))
        smile = min(max((lift / g.mouth_width - RELAXED_CORNER_LIFT) / SMILE_CORNER_LIFT, 0.0), 1.0)
        neutral = neutral - smile * units[unit_index(f"mouthSmile{side}")]
    neutral = neutral + _lip_closure(neutral, g)
    for sign, outer, inner in (
        (+1, topology.EYE_OUTER_LEFT, topology.EYE_INNER_LEFT),
        (-1, topology.EYE_OUTER_RIGHT, topology.EYE_INNER_RIGHT),
    ):
        upper, lower = g.eyes[sign]
        along = (mesh[upper, 0] - mesh[outer, 0]) / (mesh[inner, 0] - mesh[outer, 0])
        profile = torch.sin(torch.pi * along.clamp(0, 1))
        profile = profile / profile.mean()
        width = float((mesh[outer] - mesh[inner]).norm())
        deficit = max(RELAXED_EYE_APERTURE * width - float(g.lid_gap(upper, lower).mean()), 0.0)
        lids = torch.zeros(len(upper) + len(lower), 3, dtype=mesh.dtype)
        lids[: len(upper), 1] = 0.9 * deficit * profile
        lids[len(upper) :, 1] = -0.1 * deficit
        field = spread_displacement(mesh, upper + lower, lids, 0.3 * g.eye_width)
        field[upper + lower] = lids  # the lids land on the aperture; the kernel carries the move to the skin
        neutral = neutral + field
    return neutral


def _lip_closure(mesh: Tensor, g: FaceGeometry) -> Tensor:
    """Displacements that bring each inner-lip vertex halfway to the opposite lip: relaxed, closed lips."""
    topo = topology.face_topology()
    inner = set(topo.regions["lips_inner"].tolist())
    corners = {topology.INNER_MOUTH_CORNER_LEFT, topology.INNER_MOUTH_CORNER_RIGHT}
    upper = [v for v in g.upper_lip if v in inner and v not in corners]
    lower = [v for v in g.lower_lip if v in inner and v not in corners]
    moves = torch.zeros(len(upper) + len(lower), 3, dtype=mesh.dtype)
    for offset, (these, others) in enumerate(((upper, lower), (lower, upper))):
        nearest = torch.cdist(mesh[these, :1], mesh[others, :1]).argmin(-1)
        half_gap = 0.5 * (mesh[[others[i] for i in nearest.tolist()], 1] - mesh[these, 1])
        start = offset * len(upper)
        moves[start : start + len(these), 1] = half_gap.clamp(max=0) if offset == 0 else half_gap.clamp(min=0)
    lips = upper + lower
    field = spread_displacement(mesh, lips, moves, 0.15 * g.mouth_width)
    field[lips] = moves  # the inner lips meet exactly; the kernel only carries the move to the skin around them
    return field


def fit_single(points: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    """One photo: (neutral [468, 3], β [U], pose [6]); neutral + Σ β u is the photo's mesh up to what the units
    cannot express (the neutral stays clean: closed lips, relaxed eyes)."""
    mesh, pose = canonicalize_single(points)
    neutral = neutralize(mesh)
    eyes = eye_coefficients(eye_apertures(mesh, neutral), eye_apertures(neutral, neutral))
    beta = solve_with_eyes(mesh - neutral, build_units(neutral), fit_weights(mesh), eyes)
    return neutral, beta, pose


def fit_to_neutral(
    points: Tensor,
    neutral: Tensor,
    units: Tensor | None = None,
    vertices: np.ndarray | None = None,
    read_eyes: Callable[[Tensor], Tensor] | None = None,
) -> tuple[Tensor, Tensor]:
    """Landmarks [..., K, 3] of a known subject → (β [..., U], pose [..., 6]).

    ``vertices`` names the mesh vertex of each of the K landmarks (all 468 when None): a sparse layout such as
    face-alignment's 68 points is fitted on those rows alone. ``read_eyes`` maps the fitted pose [..., 6] to β of
    ``EYE_UNITS`` [..., 4] measured some better way (``EyeAppearance``); without it the eyes are read from the
    landmarks' lid apertures.
    """
    vertices = np.arange(topology.NUM_VERTICES) if vertices is None else np.asarray(vertices)
    camera = to_camera(points)
    neutral = neutral.to(points)
    weights = torch.zeros(topology.NUM_VERTICES, dtype=points.dtype)
    weights[rigid_vertices()] = 1.0
    weights = weights[vertices]
    if not bool((weights > 0).any()):
        weights = torch.ones_like(weights)
    rotation, scale, translation = similarity_procrustes(neutral[vertices], camera, weights)
    # Expression in the image plane: what the posed rig predicts for x, y against what was seen (depth is a guess).
    seen = (camera[..., :2] - translation[..., None, :2]) / scale[..., None, None]
    posed_neutral = (neutral[vertices] @ rotation.transpose(-1, -2))[..., :2]
    units = (build_units(neutral) if units is None else units).to(points)[:, vertices]
    posed_units = (units @ rotation.transpose(-1, -2).unsqueeze(-3))[..., :2]
    pose = transform_to_pose(rotation, scale, translation)
    if read_eyes is None:
        eyes = eye_coefficients(eye_apertures(seen, neutral, vertices), eye_apertures(posed_neutral, neutral, vertices))
    else:
        eyes = read_eyes(pose).to(points)
    beta = solve_with_eyes(seen - posed_neutral, posed_units, fit_weights(points)[vertices], eyes)
    return beta, pose
