"""What a renderer is (source face + coefficients → frames and masks), and the one loop that renders in chunks.

A renderer makes a *source* from a portrait's face crop and fitted face once (``prepare``), then draws frames from
that source and a chunk of coefficients (``render_chunk``), as many times as a video has chunks. The pipeline, the
ComfyUI nodes and the evaluation all render through :func:`render_chunks`, so every renderer is driven the same way
and a new one only has to implement :class:`Renderer`.

The contract:

- ``prepare(image, neutral, expression, pose)``: ``image`` [S, S, 3] float32 0..1 is the face crop, on the device
  the frames should come back on (a renderer with a model of its own may move it to the model's device);
  ``neutral`` [468, 3], ``expression`` [U] and ``pose`` [6] its fitted face. It runs once per portrait and renderer
  (:meth:`flowvq_core.pipeline.Portrait.source_for` keeps the result).
- ``render_chunk(source, expression, pose, masks=...)``: β̂ [N + 2·context, U] and ρ̂ [N + 2·context, 6] on any
  device → frames [N, S, S, 3] float32 in 0..1 at the crop's size S, on the source's device, and with ``masks`` the
  masks [N, S, S] float32 in 0..1 beside them, else None. It runs once per chunk, without gradients. The first and
  last ``context`` rows are neighbours that the N frames read and not frames to draw: :func:`render_chunks` passes
  them (repeating the sequence's first and last frame beyond its ends), so no chunk boundary cuts a frame's input.
- A mask tells where a frame shows the animated face: where a paste-back given it blends the frame into the photo
  (1) and where it keeps the photo (0). The geometric renderer gives the posed face outline; a renderer that
  generates the whole crop (the VQIG) gives all ones, and a paste-back then blends the whole crop, softened only at
  the crop's border.
- ``chunk``: frames rendered at once (memory grows with it); ``context``: frames of coefficients either side that
  each frame depends on (0: each frame on its own coefficients).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Protocol, TypeVar

import torch
from torch import Tensor

Source = TypeVar("Source")


class Renderer(Protocol[Source]):
    """Prepares a source from a face crop once, then renders chunks of coefficients from it (see the module)."""

    @property
    def chunk(self) -> int:
        """Frames rendered at once."""
        ...

    @property
    def context(self) -> int:
        """Frames of coefficients either side of a frame that its image depends on."""
        ...

    def prepare(self, image: Tensor, neutral: Tensor, expression: Tensor, pose: Tensor) -> Source:
        """The source of face crop ``image`` [S, S, 3] with its fitted ``neutral`` [468, 3], ``expression`` [U] and
        ``pose`` [6]."""
        ...

    def render_chunk(
        self, source: Source, expression: Tensor, pose: Tensor, *, masks: bool
    ) -> tuple[Tensor, Tensor | None]:
        """β̂ [N + 2·context, U], ρ̂ [N + 2·context, 6] → frames [N, S, S, 3] and face masks [N, S, S] (or None)."""
        ...


def render_chunks(
    renderer: Renderer[Source],
    source: Source,
    expression: Tensor,
    pose: Tensor,
    *,
    masks: bool = False,
    progress: Callable[[int, int], None] | None = None,
) -> Iterator[tuple[Tensor, Tensor | None]]:
    """β̂ [T, U] and ρ̂ [T, 6] → (frames [N, S, S, 3], masks [N, S, S] or None) for consecutive chunks of the
    renderer's ``chunk`` frames, without gradients: a long sequence needs no more memory than a chunk at a time.

    ``progress(done, total)`` is called after each chunk.
    """
    total = expression.shape[0]
    context = renderer.context
    expression, pose = _edge_padded(expression, context), _edge_padded(pose, context)
    for start in range(0, total, renderer.chunk):
        stop = min(start + renderer.chunk, total)
        with torch.no_grad():
            rendered = renderer.render_chunk(
                source, expression[start : stop + 2 * context], pose[start : stop + 2 * context], masks=masks
            )
        if progress is not None:
            progress(stop, total)
        yield rendered


def render_all(
    renderer: Renderer[Source], source: Source, expression: Tensor, pose: Tensor, *, masks: bool = True
) -> tuple[Tensor, Tensor | None]:
    """Every frame of β̂ [T, U], ρ̂ [T, 6] at once: frames [T, S, S, 3] and masks [T, S, S] (None without ``masks``)."""
    frames, face_masks = zip(*render_chunks(renderer, source, expression, pose, masks=masks), strict=True)
    if len(frames) == 1:
        return frames[0], face_masks[0]
    return torch.cat(frames), torch.cat(face_masks) if masks else None


def _edge_padded(rows: Tensor, count: int) -> Tensor:
    """[T, D] with its first and last row repeated ``count`` times before and after it."""
    if count == 0:
        return rows
    return torch.cat([rows[:1].expand(count, -1), rows, rows[-1:].expand(count, -1)])
