"""The geometric renderer: a training-free warp of the source photo by the rig.

For every frame the source mesh is deformed by (β̂, ρ̂) and projected; the move of each mesh vertex, from where it
is in the target back to where it was in the source, is interpolated over the whole crop by a thin-plate spline
(anchored to zero motion along the crop border, so hair, neck and background follow the head smoothly and the
corners stay put), evaluated on a coarse grid, upsampled and used as a backward map for ``grid_sample``. Where the
lips open wider than in the photo, a mouth interior (dark cavity, upper and lower teeth bands) is painted into the
inner-lip polygon, blended by how much of the opening the photo cannot supply (a photo's own open mouth is
stretched up to twice its area before paint takes over).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from ..rendering import render_all
from . import topology
from .pose import project
from .rig import ExpressionRig

CAVITY = (0.20, 0.06, 0.06)
OPENING_MARGIN = 24
"""Pixels around the target's mouth and eyes within which closing lips and lids are composited."""
HEAD_RING_SCALE = 1.3
"""Size of the hair-and-skull ring relative to the face outline (in the canonical head)."""
TEETH = (0.88, 0.85, 0.78)


@functools.lru_cache(maxsize=1)
def control_vertices() -> np.ndarray:
    """The mesh vertices that steer the warp: every lip, eye and brow vertex plus an even spread of the rest."""
    topo = topology.face_topology()
    detailed = set()
    for region in ("lips_outer", "lips_inner", "eye_left", "eye_right", "brow_left", "brow_right", "face_oval"):
        detailed |= set(topo.regions[region].tolist())
    rest = [v for v in range(topology.NUM_VERTICES) if v not in detailed]
    return np.array(sorted(detailed | set(rest[::4])))


@functools.lru_cache(maxsize=4)
def _pixel_centres(size: int, device: torch.device, dtype: torch.dtype) -> Tensor:
    """[S, S, 2] the (x, y) of every pixel centre in grid_sample's [-1, 1] coordinates."""
    centres = (torch.arange(size, device=device, dtype=dtype) + 0.5) / size * 2 - 1
    return torch.stack(torch.meshgrid(centres, centres, indexing="xy"), -1)


def _border_anchors(count: int) -> Tensor:
    """Points along the border of the unit square (crop units), a little outside it."""
    t = torch.linspace(0, 1, count + 1, dtype=torch.float64)[:-1]
    low, high = torch.full_like(t, -0.02), torch.full_like(t, 1.02)
    ramp = -0.02 + 1.04 * t
    return torch.cat([torch.stack(p, -1) for p in ((ramp, low), (high, ramp), (1 - ramp, high), (low, 1 - ramp))])


def _tps_kernel(squared_distance: Tensor) -> Tensor:
    return 0.5 * squared_distance * torch.log(squared_distance.clamp_min(1e-12))


def thin_plate_spline(controls: Tensor, values: Tensor, queries: Tensor, smoothing: float = 1e-5) -> Tensor:
    """Interpolate ``values`` [B, C, V] given at ``controls`` [B, C, 2] to ``queries`` [Q, 2] → [B, Q, V] (float32).

    The small system is solved in the controls' precision; the many query evaluations run in float32.

    ``smoothing`` regularises nearly coincident controls (e.g. closing eyelids) instead of letting the spline fold.
    """
    batch, count, _ = controls.shape
    kernel = _tps_kernel(torch.cdist(controls, controls).pow(2))
    kernel = kernel + smoothing * torch.eye(count, dtype=controls.dtype, device=controls.device)
    affine = torch.cat([torch.ones(batch, count, 1, dtype=controls.dtype, device=controls.device), controls], -1)
    system = torch.cat(
        [torch.cat([kernel, affine], -1), torch.cat([affine.transpose(1, 2), affine.new_zeros(batch, 3, 3)], -1)], 1
    )
    rhs = torch.cat([values, values.new_zeros(batch, 3, values.shape[-1])], 1)
    weights = torch.linalg.solve(system, rhs).float()
    queries, controls = queries.float(), controls.float()
    squared = (queries.pow(2).sum(-1)[None, :, None] + controls.pow(2).sum(-1)[:, None, :]
               - 2 * queries @ controls.transpose(1, 2))  # fmt: skip
    query_affine = torch.cat([torch.ones_like(queries[:, :1]), queries], -1).expand(batch, -1, -1)
    return _tps_kernel(squared.clamp_min_(0)) @ weights[:, :count] + query_affine @ weights[:, count:]


def polygon_mask(polygons: Tensor, xs: Tensor, ys: Tensor) -> Tensor:
    """Even-odd inside test of pixel centres (xs [W], ys [H]) for closed polygons [B, K, 2] → [B, H, W] float."""
    start, end = polygons, polygons.roll(-1, dims=1)
    x = xs.view(1, 1, -1, 1)
    y = ys.view(1, -1, 1, 1)
    x0, y0 = start[..., 0].view(polygons.shape[0], 1, 1, -1), start[..., 1].view(polygons.shape[0], 1, 1, -1)
    x1, y1 = end[..., 0].view_as(x0), end[..., 1].view_as(y0)
    crosses = (y0 > y) != (y1 > y)
    x_at = x0 + (y - y0) * (x1 - x0) / torch.where(y1 == y0, torch.ones_like(y1), y1 - y0)
    return ((crosses & (x < x_at)).sum(-1) % 2).to(polygons.dtype)


@dataclass
class RenderSource:
    """Everything about the source that every frame reuses."""

    image: Tensor
    """[S, S, 3] the source crop."""
    rig: ExpressionRig
    vertices: Tensor
    """[468, 2] where the source mesh lies in the crop (crop units)."""
    head_ring: Tensor
    """[R, 3] canonical points on a ring around the face outline, standing for the hair and skull."""
    ring: Tensor
    """[R, 2] where the ring lies in the photo (crop units)."""
    closed: Tensor
    """[S, S, 3] the crop with its mouth and eye openings filled by the lips and lids around them: what a closing
    mouth or eye shows instead of teeth or iris."""
    openings: Tensor
    """[S, S] soft mask of the photo's own mouth and eye openings."""
    mouth_area: float
    """Area of the photo's inner-lip polygon in pixels."""

    @functools.cached_property
    def layers(self) -> Tensor:
        """[1, 7, S, S] what every frame warps: the photo, its closed version and the openings' mask."""
        return torch.cat([self.image, self.closed, self.openings.unsqueeze(-1)], -1).permute(2, 0, 1).unsqueeze(0)


class GeometricRenderer:
    """Warp a source crop to new expression and pose coefficients; CPU or CUDA, batched over frames.

    A :class:`~flowvq_core.rendering.Renderer`: each frame is drawn from its own coefficients (no context), and its
    mask is the posed face outline. The mouth's and eyes' regions are laid out over the whole chunk, though, and
    beyond a frame's own mouth corners its lip seam (and, faintly, its mouth paint) reaches across the chunk's mouth
    box: near the corners a frame can differ a little with the frames rendered beside it.
    """

    context = 0
    """Frames of coefficients either side of a frame that its image depends on: none."""

    def __init__(self, grid_size: int = 32, border_anchors: int = 12, mouth_interior: bool = True, chunk: int = 16):
        self.grid_size = grid_size
        self.border_anchors = border_anchors
        self.mouth_interior = mouth_interior
        self.chunk = chunk

    def prepare(self, image: Tensor, neutral: Tensor, expression: Tensor, pose: Tensor) -> RenderSource:
        """``image`` [S, S, 3] is the source crop; ``neutral``, ``expression`` [U] and ``pose`` [6] its fitted face."""
        rig = ExpressionRig(neutral.double())
        vertices = project(rig.deform(expression.double()), pose.double())[..., :2]
        closed, openings = _close_openings(image, vertices.to(image))
        mouth_area = float(_OpeningRegion(vertices.unsqueeze(0), image.shape[0], _openings()[0]).area[0])
        outline = rig.neutral[topology.face_topology().loops["face_oval"][::2]]
        centre = outline.mean(0)
        head_ring = centre + HEAD_RING_SCALE * (outline - centre)
        return RenderSource(
            image=image,
            rig=rig,
            vertices=vertices,
            head_ring=head_ring,
            ring=project(head_ring, pose.double())[..., :2],
            closed=closed,
            openings=openings,
            mouth_area=mouth_area,
        )

    def render(self, source: RenderSource, expression: Tensor, pose: Tensor) -> tuple[Tensor, Tensor]:
        """β̂ [T, U] and ρ̂ [T, 6] → frames [T, S, S, 3] and face masks [T, S, S] on the source image's device."""
        return render_all(self, source, expression, pose, masks=True)

    def render_frames(self, source: RenderSource, expression: Tensor, pose: Tensor) -> Tensor:
        """Frames alone (no face masks to compute): what a video needs."""
        return render_all(self, source, expression, pose, masks=False)[0]

    def render_chunk(
        self, source: RenderSource, expression: Tensor, pose: Tensor, *, masks: bool
    ) -> tuple[Tensor, Tensor | None]:
        """β̂ [N, U] and ρ̂ [N, 6] → frames [N, S, S, 3] and, with ``masks``, face masks [N, S, S] (else None)."""
        image = source.image
        device, size = image.device, image.shape[0]
        batch = expression.shape[0]
        targets = project(source.rig.deform(expression.double().cpu()), pose.double().cpu())[..., :2]
        chosen = torch.as_tensor(control_vertices())
        anchors = _border_anchors(self.border_anchors).expand(batch, -1, -1)
        # Hair and skull turn with the head: a rigid ring around the face, posed like it (no expression).
        ring_targets = project(source.head_ring, pose.double().cpu())[..., :2]
        controls = torch.cat([targets[:, chosen], ring_targets, anchors], 1)
        motion = torch.cat(
            [
                source.vertices[chosen].expand(batch, -1, -1) - targets[:, chosen],
                source.ring.expand(batch, -1, -1) - ring_targets,
                torch.zeros_like(anchors),
            ],
            1,
        )
        cells = (torch.arange(self.grid_size, dtype=torch.float64) + 0.5) / self.grid_size
        grid = torch.stack(torch.meshgrid(cells, cells, indexing="xy"), -1).view(-1, 2)
        coarse = thin_plate_spline(controls, motion, grid).view(batch, self.grid_size, self.grid_size, 2)
        coarse = (2 * coarse).to(device=device, dtype=image.dtype).permute(0, 3, 1, 2)  # in grid_sample's [-1, 1]
        displacement = F.interpolate(coarse, size=(size, size), mode="bilinear", align_corners=False)
        sample_at = _pixel_centres(size, device, image.dtype) + displacement.permute(0, 2, 3, 1)
        layers = source.layers.expand(batch, -1, -1, -1)
        frames = F.grid_sample(layers[:, :3], sample_at, mode="bilinear", padding_mode="border", align_corners=False)
        regions = [_OpeningRegion(targets.to(device=device, dtype=image.dtype), size, o) for o in _openings()]
        # Where a photo opening lands outside the target's openings, lips or lids have closed over it. That can only
        # happen around the target's mouth and eyes, so the closed layers are warped in that window alone.
        rows, columns = _window(regions, size, margin=OPENING_MARGIN)
        closing = F.grid_sample(
            layers[:, 3:], sample_at[:, rows, columns], mode="bilinear", padding_mode="border", align_corners=False
        )
        target_open = image.new_zeros(batch, size, size)
        for region in regions:
            region.add_to(target_open)
        covered = image.new_zeros(batch, size, size)
        covered[:, rows, columns] = closing[:, 3] * (1 - target_open[:, rows, columns])
        window = frames[:, :, rows, columns]
        frames[:, :, rows, columns] = torch.addcmul(window, covered[:, None, rows, columns], closing[:, :3] - window)
        frames = _draw_lip_seam(frames.permute(0, 2, 3, 1), regions[0], covered)
        for region, landmarks in zip(regions[1:], _EYE_LANDMARKS, strict=True):
            frames = _show_eyeball(frames, image, region, source.vertices.to(image) * size, landmarks)
        if self.mouth_interior:
            frames = self._paint_mouth(frames, source, regions[0])
        if not masks:
            return frames, None
        oval = targets[:, topology.face_topology().loops["face_oval"]].to(device=device, dtype=image.dtype)
        coarse_mask = polygon_mask(
            oval, cells.to(device=device, dtype=image.dtype), cells.to(device=device, dtype=image.dtype)
        )
        face_masks = F.interpolate(coarse_mask.unsqueeze(1), size=(size, size), mode="bilinear", align_corners=False)
        return frames, face_masks[:, 0]  # convex blends of values in 0..1 stay in 0..1

    def _paint_mouth(self, frames: Tensor, source: RenderSource, mouth: _OpeningRegion) -> Tensor:
        """Paint a mouth interior where the target lips open wider than the photo's (past twice its area)."""
        need = (1 - 2 * source.mouth_area / mouth.area.clamp_min(1e-6)).clamp(0, 1) * (mouth.area > 4)
        if not bool((need > 0).any()):
            return frames
        rows, columns = mouth.rows, mouth.columns
        interior = self._interior(mouth.xs, mouth.ys, mouth.vertices, frames.shape[1])
        alpha = (mouth.inside * need.view(-1, 1, 1)).unsqueeze(-1)
        frames[:, rows, columns] = frames[:, rows, columns] * (1 - alpha) + interior * alpha
        return frames

    @staticmethod
    def _interior(xs: Tensor, ys: Tensor, targets: Tensor, size: int) -> Tensor:
        """Colours of a mouth interior [B, H, W, 3]: teeth under the upper lip and above the lower lip, dark between."""
        upper, lower = _lip_curves(targets * size)
        top, bottom = _curve_at(upper, xs), _curve_at(lower, xs)
        gap = (bottom - top).clamp_min(1.0)
        mouth_width = (targets[:, topology.MOUTH_CORNER_LEFT] - targets[:, topology.MOUTH_CORNER_RIGHT]).norm(
            dim=-1
        ) * size
        depth = ((ys.view(1, -1, 1) - top.unsqueeze(1)) / gap.unsqueeze(1)).clamp(0, 1)
        teeth_height = torch.minimum(0.4 * gap, 0.1 * mouth_width.view(-1, 1)).unsqueeze(1)
        from_top = ys.view(1, -1, 1) - top.unsqueeze(1)
        from_bottom = bottom.unsqueeze(1) - ys.view(1, -1, 1)
        upper_teeth = torch.sigmoid((teeth_height - from_top) * 1.5)
        lower_teeth = torch.sigmoid((0.6 * teeth_height - from_bottom) * 1.5) * (
            gap.unsqueeze(1) > 0.25 * mouth_width.view(-1, 1, 1)
        )
        teeth = (upper_teeth + lower_teeth).clamp(0, 1).unsqueeze(-1)
        shade = (1 - 0.5 * torch.sin(np.pi * depth)).unsqueeze(-1)
        cavity = targets.new_tensor(CAVITY) * shade
        enamel = targets.new_tensor(TEETH) * (0.85 + 0.15 * shade)
        return cavity * (1 - teeth) + enamel * teeth


class _OpeningRegion:
    """An opening of a batch of projected meshes, rasterised as the band between its upper and lower edge curves.

    A band (rather than the contour polygon) stays right where FaceMesh's contours cross near the mouth corners: the
    opening is simply shut wherever the lower edge is not below the upper one.
    """

    def __init__(self, vertices: Tensor, size: int, opening: _Opening):
        self.vertices = vertices
        self.size = size
        upper, lower = vertices[:, list(opening.upper)] * size, vertices[:, list(opening.lower)] * size
        edges = torch.cat([upper, lower], 1)
        low = edges.amin(dim=(0, 1)).floor().clamp(0, size - 1).long().tolist()
        high = edges.amax(dim=(0, 1)).ceil().clamp(1, size).long().tolist()
        self.rows, self.columns = slice(low[1], high[1]), slice(low[0], high[0])
        self.xs = torch.arange(low[0], high[0], device=vertices.device, dtype=vertices.dtype) + 0.5
        self.ys = torch.arange(low[1], high[1], device=vertices.device, dtype=vertices.dtype) + 0.5
        self.top, self.bottom = _curve_at(upper, self.xs), _curve_at(lower, self.xs)
        self.area = (self.bottom - self.top).clamp_min(0).sum(-1)
        depth = torch.minimum(
            self.ys.view(1, -1, 1) - self.top.unsqueeze(1), self.bottom.unsqueeze(1) - self.ys.view(1, -1, 1)
        )
        self.inside = (depth + 0.5).clamp(0, 1)
        """[B, H, W] soft mask of the opening inside the bounding box."""
        self.open = (depth - 1.5).clamp(0, 1)
        """The opening less a 2-pixel rim: slivers count as shut."""

    def add_to(self, mask: Tensor, *, shaved: bool = True) -> None:
        """Mark the opening (``open`` when shaved, else ``inside``) in a full-size ``mask`` [B, S, S]."""
        window = mask[:, self.rows, self.columns]
        mask[:, self.rows, self.columns] = torch.maximum(window, self.open if shaved else self.inside)


@dataclass(frozen=True)
class _Opening:
    """A hole in the face (the mouth, an eye) that closes when its two edges meet."""

    upper: tuple[int, ...]
    lower: tuple[int, ...]
    seam_at: float
    """Where the edges meet when closed: 0 at the upper edge, 1 at the lower (eyelids close low)."""
    seam_darkness: float
    dilation: tuple[int, int]


@functools.lru_cache(maxsize=1)
def _openings() -> tuple[_Opening, ...]:
    """The mouth first, then both eyes."""
    topo = topology.face_topology()
    upper_lip, lower_lip = set(topo.regions["upper_lip"].tolist()), set(topo.regions["lower_lip"].tolist())
    loop = topo.loops["lips_inner"].tolist()
    openings = [_Opening(tuple(v for v in loop if v in upper_lip),
                         tuple(v for v in loop if v in lower_lip), 0.5, 0.0, (9, 9))]  # fmt: skip
    for name, outer, inner, upper_lid in (
        ("eye_left", topology.EYE_OUTER_LEFT, topology.EYE_INNER_LEFT, topology.UPPER_LID_LEFT),
        ("eye_right", topology.EYE_OUTER_RIGHT, topology.EYE_INNER_RIGHT, topology.UPPER_LID_RIGHT),
    ):
        loop = topo.loops[name].tolist()
        i, j = sorted((loop.index(outer), loop.index(inner)))
        first, second = loop[i : j + 1], loop[j:] + loop[: i + 1]
        upper, lower = (first, second) if upper_lid in first else (second, first)
        openings.append(_Opening(tuple(upper), tuple(lower), 0.85, 0.55, (1, 1)))
    return tuple(openings)


LIP_SEAM_DARKNESS = 0.35


def _draw_lip_seam(frames: Tensor, mouth: _OpeningRegion, covered: Tensor) -> Tensor:
    """Darken the line where closed lips meet, along the target's own lip curves, where lips closed over the photo's
    open mouth (a closed photo mouth already has its line)."""
    gap = mouth.bottom - mouth.top
    middle = 0.5 * (mouth.top + mouth.bottom)
    line = torch.exp(-((mouth.ys.view(1, -1, 1) - middle.unsqueeze(1)) / 1.2).pow(2))
    line = line * (1 - gap / 4).clamp(0, 1).unsqueeze(1) * covered[:, mouth.rows, mouth.columns]
    frames[:, mouth.rows, mouth.columns] *= (1 - LIP_SEAM_DARKNESS * line).unsqueeze(-1)
    return frames


_EYE_LANDMARKS = (
    (topology.EYE_OUTER_LEFT, topology.EYE_INNER_LEFT, topology.UPPER_LID_LEFT, topology.LOWER_LID_LEFT),
    (topology.EYE_OUTER_RIGHT, topology.EYE_INNER_RIGHT, topology.UPPER_LID_RIGHT, topology.LOWER_LID_RIGHT),
)
"""Per eye: the two corners (they carry the eyeball) and the middle of each lid (they measure the opening)."""


def _show_eyeball(
    frames: Tensor, image: Tensor, eye: _OpeningRegion, source_pixels: Tensor, landmarks: tuple[int, int, int, int]
) -> Tensor:
    """Inside the target eye opening, show the photo's eyeball moved only with the eye corners.

    The lids warp with the skin, but the eyeball does not stretch with them: a half-closed lid covers half the iris
    instead of squashing it. The map from target to photo is the similarity that takes the target eye corners onto
    the photo's; an eye opened wider than in the photo has no more eyeball to show, so there the photo's opening is
    stretched to fill it.
    """
    size = frames.shape[1]
    outer, inner, upper, lower = landmarks
    target = eye.vertices[:, [outer, inner]] * size
    photo = source_pixels[[outer, inner]]
    target_vector, photo_vector = target[:, 1] - target[:, 0], photo[1] - photo[0]
    ratio = torch.complex(photo_vector[0], photo_vector[1]) / torch.complex(target_vector[:, 0], target_vector[:, 1])
    xs, ys = torch.meshgrid(eye.xs, eye.ys, indexing="xy")
    offset = torch.complex(xs.unsqueeze(0) - target[:, 0, 0, None, None], ys.unsqueeze(0) - target[:, 0, 1, None, None])
    mapped = ratio[:, None, None] * offset + torch.complex(photo[0, 0], photo[0, 1])
    photo_gap = (source_pixels[lower] - source_pixels[upper]).norm()
    target_gap = (eye.vertices[:, lower] - eye.vertices[:, upper]).norm(dim=-1) * size * ratio.abs()
    squeeze = (photo_gap / target_gap.clamp_min(1e-6)).clamp(max=1.0)[:, None, None]
    middle = 0.5 * (source_pixels[upper, 1] + source_pixels[lower, 1])
    grid = torch.stack([mapped.real, middle + (mapped.imag - middle) * squeeze], -1) / size * 2 - 1
    source = image.permute(2, 0, 1).unsqueeze(0).expand(frames.shape[0], -1, -1, -1)
    eyeball = F.grid_sample(source, grid, mode="bilinear", padding_mode="border", align_corners=False)
    alpha = eye.open.unsqueeze(-1)
    region = frames[:, eye.rows, eye.columns]
    frames[:, eye.rows, eye.columns] = region * (1 - alpha) + eyeball.permute(0, 2, 3, 1) * alpha
    return frames


def _lip_curves(vertices: Tensor) -> tuple[Tensor, Tensor]:
    """The upper and lower inner-lip vertices [B, K, 2] of projected meshes [B, 468, 2]."""
    mouth = _openings()[0]
    return vertices[:, list(mouth.upper)], vertices[:, list(mouth.lower)]


def _close_openings(image: Tensor, vertices: Tensor) -> tuple[Tensor, Tensor]:
    """The crop with every opening filled from the skin above and below it, and the openings' soft mask.

    Each column of an opening blends the colour just above its upper edge into the colour just below its lower
    edge, with a darker seam where the edges would meet (the lip line, the lash line).
    """
    size = image.shape[0]
    pixels = vertices.unsqueeze(0) * size
    coordinates = torch.arange(size, device=image.device, dtype=image.dtype) + 0.5
    closed, openings = image.clone(), image.new_zeros(size, size)
    for opening in _openings():
        mask = image.new_zeros(1, size, size)
        _OpeningRegion(vertices.unsqueeze(0), size, opening).add_to(mask, shaved=False)
        height, width = opening.dilation
        mask = F.max_pool2d(mask.unsqueeze(1), (height, width), stride=1, padding=(height // 2, width // 2))
        mask = F.avg_pool2d(mask, 5, stride=1, padding=2, count_include_pad=False)[0, 0]
        top = _curve_at(pixels[:, list(opening.upper)], coordinates)[0]
        bottom = _curve_at(pixels[:, list(opening.lower)], coordinates)[0]
        span = (bottom - top).clamp_min(1.0)
        wide = _nearest_wide_column(span, minimum=4.0)  # near the corners both edges sit in the corner's shadow
        above = image[(top[wide] - 3).round().long().clamp(0, size - 1), wide]
        below = image[(bottom[wide] + 3).round().long().clamp(0, size - 1), wide]
        t = ((coordinates.view(-1, 1) - top.view(1, -1)) / span.view(1, -1)).clamp(0, 1)
        seam = 1 - opening.seam_darkness * torch.exp(-(((t - opening.seam_at) * span) / 1.5).pow(2))
        filled = (above * (1 - t.unsqueeze(-1)) + below * t.unsqueeze(-1)) * seam.unsqueeze(-1)
        closed = closed * (1 - mask.unsqueeze(-1)) + filled * mask.unsqueeze(-1)
        openings = torch.maximum(openings, mask)
    return closed, openings


def _window(regions: list[_OpeningRegion], size: int, margin: int) -> tuple[slice, slice]:
    """The rows and columns of the bounding box of all regions, widened by ``margin`` pixels."""
    top = max(min(region.rows.start for region in regions) - margin, 0)
    bottom = min(max(region.rows.stop for region in regions) + margin, size)
    left = max(min(region.columns.start for region in regions) - margin, 0)
    right = min(max(region.columns.stop for region in regions) + margin, size)
    return slice(top, bottom), slice(left, right)


def _nearest_wide_column(span: Tensor, minimum: float) -> Tensor:
    """[W] for every column, the index of the nearest column whose span is at least ``minimum`` (itself if so)."""
    columns = torch.arange(span.shape[0], device=span.device)
    wide = columns[span >= minimum]
    if wide.numel() == 0:
        return columns
    return wide[(columns[:, None] - wide[None, :]).abs().argmin(-1)]


def _curve_at(points: Tensor, xs: Tensor) -> Tensor:
    """Piecewise-linear y(x) through points [B, K, 2] (any order) evaluated at xs [W] → [B, W]."""
    order = points[..., 0].argsort(-1)
    sorted_points = points.gather(1, order.unsqueeze(-1).expand(-1, -1, 2))
    x, y = sorted_points[..., 0], sorted_points[..., 1]
    index = torch.searchsorted(x.contiguous(), xs.expand(x.shape[0], -1).contiguous()).clamp(1, x.shape[1] - 1)
    x0, x1 = x.gather(1, index - 1), x.gather(1, index)
    y0, y1 = y.gather(1, index - 1), y.gather(1, index)
    t = ((xs - x0) / (x1 - x0).clamp_min(1e-6)).clamp(0, 1)
    return y0 + t * (y1 - y0)
