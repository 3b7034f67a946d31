"""Tests for flowvq_core.checkpoint: round trip, metadata, atomic save and every error a bad file can cause."""

from __future__ import annotations

import os
import stat
from collections.abc import Callable
from pathlib import Path

import pytest
import torch
from safetensors.torch import save_file

from flowvq_core.checkpoint import (
    FORMAT_VERSION,
    Checkpoint,
    CheckpointError,
    load_module_state,
    read_checkpoint,
    save_checkpoint,
)

CONFIG = '{"preset": "tiny"}'


class Tiny(torch.nn.Module):
    """Parameters, a buffer and a tied pair (``head.weight`` is ``embed.weight``)."""

    def __init__(self) -> None:
        super().__init__()
        self.embed = torch.nn.Linear(4, 4, bias=False)
        self.body = torch.nn.Linear(4, 3)
        self.head = torch.nn.Linear(4, 4, bias=False)
        self.head.weight = self.embed.weight
        self.register_buffer("scale", torch.rand(3) + 0.5)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(self.head(self.embed(x))) * self.scale


def _save(path: Path, tensors: dict[str, torch.Tensor] | None = None, **kwargs: object) -> None:
    defaults = {"kind": "expflow", "config_json": CONFIG, "face_model_id": "bfm09"}
    save_checkpoint(path, Tiny().state_dict() if tensors is None else tensors, **{**defaults, **kwargs})


@pytest.fixture
def saved(tmp_path: Path) -> Path:
    path = tmp_path / "model.safetensors"
    _save(path)
    return path


def test_round_trip_restores_state_and_outputs(tmp_path: Path) -> None:
    torch.manual_seed(0)
    source = Tiny()
    path = tmp_path / "sub" / "dir" / "tiny.safetensors"
    save_checkpoint(path, source.state_dict(), kind="expflow", config_json=CONFIG, face_model_id="bfm09")
    checkpoint = read_checkpoint(path)
    target = Tiny()
    load_module_state(target, checkpoint.tensors, source=str(path))
    for (name, a), (_, b) in zip(source.state_dict().items(), target.state_dict().items(), strict=True):
        assert torch.equal(a, b), name
    assert target.head.weight is target.embed.weight
    x = torch.randn(5, 4)
    assert torch.equal(source(x), target(x))


def test_metadata_round_trips(tmp_path: Path) -> None:
    path = tmp_path / "m.safetensors"
    _save(path, kind="poseflow", face_model_id="flame", extra_metadata={"step": "1200", "note": "ünïcode"})
    checkpoint = read_checkpoint(Path(path), kind="poseflow", face_model_id="flame")
    assert isinstance(checkpoint, Checkpoint)
    assert (checkpoint.path, checkpoint.kind, checkpoint.config_json) == (str(path), "poseflow", CONFIG)
    assert (checkpoint.face_model_id, checkpoint.format_version) == ("flame", FORMAT_VERSION)
    assert checkpoint.metadata == {
        "flowvq.format_version": str(FORMAT_VERSION),
        "flowvq.kind": "poseflow",
        "flowvq.config": CONFIG,
        "flowvq.face_model_id": "flame",
        "step": "1200",
        "note": "ünïcode",
    }


def test_extra_metadata_cannot_override_reserved_keys(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="flowvq.kind"):
        _save(tmp_path / "x.safetensors", extra_metadata={"flowvq.kind": "other"})
    assert list(tmp_path.iterdir()) == []


def test_save_handles_shared_noncontiguous_and_grad_tensors(tmp_path: Path) -> None:
    base = torch.randn(3, 4, requires_grad=True)
    tensors = {"a": base, "b": base, "t": base.t(), "view": base[1:]}
    _save(tmp_path / "s.safetensors", tensors)
    loaded = read_checkpoint(tmp_path / "s.safetensors").tensors
    assert set(loaded) == set(tensors)
    for name, tensor in tensors.items():
        assert torch.equal(loaded[name], tensor.detach()), name
        assert not loaded[name].requires_grad


def test_read_copies_tensors_off_the_file(saved: Path) -> None:
    checkpoint = read_checkpoint(saved)
    before = {name: t.clone() for name, t in checkpoint.tensors.items()}
    with open(saved, "r+b") as handle:  # overwrite the data section in place: an mmap-backed tensor would change
        handle.seek(-64, os.SEEK_END)
        handle.write(b"\x7f" * 64)
    assert all(torch.equal(before[name], t) for name, t in checkpoint.tensors.items())


def test_save_is_atomic_and_leaves_no_temporary_files(saved: Path) -> None:
    _save(saved, {"w": torch.ones(2)})  # overwrite an existing checkpoint
    assert sorted(p.name for p in saved.parent.iterdir()) == [saved.name]
    assert torch.equal(read_checkpoint(saved).tensors["w"], torch.ones(2))


@pytest.mark.skipif(os.name != "posix", reason="POSIX permissions")
def test_saved_file_has_umask_permissions(tmp_path: Path) -> None:
    old = os.umask(0o022)
    try:
        _save(tmp_path / "p.safetensors")
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "p.safetensors").stat().st_mode) == 0o644


def test_failed_save_keeps_old_file_and_leaves_no_temporary_files(saved: Path) -> None:
    original = saved.read_bytes()
    with pytest.raises(TypeError, match="bad"):
        _save(saved, {"w": torch.ones(2), "bad": [1, 2]})  # type: ignore[dict-item]
    with pytest.raises(TypeError, match="kind"):
        _save(saved, {"w": torch.ones(2)}, kind=3)
    assert saved.read_bytes() == original
    assert sorted(p.name for p in saved.parent.iterdir()) == [saved.name]


def test_crash_while_writing_keeps_old_file(saved: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    original = saved.read_bytes()

    def crash(tensors: dict, filename: str, metadata: dict) -> None:
        Path(filename).write_bytes(b"half a checkpoint")
        raise OSError("disk full")

    monkeypatch.setattr("flowvq_core.checkpoint.save_file", crash)
    with pytest.raises(OSError, match="disk full"):
        _save(saved)
    assert saved.read_bytes() == original
    assert sorted(p.name for p in saved.parent.iterdir()) == [saved.name]


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(CheckpointError, match="nope.safetensors.*does not exist"):
        read_checkpoint(tmp_path / "nope.safetensors")


def test_directory(tmp_path: Path) -> None:
    folder = tmp_path / "ckpt_folder"
    folder.mkdir()
    with pytest.raises(CheckpointError, match="ckpt_folder.*is a folder"):
        read_checkpoint(folder)


# Cut points as functions of (header end, file size): empty, inside the 8-byte length, inside the JSON header,
# exactly at the header's end, inside the data and one byte short.
CUTS = {
    "empty": lambda h, n: 0,
    "length_prefix": lambda h, n: 4,
    "after_length": lambda h, n: 8,
    "header_start": lambda h, n: 9,
    "header_middle": lambda h, n: h // 2,
    "header_last_byte": lambda h, n: h - 1,
    "header_end": lambda h, n: h,
    "data_first_byte": lambda h, n: h + 1,
    "data_middle": lambda h, n: (h + n) // 2,
    "one_byte_short": lambda h, n: n - 1,
}


@pytest.mark.parametrize("cut", list(CUTS.values()), ids=list(CUTS))
def test_truncated_file(saved: Path, cut: Callable[[int, int], int]) -> None:
    data = saved.read_bytes()
    header_end = 8 + int.from_bytes(data[:8], "little")
    saved.write_bytes(data[: cut(header_end, len(data))])
    with pytest.raises(CheckpointError, match=f"{saved.name}.*not a readable safetensors file"):
        read_checkpoint(saved)


@pytest.mark.parametrize("seed", range(5))
def test_random_bytes(tmp_path: Path, seed: int) -> None:
    path = tmp_path / "random.safetensors"
    path.write_bytes(torch.randint(0, 256, (1000,), generator=torch.Generator().manual_seed(seed)).byte().numpy())
    with pytest.raises(CheckpointError, match="random.safetensors.*not a readable safetensors file"):
        read_checkpoint(path)


def test_plausible_header_length_with_garbage_header(tmp_path: Path) -> None:
    path = tmp_path / "garbage.safetensors"
    path.write_bytes((100).to_bytes(8, "little") + b"{" + b"x" * 99)
    with pytest.raises(CheckpointError, match="garbage.safetensors"):
        read_checkpoint(path)


def test_plain_safetensors_is_not_a_flowvq_checkpoint(tmp_path: Path) -> None:
    path = tmp_path / "plain.safetensors"
    save_file({"w": torch.ones(2)}, str(path))
    with pytest.raises(CheckpointError, match="plain.safetensors.*not a FlowVQ checkpoint"):
        read_checkpoint(path)
    save_file({"w": torch.ones(2)}, str(path), metadata={"format": "pt"})
    with pytest.raises(CheckpointError, match="not a FlowVQ checkpoint"):
        read_checkpoint(path)


def _with_metadata(path: Path, metadata: dict[str, str]) -> None:
    save_file({"w": torch.ones(2)}, str(path), metadata=metadata)


def test_newer_format_version(tmp_path: Path) -> None:
    path = tmp_path / "future.safetensors"
    _save(path)
    metadata = read_checkpoint(path).metadata
    _with_metadata(path, {**metadata, "flowvq.format_version": str(FORMAT_VERSION + 1)})
    with pytest.raises(CheckpointError, match="future.safetensors.*saved by a newer flowvq_core.*update"):
        read_checkpoint(path)


@pytest.mark.parametrize("version", ["", "one", "1.0", "-1", "0", " 1"])
def test_format_version_not_an_integer(tmp_path: Path, version: str) -> None:
    path = tmp_path / "v.safetensors"
    _save(path)
    _with_metadata(path, {**read_checkpoint(path).metadata, "flowvq.format_version": version})
    with pytest.raises(CheckpointError, match="v.safetensors.*invalid format version"):
        read_checkpoint(path)


def test_incomplete_metadata(tmp_path: Path) -> None:
    path = tmp_path / "partial.safetensors"
    _with_metadata(path, {"flowvq.format_version": "1", "flowvq.kind": "expflow"})
    with pytest.raises(CheckpointError, match="partial.safetensors.*flowvq.config, flowvq.face_model_id"):
        read_checkpoint(path)


def test_kind_mismatch(saved: Path) -> None:
    with pytest.raises(CheckpointError, match=f"{saved.name}.*is a 'expflow' checkpoint, expected 'poseflow'"):
        read_checkpoint(saved, kind="poseflow")


def test_face_model_mismatch(saved: Path) -> None:
    message = (
        "was trained for face model 'bfm09' but 'flame' is in use; "
        "use a checkpoint trained for 'flame' or switch face model"
    )
    with pytest.raises(CheckpointError, match=f"{saved.name}.*{message}"):
        read_checkpoint(saved, face_model_id="flame")


def test_matching_kind_and_face_model_pass(saved: Path) -> None:
    assert read_checkpoint(saved, kind="expflow", face_model_id="bfm09", device=torch.device("cpu")).kind == "expflow"


def test_missing_tensor(saved: Path) -> None:
    tensors = read_checkpoint(saved).tensors
    del tensors["scale"], tensors["body.bias"]
    with pytest.raises(CheckpointError, match=r"my.ckpt.*2 tensors missing: scale, body.bias") as caught:
        load_module_state(Tiny(), tensors, source="my.ckpt")
    assert "unexpected" not in str(caught.value)


def test_extra_tensor(saved: Path) -> None:
    tensors = {**read_checkpoint(saved).tensors, "ghost.weight": torch.zeros(1)}
    with pytest.raises(CheckpointError, match=r"my.ckpt.*1 tensor unexpected: ghost.weight"):
        load_module_state(Tiny(), tensors, source="my.ckpt")


def test_wrong_shape(saved: Path) -> None:
    tensors = {**read_checkpoint(saved).tensors, "body.weight": torch.zeros(3, 5)}
    with pytest.raises(
        CheckpointError, match=r"1 tensor with the wrong shape: body.weight \(model \(3, 4\), file \(3, 5\)\)"
    ):
        load_module_state(Tiny(), tensors, source="my.ckpt")


def test_all_problems_in_one_message_and_long_lists_are_cut() -> None:
    module = torch.nn.Sequential(*[torch.nn.Linear(2, 2) for _ in range(4)])
    tensors = {f"extra{i}": torch.zeros(1) for i in range(9)}
    tensors["0.weight"] = torch.zeros(5, 5)
    with pytest.raises(CheckpointError) as caught:
        load_module_state(module, tensors, source="many.safetensors")
    message = str(caught.value)
    assert "7 tensors missing: 0.bias, 1.weight, 1.bias, 2.weight, 2.bias and 2 more" in message
    assert "9 tensors unexpected: extra0, extra1, extra2, extra3, extra4 and 4 more" in message
    assert "1 tensor with the wrong shape: 0.weight (model (2, 2), file (5, 5))" in message
    assert "extra5" not in message


def test_failed_load_leaves_module_untouched(saved: Path) -> None:
    module = Tiny()
    before = {name: t.clone() for name, t in module.state_dict().items()}
    tensors = {**read_checkpoint(saved).tensors, "body.weight": torch.zeros(3, 5)}
    with pytest.raises(CheckpointError):
        load_module_state(module, tensors, source="my.ckpt")
    assert all(torch.equal(before[name], t) for name, t in module.state_dict().items())


def test_tied_entries_with_different_values_are_rejected(saved: Path) -> None:
    tensors = read_checkpoint(saved).tensors
    tensors["head.weight"] = tensors["head.weight"] + 1
    with pytest.raises(CheckpointError, match="my.ckpt.*embed.weight and head.weight.*tied"):
        load_module_state(Tiny(), tensors, source="my.ckpt")


def test_load_converts_dtype(saved: Path) -> None:
    tensors = read_checkpoint(saved).tensors
    module = Tiny().double()
    load_module_state(module, tensors, source="my.ckpt")
    for name, value in module.state_dict().items():
        assert value.dtype == torch.float64
        assert torch.equal(value, tensors[name].double()), name
