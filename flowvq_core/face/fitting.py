"""Fitting the rig to landmarks: pose by weighted Procrustes, expression by bounded least squares (DESIGN §2).

Inputs are the 468 mesh landmarks in crop units (x, y right/down in 0..1, z away from the camera on the x scale).
With a known neutral mesh (a video, or another photo of the same subject) the pose is the similarity that best maps
the neutral's rigid points onto the landmarks, and β minimises Σ_v w_v‖m_v − n_v − Σ_k β_k u_kv‖² + λ‖β‖² with
0 ≤ β ≤ 1. A single photo has no neutral to compare with, so its head frame comes from the face's own axes and its
neutral is the photo with the expressions that can be judged on their own undone (open jaw closed, eyes brought to
a relaxed aperture); every other unit starts at 0 for that identity.
"""

from __future__ import annotations

import functools

import numpy as np
import torch
from scipy.optimize import lsq_linear
from torch import Tensor

from . import topology as T
from .pose import similarity_procrustes, to_camera, transform_to_pose
from .rig import JAW_GAP, NEUTRAL_EYE_APERTURE, FaceGeometry, build_units, spread_displacement, unit_index

EXPRESSION_PRIOR = 1e-3
"""λ of the small ridge prior that keeps β at 0 when the landmarks do not ask for a unit."""
OBSERVED_LID_CLOSURE = 0.56
"""How much of a blink the FaceMesh eyelid landmarks report: on renders of the astronaut with eyeBlink = 1 (lids
meeting) they still read 44 % of the open lid gap, as FaceMesh does on closed eyes in photos. Fitting divides this
out so a closed eye reads as eyeBlink ≈ 1 (measured with the blink sweep in tests/test_face_model.py)."""


@functools.lru_cache(maxsize=1)
def rigid_vertices() -> np.ndarray:
    """Vertices that do not move with expressions: the nose, the eye corners and the face oval above the ears."""
    topo = T.face_topology()
    oval = topo.loops["face_oval"].tolist()
    start = oval.index(T.FOREHEAD)
    oval = oval[start:] + oval[:start]
    upper_oval = oval[: oval.index(T.FACE_SIDE_LEFT) + 1] + oval[oval.index(T.FACE_SIDE_RIGHT) :]
    corners = [T.EYE_OUTER_LEFT, T.EYE_INNER_LEFT, T.EYE_OUTER_RIGHT, T.EYE_INNER_RIGHT, T.NASION]
    return np.array(sorted(set(topo.regions["nose"].tolist()) | set(upper_oval) | set(corners)))


@functools.lru_cache(maxsize=1)
def _fit_weights_numpy() -> np.ndarray:
    """Per-vertex weight of the expression fit: lips, eyes and brows carry the signal; the outline is noisy."""
    topo = T.face_topology()
    weights = np.ones(T.NUM_VERTICES)
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
        for a, b in ((T.EYE_OUTER_LEFT, T.EYE_OUTER_RIGHT), (T.EYE_INNER_LEFT, T.EYE_INNER_RIGHT),
                     (T.FACE_SIDE_LEFT, T.FACE_SIDE_RIGHT))
    )  # fmt: skip
    x_axis = torch.nn.functional.normalize(across, dim=-1)
    up = camera[..., T.FOREHEAD, :] - camera[..., T.NOSE_BASE, :]
    y_axis = torch.nn.functional.normalize(up - (up * x_axis).sum(-1, keepdim=True) * x_axis, dim=-1)
    return torch.stack([x_axis, y_axis, torch.linalg.cross(x_axis, y_axis)], -1)


def observed_units(units: Tensor) -> Tensor:
    """The units as the landmark detector sees them (blinks read only partly closed), for fitting."""
    observed = units.clone()
    for name in ("eyeBlinkLeft", "eyeBlinkRight"):
        observed[unit_index(name)] *= OBSERVED_LID_CLOSURE
    return observed


def solve_bounded_least_squares(
    residual: Tensor, units: Tensor, weights: Tensor, prior: float = EXPRESSION_PRIOR
) -> Tensor:
    """β [..., U] in [0, 1] minimising Σ_v w_v‖r_v − Σ_k β_k u_kv‖² + prior·‖β‖².

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
    solved = [lsq_linear(a, b, bounds=(0.0, 1.0), method="bvls").x for a, b in zip(rows_a, rows_b, strict=True)]
    beta = torch.from_numpy(np.stack(solved)).view_as(rhs)
    return beta.to(residual)


def canonicalize_single(points: Tensor) -> tuple[Tensor, Tensor]:
    """Crop-unit landmarks [468, 3] of one photo → (canonical mesh [468, 3], pose [6]) from the face's own axes."""
    camera = to_camera(points)
    rotation = head_frame(camera)
    rigid = camera[rigid_vertices()]
    centre = rigid.mean(0)
    scale = ((rigid - centre).pow(2).sum(-1).mean()).sqrt()
    mesh = (camera - centre) @ rotation / scale
    return mesh, transform_to_pose(rotation, scale, centre)


def neutralize(mesh: Tensor) -> Tensor:
    """The identity's neutral guessed from one canonical mesh: jaw closed, both eyes at a relaxed aperture."""
    g = FaceGeometry(mesh)
    units = build_units(mesh)
    gap = float(mesh[T.UPPER_LIP_INNER, 1] - mesh[T.LOWER_LIP_INNER, 1])
    jaw = min(max(gap / (JAW_GAP * g.mouth_width), 0.0), 1.0)
    neutral = mesh - jaw * units[unit_index("jawOpen")]
    neutral = neutral + _lip_closure(neutral, g)
    for sign in (+1, -1):
        upper, lower = g.eyes[sign]
        aperture = g.lid_gap(upper, lower)
        opening = (NEUTRAL_EYE_APERTURE * g.eye_width - aperture).clamp(min=-aperture.max())
        lids = torch.zeros(len(upper) + len(lower), 3, dtype=mesh.dtype)
        lids[: len(upper), 1] = 0.9 * opening
        lids[len(upper) :, 1] = -0.1 * opening.mean()
        neutral = neutral + spread_displacement(mesh, upper + lower, lids, 0.3 * g.eye_width)
    return neutral


def _lip_closure(mesh: Tensor, g: FaceGeometry) -> Tensor:
    """Displacements that bring each inner-lip vertex halfway to the opposite lip: relaxed, closed lips."""
    topo = T.face_topology()
    inner = set(topo.regions["lips_inner"].tolist())
    corners = {T.INNER_MOUTH_CORNER_LEFT, T.INNER_MOUTH_CORNER_RIGHT}
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
    units = observed_units(build_units(neutral))
    beta = solve_bounded_least_squares(mesh - neutral, units, fit_weights(mesh))
    return neutral, beta, pose


def fit_to_neutral(
    points: Tensor, neutral: Tensor, units: Tensor | None = None, vertices: np.ndarray | None = None
) -> tuple[Tensor, Tensor]:
    """Landmarks [..., K, 3] of a known subject → (β [..., U], pose [..., 6]).

    ``vertices`` names the mesh vertex of each of the K landmarks (all 468 when None): a sparse layout such as
    face-alignment's 68 points is fitted on those rows alone.
    """
    vertices = np.arange(T.NUM_VERTICES) if vertices is None else np.asarray(vertices)
    camera = to_camera(points)
    neutral = neutral.to(points)
    weights = torch.zeros(T.NUM_VERTICES, dtype=points.dtype)
    weights[rigid_vertices()] = 1.0
    weights = weights[vertices]
    if not bool((weights > 0).any()):
        weights = torch.ones_like(weights)
    rotation, scale, translation = similarity_procrustes(neutral[vertices], camera, weights)
    # Expression in the image plane: what the posed rig predicts for x, y against what was seen (depth is a guess).
    seen = (camera[..., :2] - translation[..., None, :2]) / scale[..., None, None]
    posed_neutral = (neutral[vertices] @ rotation.transpose(-1, -2))[..., :2]
    units = observed_units(build_units(neutral) if units is None else units).to(points)[:, vertices]
    posed_units = (units @ rotation.transpose(-1, -2).unsqueeze(-3))[..., :2]
    beta = solve_bounded_least_squares(seen - posed_neutral, posed_units, fit_weights(points)[vertices])
    return beta, transform_to_pose(rotation, scale, translation)
