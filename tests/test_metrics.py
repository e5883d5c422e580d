"""PSNR / SSIM / Y channel: BasicSR conventions, hand-derived values, scikit-image cross-check."""

import math

import numpy as np
import pytest
import torch
from skimage.metrics import peak_signal_noise_ratio, structural_similarity

from seeclear_lite.metrics import psnr, rgb_to_y, ssim
from seeclear_lite.metrics.psnr_ssim import SSIM_C1, SSIM_C2, gaussian_window_1d


def _pair(seed=0, shape=(2, 3, 48, 40), noise=0.08):
    g = torch.Generator().manual_seed(seed)
    yy, xx = torch.meshgrid(torch.arange(shape[-2]), torch.arange(shape[-1]), indexing="ij")
    base = 0.5 + 0.3 * torch.sin(xx / 4.0) * torch.cos(yy / 6.0)
    a = (base + 0.15 * torch.rand(shape, generator=g, dtype=torch.float64)).clamp(0, 1)
    b = (a + noise * torch.randn(shape, generator=g, dtype=torch.float64)).clamp(0, 1)
    return a, b


def _hwc255(x):
    return x.permute(1, 2, 0).numpy() * 255.0


# ---------------------------------------------------------------- Y channel


def test_rgb_to_y_is_matlab_rgb2ycbcr_luma():
    rgb = torch.tensor([[1.0, 1, 1], [0, 0, 0], [1, 0, 0], [0, 1, 0], [0, 0, 1]], dtype=torch.float64)
    y = rgb_to_y(rgb.T[:, :, None])[0, :, 0] * 255  # [3, 5, 1] -> Y on 0..255
    expected = [235.0, 16.0, 16 + 65.481, 16 + 128.553, 16 + 24.966]  # studio swing: white 235, black 16
    np.testing.assert_allclose(y.numpy(), expected, rtol=0, atol=1e-12)
    assert rgb_to_y(torch.rand(4, 2, 3, 5, 6)).shape == (4, 2, 1, 5, 6)


def test_rgb_to_y_bad_input():
    with pytest.raises(ValueError, match="3 channels"):
        rgb_to_y(torch.rand(4, 8, 8))
    with pytest.raises(TypeError, match="floating torch tensor"):
        rgb_to_y(np.zeros((3, 8, 8)))


# ---------------------------------------------------------------- PSNR


def test_psnr_hand_values():
    a = torch.rand(3, 16, 16, dtype=torch.float64) * 0.9
    # a constant error of 0.1 -> MSE 0.01 -> 10 log10(1 / 0.01) = 20 dB
    assert abs(psnr(a + 0.1, a).item() - 20.0) < 1e-10
    assert abs(psnr(a + 0.1, a, data_range=2.0).item() - (20.0 + 20 * math.log10(2))) < 1e-10
    # white vs black on Y: |235 - 16| = 219 levels everywhere -> 20 log10(255 / 219)
    white, black = torch.ones(3, 8, 8), torch.zeros(3, 8, 8)
    assert abs(psnr(white, black, y_channel=True).item() - 20 * math.log10(255 / 219)) < 1e-10
    assert psnr(white, black).item() == 0.0  # RGB: MSE = 1 -> 0 dB
    assert psnr(a, a).item() == math.inf  # identical images, as BasicSR


def test_psnr_matches_skimage_and_is_per_image():
    a, b = _pair()
    got = psnr(a, b)
    assert got.shape == (2,) and got.dtype == torch.float64
    for i in range(2):
        assert abs(got[i].item() - peak_signal_noise_ratio(a[i].numpy(), b[i].numpy(), data_range=1.0)) < 1e-10
    # float32 inputs are promoted: same value to float32 input precision
    assert abs(psnr(a.float(), b.float())[0].item() - got[0].item()) < 1e-4


def test_crop_border_removes_exactly_the_border():
    a = torch.rand(3, 20, 24, dtype=torch.float64)
    b = a.clone()
    b[..., :4, :] = 0.0  # damage only the top 4 rows
    assert psnr(a, b, crop_border=4).item() == math.inf
    assert psnr(a, b, crop_border=3).item() < 100
    assert psnr(a, b, crop_border=4, y_channel=True).item() == math.inf


# ---------------------------------------------------------------- SSIM


def test_gaussian_window_is_opencv_11_1p5():
    g = gaussian_window_1d()
    assert g.shape == (11,) and abs(g.sum().item() - 1) < 1e-15
    torch.testing.assert_close(g, g.flip(0), rtol=0, atol=0)
    # neighbouring taps: exp(-(i^2 - (i+1)^2) / (2 sigma^2)); centre vs next = exp(1 / 4.5)
    assert abs((g[5] / g[6]).item() - math.exp(1 / 4.5)) < 1e-14


def test_ssim_constants_and_constant_images_by_hand():
    assert SSIM_C1 == (0.01 * 255) ** 2 and SSIM_C2 == (0.03 * 255) ** 2
    # constant images: variances and covariance vanish, so SSIM = (2 m1 m2 + C1) / (m1^2 + m2^2 + C1)
    m1, m2 = 0.2 * 255, 0.5 * 255
    expected = (2 * m1 * m2 + SSIM_C1) / (m1**2 + m2**2 + SSIM_C1)
    got = ssim(torch.full((3, 16, 16), 0.2), torch.full((3, 16, 16), 0.5)).item()
    assert abs(got - expected) < 1e-6  # float32 inputs 0.2 / 0.5
    a, _ = _pair()
    assert abs(ssim(a, a)[0].item() - 1.0) < 1e-12


@pytest.mark.parametrize("crop", [0, 4])
def test_ssim_matches_skimage(crop):
    """skimage with Gaussian weights, sigma 1.5 (11x11 window), population covariance, data_range 255
    is the same estimator as BasicSR's; measured agreement ~1e-15, asserted to 1e-9."""
    a, b = _pair(seed=1)
    got = ssim(a, b, crop_border=crop)
    got_y = ssim(a, b, crop_border=crop, y_channel=True)
    kw = dict(gaussian_weights=True, sigma=1.5, use_sample_covariance=False, data_range=255)
    for i in range(2):
        ai = a[i][..., crop:a.shape[-2] - crop, crop:a.shape[-1] - crop]
        bi = b[i][..., crop:b.shape[-2] - crop, crop:b.shape[-1] - crop]
        ref = structural_similarity(_hwc255(ai), _hwc255(bi), channel_axis=-1, **kw)
        assert abs(got[i].item() - ref) < 1e-9
        ref_y = structural_similarity(rgb_to_y(ai)[0].numpy() * 255, rgb_to_y(bi)[0].numpy() * 255, **kw)
        assert abs(got_y[i].item() - ref_y) < 1e-9
    assert 0.3 < got.min() < got.max() < 0.99  # a meaningful, non-trivial test case


def test_ssim_rgb_is_the_mean_over_channels_and_batched():
    a, b = _pair(seed=2, shape=(2, 2, 3, 24, 24))
    per_channel = torch.stack([ssim(a[..., c:c + 1, :, :], b[..., c:c + 1, :, :]) for c in range(3)])
    torch.testing.assert_close(ssim(a, b), per_channel.mean(0), rtol=0, atol=1e-14)
    assert ssim(a, b).shape == (2, 2)
    torch.testing.assert_close(ssim(a, b)[1, 0], ssim(a[1, 0], b[1, 0]), rtol=0, atol=1e-14)


# ---------------------------------------------------------------- bad input


@pytest.mark.parametrize("fn", [psnr, ssim])
def test_bad_inputs_raise_clear_errors(fn):
    a = torch.rand(3, 16, 16)
    with pytest.raises(ValueError, match="shape mismatch"):
        fn(a, torch.rand(3, 16, 15))
    with pytest.raises(ValueError, match="3 channels"):
        fn(torch.rand(1, 16, 16), torch.rand(1, 16, 16), y_channel=True)
    nan = a.clone()
    nan[0, 0, 0] = float("nan")
    with pytest.raises(ValueError, match="NaN"):
        fn(a, nan)
    with pytest.raises(ValueError, match="at least 3 dims"):
        fn(torch.rand(16, 16), torch.rand(16, 16))
    with pytest.raises(TypeError, match="torch.Tensor"):
        fn(np.zeros((16, 16, 3)), np.zeros((16, 16, 3)))
    with pytest.raises(TypeError, match="floating"):
        fn(torch.zeros(3, 16, 16, dtype=torch.uint8), torch.zeros(3, 16, 16, dtype=torch.uint8))
    with pytest.raises(ValueError, match="divide 0..255"):
        fn(a * 255, a * 255)
    with pytest.raises(ValueError, match="to_image_range"):
        fn(a * 2 - 1, a)
    with pytest.raises(ValueError, match="too small for crop_border"):
        fn(a, a, crop_border=8)
    with pytest.raises(ValueError, match="non-negative integer"):
        fn(a, a, crop_border=-1)


def test_ssim_needs_an_11x11_window():
    with pytest.raises(ValueError, match="SSIM needs 11x11"):
        ssim(torch.rand(3, 10, 30), torch.rand(3, 10, 30))
    with pytest.raises(ValueError, match="data_range"):
        psnr(torch.rand(3, 8, 8), torch.rand(3, 8, 8), data_range=0)
