"""Talking videos for tests: the astronaut rendered by the geometric renderer, jaw and head moving."""

from __future__ import annotations

import torch


def astronaut_talking_frames(count: int, *, size: int = 256, turn: float = 0.0) -> torch.Tensor:
    """[count, size, size, 3] frames in 0..1: jawOpen swinging 0–0.6, yaw swinging ±``turn`` radians."""
    from skimage import data

    from flowvq_core.face import GeometricRenderer, extract
    from flowvq_core.face.rig import unit_index

    photo = data.astronaut()
    face = extract(photo, crop_size=size)
    renderer = GeometricRenderer()
    source = renderer.prepare(face.crop_image(photo), face.neutral, face.expression, face.pose)
    expression = face.expression.repeat(count, 1)
    expression[:, unit_index("jawOpen")] = 0.3 + 0.3 * torch.sin(torch.linspace(0, count / 5, count))
    pose = face.pose.repeat(count, 1)
    pose[:, 1] += turn * torch.sin(torch.linspace(0, count / 20, count))
    return renderer.render_frames(source, expression, pose)


def prepared_mead_tree(root, out, *, frames: int, crop_size: int = 512):
    """A MEAD-shaped tree of two talking clips (actor M003 is a test actor, W011 a training one) under ``root``,
    prepared into ``out``; returns ``out``."""
    from flowvq_core.bench import speech_like_audio
    from flowvq_core.datasets.prepare import prepare
    from flowvq_core.video import write_mp4

    video = astronaut_talking_frames(frames, turn=0.05)
    for actor, emotion in (("M003", "happy"), ("W011", "sad")):
        folder = root / actor / "video" / "front" / emotion / "level_1"
        folder.mkdir(parents=True)
        write_mp4(folder / "001.mp4", [video], 25.0, speech_like_audio(frames / 25), 16000)
    assert prepare(root, out, "mead", crop_size=crop_size).done == 2
    return out
