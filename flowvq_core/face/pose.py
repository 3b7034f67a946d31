"""Head pose ρ = (pitch, yaw, roll, tx, ty, scale) and the geometry that links it to landmarks.

Canonical head space (our choice): X towards the subject's left, Y up, Z towards the camera, origin at the centre of
the rigid face points, unit = their RMS radius. Camera space is the crop's normalised image plane with y flipped and
depth towards the camera: c = (x, −y, −z) for a landmark (x, y, z) in crop units (0..1). A canonical point v is
seen at c = scale · R(pitch, yaw, roll) · v + (tx, −ty, ·), an orthographic (weak-perspective) camera, so tx, ty are
where the head centre appears in the crop (0..1, y down) and scale is the head's size in crop units.
Angles are radians; R = Rz(roll) · Ry(yaw) · Rx(pitch): positive yaw turns the nose towards the image's right,
positive pitch tilts it down, positive roll tilts the head's top towards the image's left.
"""

from __future__ import annotations

import torch
from torch import Tensor

POSE_NAMES = ("pitch", "yaw", "roll", "tx", "ty", "scale")


def euler_to_matrix(angles: Tensor) -> Tensor:
    """[..., 3] (pitch, yaw, roll) → [..., 3, 3] rotation Rz(roll)·Ry(yaw)·Rx(pitch)."""
    pitch, yaw, roll = angles.unbind(-1)
    cx, sx, cy, sy, cz, sz = pitch.cos(), pitch.sin(), yaw.cos(), yaw.sin(), roll.cos(), roll.sin()
    rows = [
        [cz * cy, cz * sy * sx - sz * cx, cz * sy * cx + sz * sx],
        [sz * cy, sz * sy * sx + cz * cx, sz * sy * cx - cz * sx],
        [-sy, cy * sx, cy * cx],
    ]
    return torch.stack([torch.stack(row, -1) for row in rows], -2)


def matrix_to_euler(rotation: Tensor) -> Tensor:
    """[..., 3, 3] → [..., 3] (pitch, yaw, roll); the inverse of ``euler_to_matrix`` for |yaw| < 90°."""
    yaw = torch.asin((-rotation[..., 2, 0]).clamp(-1, 1))
    pitch = torch.atan2(rotation[..., 2, 1], rotation[..., 2, 2])
    roll = torch.atan2(rotation[..., 1, 0], rotation[..., 0, 0])
    return torch.stack([pitch, yaw, roll], -1)


def to_camera(points: Tensor) -> Tensor:
    """Landmarks in crop units (x right, y down, z away) → camera space (x right, y up, z towards the camera)."""
    return points * points.new_tensor([1.0, -1.0, -1.0])


def pose_to_transform(pose: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    """[..., 6] → (rotation [..., 3, 3], scale [...], translation [..., 3]) in camera space."""
    translation = torch.stack([pose[..., 3], -pose[..., 4], torch.zeros_like(pose[..., 4])], -1)
    return euler_to_matrix(pose[..., :3]), pose[..., 5], translation


def transform_to_pose(rotation: Tensor, scale: Tensor, translation: Tensor) -> Tensor:
    return torch.cat([matrix_to_euler(rotation), translation[..., :1], -translation[..., 1:2], scale[..., None]], -1)


def project(vertices: Tensor, pose: Tensor) -> Tensor:
    """Canonical vertices [..., N, 3] seen under pose [..., 6] → crop units [..., N, 3] (x right, y down, z away)."""
    rotation, scale, translation = pose_to_transform(pose)
    camera = scale[..., None, None] * vertices @ rotation.transpose(-1, -2) + translation[..., None, :]
    return to_camera(camera)


def similarity_procrustes(source: Tensor, target: Tensor, weights: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    """Weighted similarity (Umeyama): rotation R, scale s, translation t minimising Σ w‖s·R·x + t − y‖².

    source [..., N, 3], target [..., N, 3], weights [N]. Returns R [..., 3, 3], s [...], t [..., 3].
    """
    w = (weights / weights.sum()).to(source)[:, None]
    source_mean = (w * source).sum(-2, keepdim=True)
    target_mean = (w * target).sum(-2, keepdim=True)
    x, y = source - source_mean, target - target_mean
    covariance = (w * y).transpose(-1, -2) @ x
    u, singular, vt = torch.linalg.svd(covariance)
    sign = torch.sign(torch.linalg.det(u @ vt))
    correction = torch.ones_like(singular)
    correction[..., -1] = sign
    rotation = u @ torch.diag_embed(correction) @ vt
    variance = (w * x.pow(2)).sum((-2, -1))
    scale = (singular * correction).sum(-1) / variance
    translation = (
        target_mean[..., 0, :]
        - scale[..., None] * (source_mean[..., 0, :, None].transpose(-1, -2) @ rotation.transpose(-1, -2))[..., 0, :]
    )
    return rotation, scale, translation
