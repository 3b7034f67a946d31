"""Typed user errors: the input's fault is one line and exit code 2, a bug keeps its traceback; each error is also
the built-in exception callers expect."""

from __future__ import annotations

import argparse

import numpy as np
import pytest

from flowvq_core import errors
from flowvq_core.cli import main


def test_every_user_error_is_also_the_builtin_a_caller_expects():
    assert issubclass(errors.InputNotFoundError, FileNotFoundError)
    assert issubclass(errors.MissingDependencyError, ImportError)
    for kind in (errors.InvalidOptionError, errors.BadAudioError, errors.BadImageError, errors.BadVideoError,
                 errors.NoFaceError, errors.BadFileError, errors.CheckpointError):  # fmt: skip
        assert issubclass(kind, ValueError) and issubclass(kind, errors.UserInputError)
    assert "no face found in photo.png" in str(errors.NoFaceError("photo.png"))


def _command(monkeypatch, failure: BaseException) -> None:
    def run(args: argparse.Namespace) -> int:
        raise failure

    original = argparse.ArgumentParser.parse_args

    def parse_args(self, argv=None, namespace=None):
        parsed = original(self, argv, namespace)
        parsed.run = run
        return parsed

    monkeypatch.setattr(argparse.ArgumentParser, "parse_args", parse_args)


def test_the_cli_prints_a_user_error_as_one_line_and_exits_2(monkeypatch, capsys):
    _command(monkeypatch, errors.BadAudioError("speech.wav: the audio is silent; give audio that contains speech"))
    assert main(["info"]) == 2
    assert capsys.readouterr().err == "error: speech.wav: the audio is silent; give audio that contains speech\n"


def test_a_bug_keeps_its_traceback(monkeypatch):
    _command(monkeypatch, ValueError("an internal shape mismatch"))
    with pytest.raises(ValueError, match="internal shape mismatch"):
        main(["info"])


def test_library_errors_are_typed_by_what_went_wrong(tmp_path):
    from flowvq_core.audio import load_audio
    from flowvq_core.emotions import emotion_id
    from flowvq_core.face.images import to_rgb_uint8

    with pytest.raises(errors.InputNotFoundError):
        load_audio(str(tmp_path / "missing.wav"))
    with pytest.raises(errors.BadAudioError, match="silent"):
        load_audio((np.zeros(16000, np.float32), 16000))
    with pytest.raises(errors.InvalidOptionError, match="unknown emotion"):
        emotion_id("grumpy")
    with pytest.raises(errors.BadImageError, match="blank image"):
        to_rgb_uint8(np.zeros((100, 100, 3), np.uint8))


def test_prepare_classifies_skipped_sources_by_the_type_of_their_error():
    from flowvq_core.datasets.prepare import _reason

    assert _reason(errors.NoFaceError("clip.mp4")) == "no face"
    assert _reason(errors.BadAudioError("clip.mp4: the video has no audio track")) == "no usable audio"
    assert _reason(errors.BadVideoError("clip.mp4: cannot be decoded; it says nothing of audio")) == "unreadable"
    assert _reason(errors.BadVideoError("clip.mp4: no face found in its audio")) == "unreadable", "not by its words"
