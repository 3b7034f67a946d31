"""The codebook stage's file: E_h, C and D_h (and the PatchGAN, which the VQIG's image-level stage continues to
train against) in one safetensors checkpoint with the configs in its metadata; ``train vqig --codebook`` reads it."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass

import torch

from ..checkpoint import CheckpointError, load_module_state, read_checkpoint, save_checkpoint
from .autoencoder import CodebookModel
from .config import CodebookConfig
from .discriminator import PatchDiscriminator

CODEBOOK_KIND = "flowvq-codebook"
_DISCRIMINATOR_PREFIX = "discriminator."


@dataclass
class CodebookCheckpoint:
    model: CodebookModel
    discriminator: PatchDiscriminator | None


def save_codebook(
    path: str | os.PathLike[str], model: CodebookModel, discriminator: PatchDiscriminator | None = None
) -> None:
    tensors = dict(model.state_dict())
    config = {"codebook": model.config.to_dict(), "discriminator": None}
    if discriminator is not None:
        tensors.update({_DISCRIMINATOR_PREFIX + k: v for k, v in discriminator.state_dict().items()})
        config["discriminator"] = {"channels": discriminator.channels, "layers": discriminator.layers}
    save_checkpoint(path, tensors, kind=CODEBOOK_KIND, config_json=json.dumps(config), face_model_id="")


def load_codebook(path: str | os.PathLike[str], *, device: str | torch.device = "cpu") -> CodebookCheckpoint:
    checkpoint = read_checkpoint(path, kind=CODEBOOK_KIND)
    try:
        config = json.loads(checkpoint.config_json)
        model = CodebookModel(CodebookConfig.from_dict(config["codebook"]))
        discriminator = None if config["discriminator"] is None else PatchDiscriminator(**config["discriminator"])
    except (KeyError, TypeError, ValueError) as error:
        raise CheckpointError(f"{path}: its codebook config cannot be read ({error})") from error
    own = {k: v for k, v in checkpoint.tensors.items() if not k.startswith(_DISCRIMINATOR_PREFIX)}
    load_module_state(model, own, source=str(path))
    if discriminator is not None:
        theirs = {k[len(_DISCRIMINATOR_PREFIX) :]: v for k, v in checkpoint.tensors.items()
                  if k.startswith(_DISCRIMINATOR_PREFIX)}  # fmt: skip
        load_module_state(discriminator, theirs, source=f"{path} (discriminator)")
        discriminator = discriminator.to(device)
    return CodebookCheckpoint(model.to(device), discriminator)
