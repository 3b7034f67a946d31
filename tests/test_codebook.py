"""The codebook stage (paper §3.3): shapes, the index → image path, losses, and a learning check on the astronaut."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from safetensors.torch import save_file
from skimage import data

from flowvq_core.vq import CodebookConfig, CodebookModel, CodebookTrainer, PatchDiscriminator, PerceptualLoss
from flowvq_core.vq.discriminator import hinge_discriminator_loss, hinge_generator_loss
from flowvq_core.vq.perceptual import vgg19_features
from flowvq_core.vq.training import adaptive_weight


def _tiny() -> CodebookModel:
    torch.manual_seed(0)
    return CodebookModel(CodebookConfig.preset("tiny"))


def _astronaut_crops() -> torch.Tensor:
    """Four 64×64 crops of the astronaut (scaled to 256 px), in −1..1."""
    image = torch.from_numpy(data.astronaut()).float().permute(2, 0, 1) / 127.5 - 1
    small = F.interpolate(image[None], size=256, mode="area")[0]
    return torch.stack([small[:, y : y + 64, x : x + 64] for y, x in ((40, 90), (60, 110), (20, 150), (120, 60))])


def _psnr(model: CodebookModel, images: torch.Tensor) -> float:
    model.eval()
    with torch.no_grad():
        decoded = model(images).image.clamp(-1, 1)
    model.train()
    return 10 * math.log10(4 / F.mse_loss(decoded, images).item())  # peak-to-peak 2 in −1..1


def test_tiny_shapes_and_the_index_path_decode_the_same_image():
    model = _tiny().eval()
    images = torch.rand(2, 3, 64, 64) * 2 - 1
    out = model(images)
    assert out.image.shape == images.shape and out.quantized.indices.shape == (2, 16, 16)
    assert out.quantized.indices.dtype == torch.long and int(out.quantized.indices.max()) < 128
    assert torch.allclose(model.decode_indices(out.quantized.indices), out.image, atol=1e-5)
    with pytest.raises(ValueError, match="64×64"):
        model(torch.zeros(1, 3, 32, 32))


@pytest.mark.slow
def test_paper_preset_shapes_at_512():
    config = CodebookConfig.preset("paper")
    assert config.latent_size == 16
    model = CodebookModel(config).eval()
    with torch.no_grad():
        indices = model.encode(torch.zeros(1, 3, 512, 512)).indices
        assert indices.shape == (1, 16, 16)
        assert model.decode_indices(indices).shape == (1, 3, 512, 512)


def test_hinge_losses_and_the_patch_map():
    real, fake = torch.tensor([2.0, 0.5]), torch.tensor([-2.0, 0.5])
    assert torch.isclose(hinge_discriminator_loss(real, fake), torch.tensor(0.5 * (0.25 + 0.75)))
    assert torch.isclose(hinge_generator_loss(fake), torch.tensor(0.75))
    logits = PatchDiscriminator(channels=8)(torch.zeros(2, 3, 64, 64))
    assert logits.shape[:2] == (2, 1) and logits.shape[-1] > 1, "one logit per patch"


def test_adaptive_weight_is_the_ratio_of_gradient_norms_at_the_last_layer():
    weight = torch.randn(4, requires_grad=True)
    reconstruction, adversarial = (3 * weight).sum(), (weight**2).sum()
    expected = (3 * torch.ones(4)).norm() / ((2 * weight).norm() + 1e-4)
    assert torch.isclose(adaptive_weight(reconstruction, adversarial, weight), expected.detach())


def test_perceptual_loss_loads_torchvision_layout_and_refuses_other_files(tmp_path):
    torch.manual_seed(0)
    features = vgg19_features()
    state = {f"features.{key}": value for key, value in features.state_dict().items()}
    save_file({**state, "classifier.0.weight": torch.zeros(2, 2)}, tmp_path / "vgg19.safetensors")
    loss = PerceptualLoss.from_file(tmp_path / "vgg19.safetensors")
    image = torch.rand(1, 3, 32, 32) * 2 - 1
    assert float(loss(image, image)) == 0 and float(loss(image, -image)) > 0
    assert not any(p.requires_grad for p in loss.parameters())
    save_file({"features.0.weight": torch.zeros(64, 3, 3, 3)}, tmp_path / "other.safetensors")
    with pytest.raises(ValueError, match="missing"):
        PerceptualLoss.from_file(tmp_path / "other.safetensors")
    with pytest.raises(FileNotFoundError, match="no such file"):
        PerceptualLoss.from_file(tmp_path / "absent.safetensors")


def test_trainer_says_once_that_the_perceptual_loss_is_off_and_runs_the_gan_stage():
    said = []
    model = _tiny()
    trainer = CodebookTrainer(model, adversarial_start=2, restart_every=3, learning_rate=1e-3,
                              discriminator=PatchDiscriminator(channels=8), say=said.append)  # fmt: skip
    images = _astronaut_crops()[:2]
    steps = [trainer.step(images) for _ in range(4)]
    assert len(said) == 1 and "perceptual" in said[0]
    assert steps[0].adversarial is None and steps[0].discriminator is None
    assert steps[-1].adversarial is not None and steps[-1].adaptive_weight > 0 and steps[-1].discriminator > 0
    assert all(math.isfinite(s.reconstruction) and math.isfinite(s.code) for s in steps)


def test_the_codebook_model_starts_learning_the_astronaut():
    """A quick version of the learning check below: 100 steps gain more than 5 dB of PSNR."""
    model, images = _tiny(), _astronaut_crops()
    before = _psnr(model, images)
    trainer = CodebookTrainer(model, learning_rate=2e-3, adversarial_start=10**9, restart_every=0, say=lambda _: None)
    for _ in range(100):
        trainer.step(images)
    assert _psnr(model, images) > before + 5


@pytest.mark.slow
def test_the_tiny_codebook_model_overfits_astronaut_crops_above_25_db():
    model, images = _tiny(), _astronaut_crops()
    trainer = CodebookTrainer(model, learning_rate=2e-3, adversarial_start=10**9, restart_every=0, say=lambda _: None)
    for _ in range(400):
        trainer.step(images)
    assert _psnr(model, images) > 25
