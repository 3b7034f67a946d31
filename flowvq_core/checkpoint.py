"""Checkpoint files: safetensors with FlowVQ metadata (format version, kind, config JSON, face model id).

Never unpickles. Saving is atomic (temporary file + ``os.replace``); reading checks the metadata before any tensor
is loaded, so a wrong, foreign, damaged or newer file fails with a :class:`CheckpointError` that names the file and
says what to do, instead of a cryptic error deep inside a model.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Mapping
from dataclasses import dataclass

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import save_file

from .errors import CheckpointError
from .files import atomic_write

FORMAT_VERSION: int = 1

_VERSION_KEY = "flowvq.format_version"
_KIND_KEY = "flowvq.kind"
_CONFIG_KEY = "flowvq.config"
_FACE_MODEL_KEY = "flowvq.face_model_id"
_RESERVED_KEYS = (_VERSION_KEY, _KIND_KEY, _CONFIG_KEY, _FACE_MODEL_KEY)
_LIST_LIMIT = 5


@dataclass(frozen=True)
class Checkpoint:
    """The contents of a checkpoint file as read by :func:`read_checkpoint`."""

    path: str
    tensors: dict[str, torch.Tensor]
    kind: str
    config_json: str
    face_model_id: str
    format_version: int
    metadata: dict[str, str]
    """All metadata as stored, the ``flowvq.*`` keys included."""


def save_checkpoint(
    path: str | os.PathLike[str],
    tensors: Mapping[str, torch.Tensor],
    *,
    kind: str,
    config_json: str,
    face_model_id: str,
    extra_metadata: Mapping[str, str] | None = None,
) -> None:
    """Write ``tensors`` and the FlowVQ metadata to ``path`` atomically, creating parent folders.

    Tensors are stored detached, contiguous and cloned on the CPU, so tied or shared tensors (which safetensors
    refuses) and GPU tensors need no care from the caller. The file is written to a temporary name in the same
    folder and renamed over ``path``, so a crash leaves either the old file or the new one, never half of one.
    """
    path = os.fspath(path)
    metadata = {
        _VERSION_KEY: str(FORMAT_VERSION),
        _KIND_KEY: kind,
        _CONFIG_KEY: config_json,
        _FACE_MODEL_KEY: face_model_id,
    }
    for key, value in (extra_metadata or {}).items():
        if key in _RESERVED_KEYS:
            raise ValueError(f"extra_metadata key {key!r} is reserved for FlowVQ's own metadata; rename it")
        metadata[key] = value
    for key, value in metadata.items():
        if not isinstance(key, str) or not isinstance(value, str):
            raise TypeError(f"checkpoint metadata must map str to str; got {key!r}: {type(value).__name__}")
    stored = {}
    for name, tensor in tensors.items():
        if not isinstance(tensor, torch.Tensor):
            raise TypeError(f"checkpoint tensor {name!r} is a {type(tensor).__name__}, not a torch.Tensor")
        stored[name] = tensor.detach().to(device="cpu", memory_format=torch.contiguous_format, copy=True)

    def write(temp: str) -> None:
        # safetensors creates its files 0600; give the checkpoint the permissions any new file gets (umask).
        os.close(os.open(temp, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o666))
        mode = stat.S_IMODE(os.stat(temp).st_mode)
        save_file(stored, temp, metadata=metadata)
        os.chmod(temp, mode)

    atomic_write(path, write)


def read_checkpoint(
    path: str | os.PathLike[str],
    *,
    kind: str | None = None,
    face_model_id: str | None = None,
    device: str | torch.device = "cpu",
) -> Checkpoint:
    """Read a checkpoint written by :func:`save_checkpoint`, checking its metadata before loading tensors.

    ``kind`` and ``face_model_id``, when given, must match the file's. The tensors are copied into memory of their
    own on ``device``, so the result does not keep the file mapped (which would block replacing it on Windows).
    """
    path = os.fspath(path)
    device = torch.device(device)
    if os.path.isdir(path):
        raise CheckpointError(f"Checkpoint path {path!r} is a folder, not a file; choose the .safetensors file in it.")
    if not os.path.exists(path):
        raise CheckpointError(f"Checkpoint file {path!r} does not exist; check the path or train/download it first.")
    damaged = (
        f"Checkpoint file {path!r} is not a readable safetensors file (truncated, corrupt or another format)"
        "; save or download it again."
    )
    try:
        with safe_open(path, framework="pt", device="cpu") as handle:
            metadata = dict(handle.metadata() or {})
            version = _check_metadata(path, metadata, kind, face_model_id)
            names = handle.keys()  # a safe_open handle is not iterable
            tensors = {name: handle.get_tensor(name).to(device, copy=True) for name in names}
    except CheckpointError:
        raise
    except (SafetensorError, OSError, ValueError) as error:
        raise CheckpointError(f"{damaged} ({type(error).__name__}: {error})") from error
    return Checkpoint(
        path=path,
        tensors=tensors,
        kind=metadata[_KIND_KEY],
        config_json=metadata[_CONFIG_KEY],
        face_model_id=metadata[_FACE_MODEL_KEY],
        format_version=version,
        metadata=metadata,
    )


def checkpoint_kind(path: str | os.PathLike[str]) -> str | None:
    """The ``kind`` a FlowVQ checkpoint declares (reading only its header), or None for any other file."""
    try:
        with safe_open(os.fspath(path), framework="pt", device="cpu") as handle:
            return (handle.metadata() or {}).get(_KIND_KEY)
    except (SafetensorError, OSError, ValueError):
        return None


def _check_metadata(path: str, metadata: dict[str, str], kind: str | None, face_model_id: str | None) -> int:
    """Validate the FlowVQ metadata of ``path`` and return its format version."""
    if _VERSION_KEY not in metadata:
        raise CheckpointError(
            f"{path!r} is not a FlowVQ checkpoint (its safetensors metadata has no "
            f"{_VERSION_KEY!r}); use a file saved by flowvq_core."
        )
    text = metadata[_VERSION_KEY]
    if not (text.isascii() and text.isdigit()) or int(text) < 1:
        raise CheckpointError(
            f"Checkpoint {path!r} has an invalid format version {text!r} (expected a positive "
            "integer); the file is damaged, save or download it again."
        )
    version = int(text)
    if version > FORMAT_VERSION:
        raise CheckpointError(
            f"Checkpoint {path!r} has format version {version} and was saved by a newer "
            f"flowvq_core (this one reads up to {FORMAT_VERSION}); update flowvq_core."
        )
    missing = [key for key in _RESERVED_KEYS if key not in metadata]
    if missing:
        raise CheckpointError(
            f"Checkpoint {path!r} lacks FlowVQ metadata {', '.join(missing)}; the file is damaged, "
            "save or download it again."
        )
    if kind is not None and metadata[_KIND_KEY] != kind:
        raise CheckpointError(
            f"Checkpoint {path!r} is a {metadata[_KIND_KEY]!r} checkpoint, expected {kind!r}; "
            "choose a checkpoint of the right kind."
        )
    found = metadata[_FACE_MODEL_KEY]
    if face_model_id is not None and found != face_model_id:
        raise CheckpointError(
            f"Checkpoint {path!r} was trained for face model {found!r} but {face_model_id!r} is "
            f"in use; use a checkpoint trained for {face_model_id!r} or switch face model."
        )
    return version


def load_module_state(module: torch.nn.Module, tensors: Mapping[str, torch.Tensor], *, source: str) -> None:
    """Load ``tensors`` into ``module`` strictly (parameters and persistent buffers), converting to its dtypes.

    Every mismatch is reported at once, naming ``source``, so a wrong checkpoint is recognised from one message.
    Tied entries (one tensor under several names) must hold equal values in the file, so that on success the
    module holds exactly the file's values.
    """
    expected = module.state_dict()
    missing = [name for name in expected if name not in tensors]
    unexpected = [name for name in tensors if name not in expected]
    mismatched = [
        f"{name} (model {tuple(target.shape)}, file {tuple(tensors[name].shape)})"
        for name, target in expected.items()
        if name in tensors and tensors[name].shape != target.shape
    ]
    problems = [
        _listing(label, names)
        for label, names in (("missing", missing), ("unexpected", unexpected), ("with the wrong shape", mismatched))
        if names
    ]
    if problems:
        raise CheckpointError(
            f"Checkpoint {source} does not fit the model: {'; '.join(problems)}. Use a checkpoint "
            "saved for this model and configuration."
        )
    _check_tied(expected, tensors, source)
    module.load_state_dict(dict(tensors), strict=True)


def _listing(label: str, names: list[str]) -> str:
    """``"2 tensors missing: a, b"``, showing at most ``_LIST_LIMIT`` names."""
    shown = ", ".join(names[:_LIST_LIMIT])
    more = f" and {len(names) - _LIST_LIMIT} more" if len(names) > _LIST_LIMIT else ""
    return f"{len(names)} tensor{'s' if len(names) != 1 else ''} {label}: {shown}{more}"


def _check_tied(expected: Mapping[str, torch.Tensor], tensors: Mapping[str, torch.Tensor], source: str) -> None:
    """Reject a file whose values differ between names that share one tensor in the model (tied weights)."""
    first_of: dict[tuple, str] = {}
    for name, target in expected.items():
        if target.numel() == 0 or target.device.type == "meta":
            continue
        identity = (
            target.device,
            target.untyped_storage().data_ptr(),
            target.storage_offset(),
            target.shape,
            target.stride(),
            target.dtype,
        )
        first = first_of.setdefault(identity, name)
        if first != name and not torch.equal(tensors[first].to(target.dtype), tensors[name].to(target.dtype)):
            raise CheckpointError(
                f"Checkpoint {source}: {first} and {name} are one tied tensor in the model but "
                "hold different values in the file; the file is damaged or from another model."
            )
