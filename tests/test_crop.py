"""Tests of face crops and paste-back (flowvq_core.face.crop)."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from skimage import data

from flowvq_core.face.crop import (
    CropBox,
    crop_images,
    face_crop_box,
    feathered_mask,
    paste_back,
    paste_back_mask,
    stable_crop_box,
)


@pytest.fixture(scope="module")
def astronaut() -> torch.Tensor:
    """[512, 512, 3] float32 in 0..1."""
    return torch.from_numpy(data.astronaut()).float() / 255


def face_points(cx: float = 250.0, cy: float = 260.0, w: float = 120.0, h: float = 150.0) -> np.ndarray:
    """A synthetic 'face': an ellipse of 40 landmarks, with a z column."""
    t = np.linspace(0, 2 * np.pi, 40, endpoint=False)
    return np.stack([cx + w / 2 * np.cos(t), cy + h / 2 * np.sin(t), np.linspace(-5, 5, 40)], axis=1)


def test_box_round_trip_numpy_tensor_and_dict() -> None:
    box = CropBox(x0=-12.5, y0=30.25, size=300.0, output_size=256, image_height=400, image_width=700)
    assert box.scale == pytest.approx(256 / 300)
    pts = face_points()
    crop_pts = box.to_crop(pts)
    assert isinstance(crop_pts, np.ndarray)
    np.testing.assert_allclose(crop_pts[:, 2], pts[:, 2] * box.scale)  # z is scaled, not shifted
    np.testing.assert_allclose(box.to_image(crop_pts), pts, atol=1e-10)
    np.testing.assert_allclose(box.to_crop((box.x0, box.y0 + box.size)), [0, box.output_size], atol=1e-10)
    tensor = torch.tensor(pts, dtype=torch.float32)
    back = box.to_image(box.to_crop(tensor))
    assert isinstance(back, torch.Tensor) and back.dtype == torch.float32
    torch.testing.assert_close(back, tensor, atol=1e-4, rtol=0)
    assert tensor.equal(torch.tensor(pts, dtype=torch.float32))  # inputs are not modified in place
    restored = CropBox.from_dict(json.loads(json.dumps(box.to_dict())))
    assert restored == box
    with pytest.raises(ValueError, match="missing"):
        CropBox.from_dict({"x0": 0})


def test_identity_crop_reproduces_image(astronaut: torch.Tensor) -> None:
    box = CropBox(0, 0, 512, 512, 512, 512)
    crop = crop_images(astronaut, box)
    assert crop.shape == (1, 512, 512, 3) and crop.dtype == astronaut.dtype
    assert (crop[0] - astronaut).abs().max() < 1e-5


@pytest.mark.parametrize("box_args", [(37.3, 81.6, 40.0, 160), (10.0, 20.0, 100.0, 100), (52.7, 40.2, 120.0, 90)])
def test_dot_lands_where_to_crop_says(box_args: tuple[float, float, float, int]) -> None:
    """A bright pixel at source (x, y) has its centre at (x + 0.5, y + 0.5); the crop's intensity centroid (in crop
    pixel-centre coordinates) must be where to_crop maps that centre."""
    x, y = 57, 96
    image = torch.zeros(1, 200, 240, 3)
    image[0, y, x] = 1.0
    box = CropBox(*box_args, image_height=200, image_width=240)
    crop = crop_images(image, box)[0, ..., 0]
    rows, cols = torch.meshgrid(torch.arange(crop.shape[0]) + 0.5, torch.arange(crop.shape[1]) + 0.5, indexing="ij")
    centroid = torch.stack([(crop * cols).sum(), (crop * rows).sum()]) / crop.sum()
    expected = box.to_crop(np.array([x + 0.5, y + 0.5]))
    np.testing.assert_allclose(centroid.numpy(), expected, atol=0.5)
    if box.scale == 1:  # integer offsets at scale 1: the dot is copied to exactly one pixel
        assert crop[int(expected[1]), int(expected[0])] == pytest.approx(1.0)


def test_paste_back_without_feather_restores_original(astronaut: torch.Tensor) -> None:
    box = CropBox(100, 60, 256, 256, 512, 512)  # scale 1, integer offsets: crop and paste are exact copies
    crop = crop_images(astronaut, box)
    pasted = paste_back(astronaut, crop, box, mask=torch.ones(1, 256, 256), feather=0)
    assert pasted.shape == (1, 512, 512, 3)
    assert (pasted[0] - astronaut).abs().max() < 1e-4
    # A box at another scale: inside the box the crop is resampled, outside the original stays bit-exact.
    box = CropBox(150.4, 70.8, 200.0, 256, 512, 512)
    crops = torch.zeros(2, 256, 256, 3)
    pasted = paste_back(astronaut, crops, box, feather=0)
    weights = paste_back_mask(box, feather=0)[0]
    outside = weights == 0
    assert outside.sum() == 512 * 512 - 201 * 201  # pixels touched by [150.4, 350.4) × [70.8, 270.8)
    assert torch.equal(pasted[:, outside], astronaut[outside].expand(2, -1, -1))
    assert pasted[:, 72:270, 151:350].abs().max() < 1e-6  # fully inside: the (black) crop


def test_feathered_paste_blends_border_to_original_and_centre_to_crop(astronaut: torch.Tensor) -> None:
    box = CropBox(64.5, 48.25, 320.0, 256, 512, 512)
    crop = torch.full((1, 256, 256, 3), 0.25)
    pasted = paste_back(astronaut, crop, box)[0]
    weights = paste_back_mask(box)[0]
    assert weights.shape == (512, 512) and weights.min() >= 0 and weights.max() <= 1
    torch.testing.assert_close(pasted, astronaut + weights[..., None] * (0.25 - astronaut), atol=1e-6, rtol=0)
    # The outermost source pixels under the box, and a ring just inside: the original.
    ring = torch.zeros(512, 512, dtype=torch.bool)
    ring[48:369, 64:385] = True
    ring[50:367, 66:383] = False
    assert (pasted[ring] - astronaut[ring]).abs().max() < 0.01
    # The centre (well inside the feather of 10% = 32 source pixels): the crop.
    assert (pasted[150:270, 170:290] - 0.25).abs().max() < 1e-6
    mask = feathered_mask(256)
    assert mask[0].abs().max() == 0 and mask[:, -1].abs().max() == 0 and mask[128, 128] == 1
    assert torch.equal(mask, mask.T) and torch.equal(mask, mask.flip(0))
    assert torch.equal(feathered_mask(8, feather=0), torch.ones(8, 8))


def test_face_mask_multiplies_the_feather(astronaut: torch.Tensor) -> None:
    box = CropBox(100, 100, 200, 200, 512, 512)
    masks = torch.zeros(3, 200, 200)
    masks[1, 50:150, 50:150] = 1
    masks[2] = 0.5
    crops = torch.ones(3, 200, 200, 3)
    pasted = paste_back(astronaut, crops, box, mask=masks, feather=0.05)
    weights = paste_back_mask(box, mask=masks, feather=0.05)
    assert weights.shape == (3, 512, 512)
    assert torch.equal(pasted[0], astronaut)
    assert (pasted[1, 160:240, 160:240] - 1).abs().max() < 1e-6
    assert torch.equal(pasted[1, 100:140, 100:140], astronaut[100:140, 100:140])
    torch.testing.assert_close(pasted[2, 150:250, 150:250], (astronaut[150:250, 150:250] + 1) / 2)
    assert torch.equal(weights[2], paste_back_mask(box, feather=0.05)[0] / 2)


def test_box_past_the_image_border(astronaut: torch.Tensor) -> None:
    box = CropBox(-100.5, 380.0, 300.0, 128, 512, 512)
    crop = crop_images(astronaut, box)
    assert crop.shape == (1, 128, 128, 3) and torch.isfinite(crop).all()
    # Left of the image the border column is repeated: every row of the crop is constant there.
    left = crop[0, :, :30]
    assert (left - left[:, :1]).abs().max() < 1e-5
    pasted = paste_back(astronaut, crop, box)
    assert pasted.shape == (1, 512, 512, 3)
    assert torch.equal(pasted[0, :370], astronaut[:370]) and torch.equal(pasted[0, :, 201:], astronaut[:, 201:])
    # A box entirely outside the image: crops of repeated edge pixels, and pasting changes nothing.
    far = CropBox(600, -400, 50, 32, 512, 512)
    assert torch.allclose(crop_images(astronaut, far)[0], astronaut[0, -1].expand(32, 32, 3))
    assert torch.equal(paste_back(astronaut, torch.rand(2, 32, 32, 3), far), astronaut.expand(2, -1, -1, -1))
    assert paste_back_mask(far).abs().max() == 0


def test_non_square_images_and_broadcasting() -> None:
    torch.manual_seed(0)
    image = torch.rand(300, 700, 3)
    points = face_points(cx=520, cy=150, w=90, h=110)
    box = face_crop_box(points, 300, 700, output_size=96)
    crops = crop_images(image, box)
    assert crops.shape == (1, 96, 96, 3)
    new_crops = torch.rand(4, 96, 96, 3)
    pasted = paste_back(image, new_crops, box)  # one original broadcast to 4 crops
    assert pasted.shape == (4, 300, 700, 3)
    assert torch.equal(pasted[:, :, :300], image[:, :300].expand(4, -1, -1, -1))
    assert not torch.equal(pasted[0], pasted[1])
    hd = torch.rand(2, 1080, 1920, 3)
    hd_box = face_crop_box(face_points(cx=900, cy=500, w=300, h=380), 1080, 1920, output_size=64)
    hd_crops = crop_images(hd, hd_box)
    assert hd_crops.shape == (2, 64, 64, 3)
    assert paste_back(hd, hd_crops, hd_box).shape == (2, 1080, 1920, 3)
    assert paste_back_mask(hd_box).shape == (1, 1080, 1920)


def test_chunked_batches_match_single_frames(astronaut: torch.Tensor) -> None:
    box = CropBox(90.3, 70.1, 330.0, 64, 512, 512)
    frames = astronaut[None] * torch.linspace(0.2, 1.0, 19)[:, None, None, None]
    crops = crop_images(frames, box)
    assert crops.shape == (19, 64, 64, 3)
    torch.testing.assert_close(crops[17], crop_images(frames[17], box)[0])
    pasted = paste_back(frames, crops.flip(-1), box)
    torch.testing.assert_close(pasted[18], paste_back(frames[18], crops[18:].flip(-1), box)[0])


def test_float64_is_kept(astronaut: torch.Tensor) -> None:
    image = astronaut.double()
    box = CropBox(50, 50, 300, 100, 512, 512)
    crop = crop_images(image, box, mode="bicubic")
    assert crop.dtype == torch.float64
    assert paste_back(image, crop.float(), box).dtype == torch.float64
    assert paste_back_mask(box, dtype=torch.float64).dtype == torch.float64


def test_half_precision_keeps_dtype_and_positions() -> None:
    """A dot in a 1080×1920 half-precision frame still lands where to_crop says (sampling runs in float32)."""
    image = torch.zeros(1080, 1920, 3, dtype=torch.float16)
    image[900, 1700] = 1
    box = CropBox(1650.25, 850.5, 100.0, 200, 1080, 1920)
    crop = crop_images(image, box)[0, ..., 0].float()
    assert crop_images(image, box).dtype == torch.float16
    rows, cols = torch.meshgrid(torch.arange(200) + 0.5, torch.arange(200) + 0.5, indexing="ij")
    centroid = torch.stack([(crop * cols).sum(), (crop * rows).sum()]) / crop.sum()
    np.testing.assert_allclose(centroid.numpy(), box.to_crop((1700.5, 900.5)), atol=0.1)
    assert paste_back(image, crop_images(image, box), box).dtype == torch.float16


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_matches_cpu(astronaut: torch.Tensor) -> None:
    frames = astronaut[None] * torch.linspace(0.5, 1.0, 3)[:, None, None, None]
    masks = torch.rand(3, 128, 128)
    for box in (CropBox(40.5, 20.25, 400.0, 128, 512, 512), CropBox(300.0, 300.0, 64.0, 128, 512, 512)):
        crops = crop_images(frames.cuda(), box)
        assert crops.device.type == "cuda"
        torch.testing.assert_close(crops.cpu(), crop_images(frames, box), atol=1e-5, rtol=0)
        pasted = paste_back(frames.cuda(), crops.flip(-1), box, mask=masks.cuda())
        assert pasted.device.type == "cuda"
        expected = paste_back(frames, crops.cpu().flip(-1), box, mask=masks)
        torch.testing.assert_close(pasted.cpu(), expected, atol=1e-5, rtol=0)
        assert paste_back_mask(box, mask=masks.cuda()).device.type == "cuda"


def test_face_crop_box_contains_points_with_margin() -> None:
    points = face_points()
    box = face_crop_box(points, 512, 512, output_size=256)
    assert box.output_size == 256 and (box.image_height, box.image_width) == (512, 512)
    assert box.size == pytest.approx(150 * 1.7)
    crop_pts = box.to_crop(points)[:, :2]
    assert crop_pts.min() >= 0.05 * 256 and crop_pts.max() <= 0.95 * 256
    # The box is shifted up: more room above the face (forehead, hair) than below it.
    assert crop_pts[:, 1].min() > 256 - crop_pts[:, 1].max()
    box = face_crop_box(torch.tensor(points), 512, 512, margin=0, vertical_shift=0)
    np.testing.assert_allclose([box.x0, box.y0, box.size], [250 - 75, 260 - 75, 150])


def test_stable_box_jitters_less_than_per_frame_boxes() -> None:
    rng = np.random.default_rng(0)
    base = face_points(cx=300, cy=240, w=140, h=170)
    frames = base[None] + np.concatenate([rng.uniform(-3, 3, (60, 40, 2)), np.zeros((60, 40, 1))], axis=2)
    frames[7] = np.nan  # a failed detection is skipped
    per_frame = [face_crop_box(f, 480, 640) for f in np.delete(frames, 7, axis=0)]
    centres = np.array([[b.x0 + b.size / 2, b.y0 + b.size / 2] for b in per_frame])
    stable = stable_crop_box(frames, 480, 640)
    ideal = face_crop_box(base, 480, 640)
    stable_centre = np.array([stable.x0 + stable.size / 2, stable.y0 + stable.size / 2])
    ideal_centre = np.array([ideal.x0 + ideal.size / 2, ideal.y0 + ideal.size / 2])
    spread = np.abs(centres - ideal_centre).max(axis=1)
    assert np.abs(stable_centre - ideal_centre).max() < np.median(spread)
    # Its side covers 95% of the frames' boxes around the common centre, without growing much.
    low, high = np.array([stable.x0, stable.y0]), np.array([stable.x0, stable.y0]) + stable.size
    inside = [(low <= [b.x0, b.y0]).all() and (np.array([b.x0, b.y0]) + b.size <= high).all() for b in per_frame]
    assert np.mean(inside) >= 0.9
    assert ideal.size < stable.size < ideal.size + 20
    assert stable_crop_box(list(torch.tensor(frames)), 480, 640) == stable


def test_downscaling_does_not_alias() -> None:
    """Patterns finer than the crop's pixels must come out nearly uniform grey: a 1-pixel checkerboard shrunk
    2048 → 256 (8×), and a grating of period 2.7 px shrunk 2048 → 300 and 1024 → 600 (the Gaussian path, whose
    short filter leaves more; plain bilinear sampling gives std ≈ 0.17-0.23 on these)."""
    idx = torch.arange(2048)
    board = ((idx[:, None] + idx[None, :]) % 2).float()[..., None].expand(-1, -1, 3)
    grating = (0.5 + 0.5 * torch.sin(2 * torch.pi * (idx[:, None] + 0.3 * idx[None, :]) / 2.7))[..., None]
    grating = grating.expand(-1, -1, 3)
    cases = [(board, 256, 0.02), (grating, 300, 0.03), (grating[:1024, :1024], 600, 0.08)]
    for image, output_size, max_std in cases:
        size = image.shape[0]
        crop = crop_images(image, CropBox(0.3, 0.7, size, output_size, size, size))
        assert crop.mean() == pytest.approx(0.5, abs=0.01)
        assert crop.std() < max_std, (output_size, crop.std())


def test_errors(astronaut: torch.Tensor) -> None:
    box = CropBox(0, 0, 100, 64, 512, 512)
    with pytest.raises(ValueError, match="size"):
        CropBox(0, 0, 0, 64, 512, 512)
    with pytest.raises(ValueError, match="output_size"):
        CropBox(0, 0, 10, 0, 512, 512)
    with pytest.raises(ValueError, match="images"):
        crop_images(astronaut[..., 0], box)
    with pytest.raises(ValueError, match="images"):
        crop_images(astronaut[:256], box)
    with pytest.raises(ValueError, match="images"):
        crop_images((astronaut * 255).to(torch.uint8), box)
    with pytest.raises(ValueError, match="mode"):
        crop_images(astronaut, box, mode="area")
    with pytest.raises(ValueError, match="crops"):
        paste_back(astronaut, torch.zeros(1, 32, 32, 3), box)
    with pytest.raises(ValueError, match="crops"):
        paste_back(astronaut, torch.zeros(64, 64), box)
    with pytest.raises(ValueError, match="originals"):
        paste_back(astronaut[None].expand(2, -1, -1, -1), torch.zeros(3, 64, 64, 3), box)
    with pytest.raises(ValueError, match="originals"):
        paste_back(astronaut[:, :300], torch.zeros(1, 64, 64, 3), box)
    with pytest.raises(ValueError, match="mask"):
        paste_back(astronaut, torch.zeros(3, 64, 64, 3), box, mask=torch.ones(2, 64, 64))
    with pytest.raises(ValueError, match="mask"):
        paste_back(astronaut, torch.zeros(1, 64, 64, 3), box, mask=torch.ones(1, 32, 32))
    with pytest.raises(ValueError, match="feather"):
        feathered_mask(64, feather=0.7)
    with pytest.raises(ValueError, match="points"):
        face_crop_box(np.zeros((5,)), 512, 512)
    with pytest.raises(ValueError, match="zero size"):
        face_crop_box(np.ones((5, 2)), 512, 512)
    with pytest.raises(ValueError, match="points"):
        box.to_crop(np.zeros((3, 1)))
    with pytest.raises(ValueError, match="points_sequence"):
        stable_crop_box(np.zeros((4, 2)), 512, 512)
    with pytest.raises(ValueError, match="finite"):
        stable_crop_box(np.full((4, 5, 2), np.nan), 512, 512)
