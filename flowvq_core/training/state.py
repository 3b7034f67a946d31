"""A training run's state in one safetensors file, without pickle: weights, optimizer states, random generators.

Each module's tensors are stored under its name (``model.<parameter>``), each optimizer's per-parameter tensors as
``<optimizer>.<index>.<name>``; parameter groups and scalars go into the JSON config of the checkpoint, together
with the step and whatever the trainer adds. Random generator states are byte tensors. Loading puts everything
back so a resumed run continues bit for bit.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor, nn

from ..checkpoint import load_module_state, read_checkpoint, save_checkpoint

STATE_KIND = "flowvq-training-state"


@dataclass
class TrainingState:
    step: int
    extra: dict[str, Any]
    """What the trainer stored beside the weights (its config, say)."""
    tensors: dict[str, Tensor]
    """The trainer's own tensors (a weight average, say), by the names it gave."""


def save_training_state(
    path: str | os.PathLike[str],
    modules: dict[str, nn.Module],
    optimizers: dict[str, torch.optim.Optimizer],
    *,
    step: int,
    generators: dict[str, torch.Generator] | None = None,
    tensors: dict[str, Tensor] | None = None,
    extra: dict[str, Any] | None = None,
    face_model_id: str = "",
) -> None:
    """Write the run's state at ``step`` (the global torch generator is saved as ``"torch"`` too)."""
    stored = {f"{key}.{name}": value for key, module in modules.items() for name, value in module.state_dict().items()}
    groups, scalars = {}, {}
    for key, optimizer in optimizers.items():
        state = optimizer.state_dict()
        groups[key] = state["param_groups"]
        for index, entries in state["state"].items():
            for name, value in entries.items():
                if isinstance(value, Tensor):
                    stored[f"{key}.{index}.{name}"] = value
                else:
                    scalars.setdefault(key, {}).setdefault(str(index), {})[name] = value
    stored["rng.torch"] = torch.get_rng_state()
    for name, generator in (generators or {}).items():
        stored[f"rng.{name}"] = generator.get_state()
    for name, value in (tensors or {}).items():
        stored[f"extra.{name}"] = value
    config = {
        "step": step,
        "modules": sorted(modules),
        "param_groups": groups,
        "optimizer_scalars": scalars,
        "generators": sorted(generators or {}),
        "extra": extra or {},
    }
    save_checkpoint(path, stored, kind=STATE_KIND, config_json=json.dumps(config), face_model_id=face_model_id)


def load_training_state(
    path: str | os.PathLike[str],
    modules: dict[str, nn.Module],
    optimizers: dict[str, torch.optim.Optimizer],
    generators: dict[str, torch.Generator] | None = None,
) -> TrainingState:
    """Restore weights, optimizers and generators from ``path``; returns the step, the extras and the trainer's
    own tensors."""
    checkpoint = read_checkpoint(path, kind=STATE_KIND)
    config = json.loads(checkpoint.config_json)
    stored = checkpoint.tensors
    for key, module in modules.items():
        prefix = f"{key}."
        own = {name[len(prefix) :]: value for name, value in stored.items() if name.startswith(prefix)}
        load_module_state(module, own, source=f"{path} ({key})")
    for key, optimizer in optimizers.items():
        state: dict[int, dict[str, Any]] = {}
        prefix = f"{key}."
        for name, value in stored.items():
            if name.startswith(prefix) and name[len(prefix) :].split(".", 1)[0].isdigit():
                index, entry = name[len(prefix) :].split(".", 1)
                state.setdefault(int(index), {})[entry] = value
        for index, values in config["optimizer_scalars"].get(key, {}).items():
            state.setdefault(int(index), {}).update(values)
        optimizer.load_state_dict({"state": state, "param_groups": config["param_groups"][key]})
    torch.set_rng_state(stored["rng.torch"])
    for name, generator in (generators or {}).items():
        generator.set_state(stored[f"rng.{name}"])
    own = {name[len("extra.") :]: value for name, value in stored.items() if name.startswith("extra.")}
    return TrainingState(step=int(config["step"]), extra=config["extra"], tensors=own)
