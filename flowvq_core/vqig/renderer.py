"""The VQIG as a :class:`~flowvq_core.rendering.Renderer` (source face + coefficients → frames), like the geometric one.

``prepare`` encodes the source crop once (z_c); ``render_chunk`` turns each frame's window of [β; ρ] into a frame
through the codebook. The model works at its own resolution (512 px for the paper preset); crops of another size are
resized to it and back. The VQIG draws the whole crop, face and background alike, and has no face mask: its masks are
all ones, so a paste-back blends the whole crop (softened at the crop's border by its feather). Checkpoints are
safetensors with the config in their metadata (never pickles).
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor

from ..checkpoint import CheckpointError, load_module_state, read_checkpoint, save_checkpoint
from ..errors import InvalidOptionError
from ..face.rig import FACE_MODEL_ID
from ..rendering import render_all
from .config import VQIGConfig
from .model import VQIG, VQIGOutput

VQIG_KIND = "flowvq-vqig"


@dataclass
class VQIGSource:
    image: Tensor
    """[1, 3, S, S] the source crop at the model's size, −1..1."""
    codes: Tensor
    """[1, C, s, s] its quantized features z_c."""
    output_size: int
    """Side of the crop the frames are returned at (the source crop's)."""


PRECISIONS = ("float32", "bfloat16")


def _compiled(model: VQIG) -> Callable[..., VQIGOutput]:
    """``torch.compile`` of the model's forward, run with PyTorch's fused transformer-layer fast path off: that
    kernel cannot be traced (it has no fake implementation), and the compiler fuses the plain layers itself."""
    compiled = torch.compile(model)

    def forward(*inputs: Tensor) -> VQIGOutput:
        fast_path = torch.backends.mha.get_fastpath_enabled()
        torch.backends.mha.set_fastpath_enabled(False)
        try:
            return compiled(*inputs)
        finally:
            torch.backends.mha.set_fastpath_enabled(fast_path)

    return forward


class VQIGRenderer:
    """A trained VQIG behind the renderer protocol: frames float32 in 0..1 on the model's device."""

    def __init__(self, model: VQIG, *, chunk: int = 8, precision: str = "float32", compile: bool = False):
        """``precision`` "bfloat16" runs the per-frame networks under autocast (faster on GPUs with bf16 units); the
        source codes and the returned frames stay float32. ``compile`` runs the per-frame forward through
        ``torch.compile`` (the first chunk of each size then takes a while to compile; later ones are faster)."""
        if precision not in PRECISIONS:
            raise InvalidOptionError(f"precision must be one of {PRECISIONS}, got {precision!r}")
        self.model = model.eval()
        self.chunk = chunk
        self.precision = precision
        self._forward = _compiled(self.model) if compile else self.model

    @property
    def size(self) -> int:
        return self.model.config.codebook.image_size

    @property
    def context(self) -> int:
        """Frames of coefficients either side of a frame that its image depends on: half the mapping's window."""
        return self.model.config.window // 2

    @torch.no_grad()
    def prepare(self, image: Tensor, neutral: Tensor, expression: Tensor, pose: Tensor) -> VQIGSource:
        """``image`` [S, S, 3] (0..1) is the source crop; the fitted face is not needed beyond it (the coefficients
        given to :meth:`render_chunk` carry the motion), but the protocol passes it to every renderer."""
        device = next(self.model.parameters()).device
        crop = image.permute(2, 0, 1).unsqueeze(0).float().to(device)
        if crop.shape[-1] != self.size:
            crop = F.interpolate(crop, size=self.size, mode="bilinear", antialias=True, align_corners=False)
        crop = crop * 2 - 1
        return VQIGSource(image=crop, codes=self.model.source_codes(crop), output_size=image.shape[0])

    def render_frames(self, source: VQIGSource, expression: Tensor, pose: Tensor) -> Tensor:
        """β̂ [T, U] and ρ̂ [T, 6] → frames [T, S, S, 3] in 0..1 at the source crop's size."""
        return render_all(self, source, expression, pose, masks=False)[0]

    def render(self, source: VQIGSource, expression: Tensor, pose: Tensor) -> tuple[Tensor, Tensor]:
        """Frames [T, S, S, 3] and masks [T, S, S]: the VQIG generates the whole crop, so the masks are all ones."""
        return render_all(self, source, expression, pose, masks=True)

    def render_chunk(
        self, source: VQIGSource, expression: Tensor, pose: Tensor, *, masks: bool
    ) -> tuple[Tensor, Tensor | None]:
        """β̂ [N + 2·context, U] and ρ̂ [N + 2·context, 6] → frames [N, S, S, 3] and, with ``masks``, all-ones masks
        [N, S, S] (else None): each frame reads the window of coefficients centred on it."""
        coefficients = torch.cat([expression, pose], -1).float().to(source.image.device)
        if coefficients.shape[-1] != self.model.config.coefficient_dim:
            raise ValueError(
                f"this VQIG takes {self.model.config.coefficient_dim} coefficients per frame ([β; ρ]), got "
                f"{coefficients.shape[-1]}; it was trained for another face rig"
            )
        windows = coefficients.unfold(0, self.model.config.window, 1)
        count = windows.shape[0]
        autocast = torch.autocast(source.image.device.type, torch.bfloat16, enabled=self.precision == "bfloat16")
        with autocast:
            out = self._forward(source.image.expand(count, -1, -1, -1), source.codes.expand(count, -1, -1, -1), windows)
        image = (out.image.float().clamp(-1, 1) + 1) / 2
        if image.shape[-1] != source.output_size:
            image = F.interpolate(image, size=source.output_size, mode="bilinear", antialias=True, align_corners=False)
        frames = image.permute(0, 2, 3, 1)
        return frames, torch.ones(frames.shape[:3], dtype=frames.dtype, device=frames.device) if masks else None

    def save(self, path: str | os.PathLike[str]) -> None:
        tensors = {name: tensor for name, tensor in self.model.state_dict().items()}
        save_checkpoint(path, tensors, kind=VQIG_KIND, config_json=json.dumps(self.model.config.to_dict()),
                        face_model_id=FACE_MODEL_ID)  # fmt: skip

    @classmethod
    def load(
        cls,
        path: str | os.PathLike[str],
        *,
        device: str | torch.device = "cpu",
        precision: str = "float32",
        compile: bool = False,
    ) -> VQIGRenderer:
        checkpoint = read_checkpoint(path, kind=VQIG_KIND, face_model_id=FACE_MODEL_ID)
        try:
            config = VQIGConfig.from_dict(json.loads(checkpoint.config_json))
        except (KeyError, TypeError, ValueError) as error:
            raise CheckpointError(f"{path}: its VQIG config cannot be read ({error})") from error
        model = VQIG(config)
        load_module_state(model, checkpoint.tensors, source=str(path))
        return cls(model.to(device), precision=precision, compile=compile)
