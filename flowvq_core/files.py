"""Writing files so that a crash never leaves half of one behind."""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable


def atomic_write(path: str | os.PathLike[str], write: Callable[[str], None]) -> None:
    """Call ``write(temporary_path)``, flush the result to disk and rename it over ``path``.

    The temporary file sits in the same folder (created if missing), so the rename is atomic: readers see either the
    old file or the new one. On any error the temporary file is removed and the error propagates.
    """
    path = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    temp = os.path.join(folder, f".{os.path.basename(path)}.{uuid.uuid4().hex}.tmp")
    try:
        write(temp)
        with open(temp, "r+b") as handle:
            os.fsync(handle.fileno())
        os.replace(temp, path)
    except BaseException:
        if os.path.exists(temp):
            os.remove(temp)
        raise


def atomic_write_text(path: str | os.PathLike[str], text: str) -> None:
    """``atomic_write`` of UTF-8 text with Unix line endings."""

    def write(temp: str) -> None:
        with open(temp, "x", encoding="utf-8", newline="\n") as handle:
            handle.write(text)

    atomic_write(path, write)
