"""The perceptual loss on VGG19 features, with weights the user supplies (nothing is downloaded, nothing unpickled).

The network is torchvision's VGG19 ``features`` layout, so a safetensors export of ``torchvision.models.vgg19``'s
state dict loads as it is (keys ``features.<index>.weight`` / ``.bias``; other keys such as the classifier's are
ignored). Without a file the loss is unavailable and training says so once and drops the term.
"""

from __future__ import annotations

import os

import torch
import torch.nn.functional as F
from safetensors.torch import load_file
from torch import Tensor, nn

from ..errors import CheckpointError, InputNotFoundError

VGG19_LAYOUT = (64, 64, "M", 128, 128, "M", 256, 256, 256, 256, "M", 512, 512, 512, 512, "M", 512, 512, 512, 512)
"""Convolution widths and max-pools of VGG19's feature extractor, up to relu5_4."""
FEATURE_LAYERS = (3, 8, 17, 26, 35)
"""Indices (in ``features``) of relu1_2, relu2_2, relu3_4, relu4_4 and relu5_4."""
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def vgg19_features() -> nn.Sequential:
    layers: list[nn.Module] = []
    channels = 3
    for item in VGG19_LAYOUT:
        if item == "M":
            layers.append(nn.MaxPool2d(2, 2))
        else:
            layers += [nn.Conv2d(channels, item, 3, padding=1), nn.ReLU(inplace=False)]
            channels = item
    return nn.Sequential(*layers)


class PerceptualLoss(nn.Module):
    """L_per = ‖Φ(x) − Φ(x̂)‖² (paper eq. 14): mean squared distance of VGG19 features relu1_2 … relu5_4, images
    in −1..1."""

    def __init__(self, features: nn.Sequential):
        super().__init__()
        self.features = features.eval().requires_grad_(False)
        self.register_buffer("mean", torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1))
        self.register_buffer("std", torch.tensor(IMAGENET_STD).view(1, 3, 1, 1))

    @classmethod
    def from_file(cls, path: str | os.PathLike[str]) -> PerceptualLoss:
        """Load VGG19 weights from a safetensors file in torchvision's layout (a clear error if it does not fit)."""
        if not os.path.isfile(path):
            raise InputNotFoundError(f"VGG19 weights {path}: no such file")
        tensors = load_file(os.fspath(path))
        features = vgg19_features()
        wanted = {f"features.{key}": value for key, value in features.state_dict().items()}
        missing = [key for key in wanted if key not in tensors]
        if missing:
            raise CheckpointError(
                f"VGG19 weights {path}: missing {missing[:3]}…; export torchvision's vgg19 state dict"
            )
        features.load_state_dict({key[len("features.") :]: tensors[key] for key in wanted})
        return cls(features)

    def forward(self, image: Tensor, target: Tensor) -> Tensor:
        x = ((image + 1) / 2 - self.mean) / self.std
        y = ((target + 1) / 2 - self.mean) / self.std
        loss = image.new_zeros(())
        for index, layer in enumerate(self.features[: FEATURE_LAYERS[-1] + 1]):
            x, y = layer(x), layer(y)
            if index in FEATURE_LAYERS:
                loss = loss + F.mse_loss(x, y)
        return loss / len(FEATURE_LAYERS)
