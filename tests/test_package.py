"""The package as ComfyUI and a shell see it: importable without ComfyUI, and a working command line."""

from __future__ import annotations

import contextlib
import importlib.util
import io
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from flowvq_core.cli import build_parser, main
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


def test_the_module_entry_point_only_dispatches_and_the_parser_imports_no_command_body():
    assert len((ROOT / "flowvq_core" / "__main__.py").read_text(encoding="utf-8").splitlines()) < 20
    heavy = ["torch", "flowvq_core.bench", "flowvq_core.training", "flowvq_core.pipeline", "flowvq_core.evaluation"]
    probe = (
        f"import sys; import flowvq_core.cli as c; c.build_parser(); print([m for m in {heavy} if m in sys.modules])"
    )
    result = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]", "commands import what they run when they run: --help needs no torch"


def _help(*command: str) -> str:
    output = io.StringIO()
    with contextlib.redirect_stdout(output), pytest.raises(SystemExit):
        build_parser().parse_args([*command, "--help"])
    return output.getvalue()


def _flags(help_text: str) -> set[str]:
    return set(re.findall(r"^  (?:-\w, )?(--[a-z-]+)", help_text, flags=re.MULTILINE))


def test_each_bench_target_has_only_its_flags_with_its_own_defaults(capsys):
    common = {"--help", "--device", "--threads"}
    assert _flags(_help("bench", "flows")) == common | {"--preset", "--frames", "--batch", "--json"}
    assert "frames to generate (default: 250" in _help("bench", "flows")
    assert _flags(_help("bench", "vqig")) == common | {"--preset", "--frames", "--batch", "--precision", "--compile"}
    defaults = {
        "demo": {"seconds": 0, "json": None},
        "flows": {"preset": "paper", "frames": 250, "batch": [1, 8]},
        "face": {"size": 512, "frames": 64},
        "vqig": {"preset": "paper", "frames": 8, "batch": 8, "precision": "float32", "compile": False},
        "train": {"preset": "paper", "batch": 8, "steps": 10, "precision": "float32"},
    }
    for target, expected in defaults.items():
        args = vars(build_parser().parse_args(["bench", target]))
        assert {name: args[name] for name in expected} == expected, target
    for wrong in (["flows", "--compile"], ["demo", "--frames", "10"], ["face", "--json", "x"], ["vqig", "--preset",
                  "small"], ["train", "--batch", "1", "2"]):  # fmt: skip
        with pytest.raises(SystemExit):
            build_parser().parse_args(["bench", *wrong])
        assert "error:" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("stage", "wrong"),
    [("expflow", "--workers"), ("poseflow", "--vgg"), ("codebook", "--frames"), ("codebook", "--codebook"),
     ("codebook", "--code-steps"), ("vqig", "--adversarial-start"), ("vqig", "--frames")],
)  # fmt: skip
def test_a_flag_of_another_training_stage_is_an_error_naming_flag_and_stage(stage, wrong, tmp_path, capsys):
    command = ["train", stage, "--data", str(tmp_path / "none"), "--out", str(tmp_path / "run"), wrong, "1"]
    assert main(command) == 2
    assert f"error: {wrong} do not apply to train {stage}" in capsys.readouterr().err
    assert not (tmp_path / "run").exists(), "rejected before any work"
    assert wrong not in _flags(_help("train", stage)), "nor does its --help list it"


def test_each_training_stage_shows_its_own_flags_and_the_defaults_its_config_has():
    from flowvq_core.cli.train import STAGES
    from flowvq_core.training import FlowTrainingConfig, ImageTrainingConfig

    for name, stage in STAGES.items():
        config = (ImageTrainingConfig if stage.images else FlowTrainingConfig)(stage=name)
        assert {key: getattr(config, key) for key in stage.defaults} == stage.defaults, name
    assert {"--codebook", "--code-steps", "--workers", "--vgg"} <= _flags(_help("train", "vqig"))
    assert "optimizer steps (default: 800000)" in _help("train", "codebook")


def _documented_commands() -> list[list[str]]:
    """Every complete ``python -m flowvq_core …`` / ``-m flowvq_core …`` line of the README's and the training
    guide's shell blocks (placeholders like ``[--resume]`` or ``a|b`` left out)."""
    commands = []
    for document in ("README.md", "docs/training.md"):
        blocks = re.findall(r"```bash\n(.*?)```", (ROOT / document).read_text(encoding="utf-8"), flags=re.DOTALL)
        for line in "\n".join(blocks).replace("\\\n", " ").splitlines():
            command = line.split("#")[0].partition("-m flowvq_core ")[2]
            if command and not any(mark in command for mark in "[|"):
                commands.append(shlex.split(command))
    return commands


def test_the_documented_commands_still_parse():
    commands = _documented_commands()
    assert sum(command[0] == "train" for command in commands) >= 6
    for command in commands:
        build_parser().parse_args(command)


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
