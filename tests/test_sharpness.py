"""CPBD sharpness: ranks blur, handles flat images, and reads only the masked region when given a mask."""

from __future__ import annotations

from itertools import pairwise

import numpy as np
import pytest

from flowvq_core.evaluation.sharpness import cpbd, edge_widths


@pytest.fixture(scope="module")
def camera() -> np.ndarray:
    from skimage import data

    return data.camera()


def test_cpbd_falls_with_every_step_of_gaussian_blur(camera):
    from skimage.filters import gaussian

    scores = [cpbd(camera)] + [cpbd(gaussian(camera, sigma=sigma)) for sigma in (0.5, 1.0, 1.5, 2.5)]
    assert 0.4 < scores[0] <= 1.0
    assert all(later < earlier for earlier, later in pairwise(scores)), scores
    assert scores[-1] < 0.05


def test_cpbd_reads_colour_uint8_and_float_alike():
    from skimage import data

    astronaut = data.astronaut()[:256, 128:384]
    assert cpbd(astronaut) == pytest.approx(cpbd(astronaut / 255.0), abs=0.02)


def test_an_ideal_step_is_two_pixels_wide_along_rows_and_columns():
    step = np.zeros((9, 9))
    step[:, 5:] = 255.0
    rows, cols = np.array([4, 4]), np.array([5, 4])
    assert edge_widths(step, rows, cols, np.array([(1, 0), (1, 0)])).tolist() == [2.0, 2.0]
    assert edge_widths(step.T.copy(), cols, rows, np.array([(0, 1), (0, 1)])).tolist() == [2.0, 2.0]
    ramp = np.tile(np.clip((np.arange(20.0) - 5) * 30, 0, 255), (5, 1))  # 5 → 14: a ramp 9 pixels wide
    assert edge_widths(ramp, np.array([2]), np.array([9]), np.array([(1, 0)])).tolist() == [9.0]


def test_flat_and_tiny_images_score_zero_without_error():
    assert cpbd(np.full((128, 128, 3), 0.5)) == 0.0
    assert cpbd(np.zeros((40, 40), np.uint8)) == 0.0, "smaller than one 64×64 block"


def test_a_mask_limits_cpbd_to_its_region(camera):
    from skimage.filters import gaussian

    half_blurred = camera.astype(np.float64) / 255
    half_blurred[:, 256:] = gaussian(half_blurred, sigma=2.0)[:, 256:]
    sharp_side = np.zeros(camera.shape, bool)
    sharp_side[:, :256] = True
    assert cpbd(half_blurred, sharp_side) > 2 * cpbd(half_blurred, ~sharp_side)
    assert cpbd(half_blurred, sharp_side) == pytest.approx(cpbd(camera[:, :256]), abs=0.05)
    with pytest.raises(ValueError, match="mask"):
        cpbd(camera, sharp_side[:100])
