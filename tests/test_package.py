"""The package as ComfyUI and a shell see it: importable without ComfyUI, and a working command line."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest

from flowvq_core.__main__ import main
from flowvq_core.emotions import EMOTIONS, emotion_id

ROOT = Path(__file__).resolve().parents[1]


def test_root_package_imports_without_comfyui():
    spec = importlib.util.spec_from_file_location(
        "flowvq_pack", ROOT / "__init__.py", submodule_search_locations=[str(ROOT)]
    )
    module = importlib.util.module_from_spec(spec)
    sys.modules["flowvq_pack"] = module
    try:
        spec.loader.exec_module(module)
    finally:
        sys.modules.pop("flowvq_pack", None)
    assert module.WEB_DIRECTORY == "./js"
    assert isinstance(module.NODE_CLASS_MAPPINGS, dict)
    assert all(name.startswith("FlowVQ") for name in module.NODE_CLASS_MAPPINGS)


def test_core_never_imports_comfyui():
    for path in (ROOT / "flowvq_core").rglob("*.py"):
        text = path.read_text(encoding="utf-8")
        assert "import comfy" not in text and "folder_paths" not in text, path


def test_cli_help_lists_the_subcommands():
    result = subprocess.run(
        [sys.executable, "-m", "flowvq_core", "--help"], cwd=ROOT, capture_output=True, text=True, check=True
    )
    assert "bench" in result.stdout and "info" in result.stdout


def test_bench_flows_runs_on_the_tiny_preset(capsys, tmp_path):
    assert (
        main(
            [
                "bench",
                "flows",
                "--preset",
                "tiny",
                "--frames",
                "10",
                "--batch",
                "1",
                "2",
                "--device",
                "cpu",
                "--json",
                str(tmp_path / "bench.json"),
            ]
        )
        == 0
    )
    output = capsys.readouterr().out
    assert "frames/s" in output and len(output.strip().splitlines()) == 3
    assert (tmp_path / "bench.json").read_text().count('"batch"') == 2


def test_bench_vqig_prints_parameter_counts_and_speed(capsys):
    assert main(["bench", "vqig", "--preset", "tiny", "--frames", "2", "--batch", "2", "--device", "cpu"]) == 0
    output = capsys.readouterr().out
    assert "E_h (encoder)" in output and "total" in output and "frames/s" in output and "peak memory" in output


def test_bench_train_times_every_image_stage(capsys):
    command = ["bench", "train", "--preset", "tiny", "--steps", "1", "--batch", "2", "--device", "cpu"]
    assert main([*command, "--precision", "bfloat16"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 3 and all("steps/s" in line and "peak memory" in line for line in lines)
    assert [line.split(": ")[1].split("  ")[0] for line in lines] == ["codebook (with PatchGAN)", "vqig code level",
                                                                      "vqig image level"]  # fmt: skip


def test_emotions_have_fixed_ids_and_clear_errors():
    assert EMOTIONS[0] == "angry" and EMOTIONS[-1] == "talking" and len(EMOTIONS) == 9
    assert emotion_id("Happy") == 4 and emotion_id(8) == 8
    for bad, message in [("joy", "unknown emotion 'joy'"), (9, "out of range"), (True, "name or an id")]:
        with pytest.raises(ValueError, match=message):
            emotion_id(bad)
