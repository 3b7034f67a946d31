"""A training run's state in one safetensors file, without pickle: weights, optimizer state, random generators.

Adam's per-parameter tensors are stored as ``optimizer.<index>.<name>``; its parameter groups and any scalars go
into the JSON config of the checkpoint, together with the step and whatever the trainer adds. Random generator
states are byte tensors. Loading puts everything back so a resumed run continues bit for bit.
"""

from __future__ import annotations

import json
import os
from typing import Any

import torch
from torch import nn

from ..checkpoint import load_module_state, read_checkpoint, save_checkpoint

STATE_KIND = "flowvq-training-state"


def save_training_state(
    path: str | os.PathLike[str],
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    *,
    step: int,
    generators: dict[str, torch.Generator],
    extra: dict[str, Any] | None = None,
    face_model_id: str = "",
) -> None:
    """Write the run's state at ``step`` (the global torch generator is saved as ``"torch"`` too)."""
    tensors = {f"model.{name}": value for name, value in model.state_dict().items()}
    optimizer_state = optimizer.state_dict()
    scalars: dict[str, dict[str, Any]] = {}
    for index, entries in optimizer_state["state"].items():
        for name, value in entries.items():
            if isinstance(value, torch.Tensor):
                tensors[f"optimizer.{index}.{name}"] = value
            else:
                scalars.setdefault(str(index), {})[name] = value
    tensors["rng.torch"] = torch.get_rng_state()
    for name, generator in generators.items():
        tensors[f"rng.{name}"] = generator.get_state()
    config = {
        "step": step,
        "param_groups": optimizer_state["param_groups"],
        "optimizer_scalars": scalars,
        "generators": sorted(generators),
        "extra": extra or {},
    }
    save_checkpoint(path, tensors, kind=STATE_KIND, config_json=json.dumps(config), face_model_id=face_model_id)


def load_training_state(
    path: str | os.PathLike[str],
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    generators: dict[str, torch.Generator],
) -> tuple[int, dict[str, Any]]:
    """Restore weights, optimizer and generators from ``path``; returns (step, extra)."""
    checkpoint = read_checkpoint(path, kind=STATE_KIND)
    config = json.loads(checkpoint.config_json)
    tensors = checkpoint.tensors
    model_tensors = {name[len("model.") :]: value for name, value in tensors.items() if name.startswith("model.")}
    load_module_state(model, model_tensors, source=str(path))
    state: dict[int, dict[str, Any]] = {}
    for name, value in tensors.items():
        if name.startswith("optimizer."):
            _, index, key = name.split(".", 2)
            state.setdefault(int(index), {})[key] = value
    for index, values in config["optimizer_scalars"].items():
        state.setdefault(int(index), {}).update(values)
    optimizer.load_state_dict({"state": state, "param_groups": config["param_groups"]})
    torch.set_rng_state(tensors["rng.torch"])
    for name, generator in generators.items():
        generator.set_state(tensors[f"rng.{name}"])
    return int(config["step"]), config["extra"]
