"""Everything the nodes use of ComfyUI, in one place: the model folder, devices, progress and interruption.

ComfyUI's modules are imported when a node runs (or lists its choices), never when this package is imported, so
the pack loads, and its tests run, without ComfyUI.
"""

from __future__ import annotations

import os
from collections.abc import Callable

import torch

from flowvq_core.errors import InputNotFoundError, InvalidOptionError

MODEL_FOLDER = "flowvq"
"""``models/flowvq/``: generator checkpoints (users may add a ``flowvq:`` key to extra_model_paths.yaml)."""
COEFFICIENT_SUFFIXES = (".safetensors", ".json")


def register_model_folder() -> None:
    """Make ``models/flowvq`` known to ComfyUI (called once when ComfyUI loads the pack)."""
    import folder_paths

    default = os.path.join(folder_paths.models_dir, MODEL_FOLDER)
    if MODEL_FOLDER not in folder_paths.folder_names_and_paths:
        folder_paths.folder_names_and_paths[MODEL_FOLDER] = ([default], {".safetensors"})
    else:
        folder_paths.add_model_folder_path(MODEL_FOLDER, default)


def model_files() -> list[str]:
    import folder_paths

    try:
        return sorted(folder_paths.get_filename_list(MODEL_FOLDER))
    except KeyError:  # the folder was not registered (the pack loaded without ComfyUI's folder_paths)
        return []


def model_path(name: str) -> str:
    import folder_paths

    return folder_paths.get_full_path_or_raise(MODEL_FOLDER, name)


def input_files(suffixes: tuple[str, ...] = COEFFICIENT_SUFFIXES) -> list[str]:
    """Files in ComfyUI's input folder (and its subfolders) with one of ``suffixes``, as relative paths."""
    import folder_paths

    root = folder_paths.get_input_directory()
    found = []
    for folder, _, files in os.walk(root):
        found += [os.path.relpath(os.path.join(folder, f), root) for f in files if f.endswith(suffixes)]
    return sorted(found)


def input_path(name: str) -> str:
    """The file ``name`` inside ComfyUI's input folder; a path that leads outside it is refused."""
    import folder_paths

    root = os.path.realpath(folder_paths.get_input_directory())
    path = os.path.realpath(os.path.join(root, name))
    if os.path.commonpath([root, path]) != root:
        raise InvalidOptionError(f"{name!r} is outside ComfyUI's input folder; pick a file from the list")
    if not os.path.isfile(path):
        raise InputNotFoundError(f"{name!r} is not in ComfyUI's input folder; put the file there or pick another")
    return path


def output_prefix(filename_prefix: str) -> tuple[str, str, int, str]:
    """(folder, file name stem, counter, subfolder) for a new output file, by ComfyUI's own numbering."""
    import folder_paths

    folder, stem, counter, subfolder, _ = folder_paths.get_save_image_path(
        filename_prefix, folder_paths.get_output_directory()
    )
    return folder, stem, counter, subfolder


def compute_device() -> torch.device:
    import comfy.model_management

    return comfy.model_management.get_torch_device()


def output_device() -> torch.device:
    import comfy.model_management

    return comfy.model_management.intermediate_device()


def check_interrupted() -> None:
    """Raise ComfyUI's interruption (it derives from BaseException: never catch it) when the user cancelled."""
    import comfy.model_management

    comfy.model_management.throw_exception_if_processing_interrupted()


def progress_bar(total: int) -> Callable[[int, int], None]:
    """A ``progress(done, total)`` callback that drives ComfyUI's progress bar and honours cancellation."""
    import comfy.utils

    bar = comfy.utils.ProgressBar(total)

    def report(done: int, expected: int) -> None:
        check_interrupted()
        bar.update_absolute(done, expected)

    return report
