"""Errors that are the input's fault, as opposed to bugs.

Every error here derives from :class:`UserInputError`, and its message names the input and says what to do. The
command line prints such an error as one line and exits with code 2; anything else keeps its traceback, because it
is a bug to report. Each class also derives from the built-in exception a caller would expect (``ValueError`` for a
bad value, ``FileNotFoundError`` for a missing file, ``ImportError`` for a missing tool), so code that catches those
keeps working.
"""

from __future__ import annotations


class UserInputError(Exception):
    """An input the user gave cannot be used; the message says which and what to give instead."""


class InputNotFoundError(UserInputError, FileNotFoundError):
    """A file or folder the user named does not exist."""


class InvalidOptionError(UserInputError, ValueError):
    """A setting outside its range or not among its choices (emotion, strength, fps, a command-line flag, …)."""


class BadAudioError(UserInputError, ValueError):
    """Audio that cannot drive a face: undecodable, empty, silent, or not a waveform."""


class BadImageError(UserInputError, ValueError):
    """An image that cannot be read or holds no usable picture."""


class BadVideoError(UserInputError, ValueError):
    """A video that cannot be decoded, or holds no frames."""


class NoFaceError(UserInputError, ValueError):
    """No face in an input; the message names the input and says what to give instead."""

    def __init__(self, name: str) -> None:
        super().__init__(f"no face found in {name}; use a photo with one clearly visible face, at least ~80 px wide")


class BadFileError(UserInputError, ValueError):
    """A file of ours (coefficients, a corpus, prepared data) that is damaged, incomplete or of another kind."""


class CheckpointError(BadFileError):
    """A model file that is missing, damaged, of another kind, or made for another face model."""


class MissingDependencyError(UserInputError, ImportError):
    """A tool or package the request needs is not installed; the message gives the install command."""
