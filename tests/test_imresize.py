"""MATLAB-compatible bicubic imresize and the BI degradation, pinned by properties derivable exactly.

No MATLAB is available, so every expectation below is derived from MATLAB's ``imresize.m`` algorithm by
hand (kernel values, index mirroring, output size, small exact examples) or is a property that MATLAB's
resize has (constants stay constant, identity at scale 1, separability, linearity). The loop-based numpy
reference is checked against the hand values too, so the two implementations cannot share a mistake.
"""

import math
from fractions import Fraction

import numpy as np
import pytest
import torch

from seeclear_lite.degradation import (bi_degrade, bicubic_upsample, contributions, cubic, imresize,
                                       imresize_np, mod_crop, quantize_uint8)
from seeclear_lite.degradation.matlab_imresize import resize_matrix
from seeclear_lite.degradation.imresize_reference import (contributions_np, cubic_np, mirror_index,
                                                          resize_along_axis_np)


def keys_cubic(t, a=-0.5):
    """Keys (1981) cubic convolution kernel written with the general parameter a."""
    t = abs(t)
    if t <= 1:
        return (a + 2) * t**3 - (a + 3) * t**2 + 1
    if t < 2:
        return a * t**3 - 5 * a * t**2 + 8 * a * t - 4 * a
    return 0.0


# ---------------------------------------------------------------- kernel


def test_cubic_is_keys_kernel_with_a_minus_half():
    ts = np.linspace(-3, 3, 1201)
    expected = np.array([keys_cubic(t) for t in ts])
    got = cubic(torch.from_numpy(ts)).numpy()
    np.testing.assert_allclose(got, expected, rtol=0, atol=1e-15)
    np.testing.assert_allclose([cubic_np(t) for t in ts], expected, rtol=0, atol=1e-15)
    # hand values: c(0.5) = 1.5/8 - 2.5/4 + 1 = 9/16; c(1.5) = -0.5*27/8 + 2.5*9/4 - 6 + 2 = -1/16
    assert cubic(torch.tensor([0.5], dtype=torch.float64)).item() == 0.5625
    assert cubic(torch.tensor([-1.5], dtype=torch.float64)).item() == -0.0625


def test_cubic_interpolates_and_is_a_partition_of_unity():
    # interpolating: c(0) = 1, c(k) = 0 at the other integers
    ints = torch.arange(-4, 5, dtype=torch.float64)
    assert cubic(ints).tolist() == [0, 0, 0, 0, 1, 0, 0, 0, 0]
    # sum_k c(t - k) = 1 for every t (constants are reproduced before any normalisation)
    t = torch.rand(50, dtype=torch.float64)[:, None]
    k = torch.arange(-3, 4, dtype=torch.float64)[None, :]
    torch.testing.assert_close(cubic(t - k).sum(1), torch.ones(50, dtype=torch.float64), rtol=0, atol=1e-14)


# ---------------------------------------------------------------- contributions


def test_mirror_index_is_symmetric_edge_repeat():
    n = 5
    # 1-based: ... -1 -> 2, 0 -> 1, 1..5 -> 1..5, 6 -> 5, 7 -> 4 ...
    assert [mirror_index(j, n) for j in range(-2, 9)] == [3, 2, 1, 1, 2, 3, 4, 5, 5, 4, 3]


def test_contributions_downscale_x4_first_row_by_hand():
    # out pixel x=1: u = 1/0.25 + 0.5 * (1 - 4) = 2.5; width 4/0.25 = 16; left = floor(2.5 - 8) = -6;
    # P = 16 + 2 = 18 taps j = -6..11. |u - j| = 8.5 for j = -6 and 11 -> zero for every row -> dropped.
    w, idx = contributions(64, 16, 0.25, True)
    assert w.shape == idx.shape == (16, 16)
    js = np.arange(-5, 11)
    expected_w = np.array([0.25 * keys_cubic(0.25 * (2.5 - j)) for j in js])
    expected_w /= expected_w.sum()
    np.testing.assert_allclose(w[0].numpy(), expected_w, rtol=0, atol=1e-15)
    # 1-based j = -5..0 mirror to 6..1; then 1..10. 0-based below.
    assert idx[0].tolist() == [5, 4, 3, 2, 1, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9]
    # an interior row reads 16 consecutive pixels centred on u: row x = 5 -> u = 18.5 -> j = 11..26
    assert idx[4].tolist() == list(range(10, 26))
    # the reference agrees (1-based indices there)
    w_np, idx_np = contributions_np(64, 16, 0.25, True)
    np.testing.assert_allclose(w_np, w.numpy(), rtol=0, atol=1e-15)
    assert (idx_np - 1 == idx.numpy()).all()


@pytest.mark.parametrize("n_in,n_out,scale", [(64, 16, 0.25), (10, 40, 4.0), (7, 3, 3 / 7), (9, 9, 1.0),
                                             (1, 4, 4.0), (5, 2, 0.4)])
def test_weights_are_normalised_and_indices_in_range(n_in, n_out, scale):
    w, idx = contributions(n_in, n_out, scale, True)
    torch.testing.assert_close(w.sum(1), torch.ones(n_out, dtype=torch.float64), rtol=0, atol=1e-14)
    assert idx.min() >= 0 and idx.max() <= n_in - 1
    assert (w != 0).any(dim=0).all()  # all-zero tap columns were dropped
    # the dense matrix has the same rows
    m = resize_matrix(n_in, n_out, scale, True)
    torch.testing.assert_close(m.sum(1), torch.ones(n_out, dtype=torch.float64), rtol=0, atol=1e-14)


def test_no_antialiasing_keeps_four_tap_kernel():
    w, _ = contributions(64, 16, 0.25, False)
    assert w.shape[1] <= 6  # P = ceil(4) + 2, minus dropped zero taps
    w_aa, _ = contributions(64, 16, 0.25, True)
    assert w_aa.shape[1] == 16


# ---------------------------------------------------------------- output size


@pytest.mark.parametrize("hw,scale,out", [((64, 48), 0.25, (16, 12)), ((65, 47), 0.25, (17, 12)),
                                          ((10, 7), 4, (40, 28)), ((9, 9), 1 / 3, (3, 3)),
                                          ((5, 5), 0.3, (2, 2)), ((7, 9), (0.5, 2), (4, 18))])
def test_output_size_is_ceil_n_times_scale(hw, scale, out):
    x = torch.rand(*hw, dtype=torch.float64)
    assert tuple(imresize(x, scale=scale).shape) == out
    assert imresize_np(x.numpy(), scale=scale).shape == out


def test_output_size_argument_sets_scale_out_over_in():
    x = torch.rand(2, 13, 17, dtype=torch.float64)
    y = imresize(x, output_size=(5, 40))
    assert y.shape == (2, 5, 40)
    ref = imresize_np(x.numpy(), output_size=(5, 40))
    np.testing.assert_allclose(y.numpy(), ref, rtol=0, atol=1e-10)
    # same as passing the scales out/in
    torch.testing.assert_close(y, imresize(x, scale=(5 / 13, 40 / 17)), rtol=0, atol=1e-14)


# ---------------------------------------------------------------- exact small examples


def test_upscale_x2_of_a_step_by_hand():
    # [0, 1] -> 4 pixels. Pixel 1: u = 0.75, taps j = -1..2 with |u-j| = 1.75, 0.75, 0.25, 1.25 ->
    # weights -3/128, 29/128, 111/128, -9/128 on mirrored pixels 2, 1, 1, 2 -> y1 = (-3 - 9)/128 = -3/32.
    # Pixel 2: u = 1.25, |u-j| = 1.25, 0.25, 0.75, 1.75 on pixels 1, 1, 2, 2 -> y2 = (29 - 3)/128 = 13/64.
    # Reversal symmetry (resize([1, 0]) = 1 - resize([0, 1])) gives y3 = 1 - y2, y4 = 1 - y1.
    assert keys_cubic(1.75) == -3 / 128 and keys_cubic(0.75) == 29 / 128
    assert keys_cubic(0.25) == 111 / 128 and keys_cubic(1.25) == -9 / 128
    expected = [Fraction(-3, 32), Fraction(13, 64), Fraction(51, 64), Fraction(35, 32)]
    x = torch.tensor([[0.0, 1.0]], dtype=torch.float64)
    got = imresize(x, scale=(1, 2))
    assert got.tolist() == [[float(f) for f in expected]]  # exact: all are dyadic rationals
    np.testing.assert_array_equal(imresize_np(x.numpy(), scale=(1, 2)), got.numpy())


def test_downscale_x2_with_antialiasing_by_hand():
    # [a, b, c, d] -> 2 pixels. Pixel 1: u = 1.5, h(t) = c(t/2)/2, width 8, taps j = -2..5 at
    # |u - j| = 3.5, 2.5, 1.5, 0.5, 0.5, 1.5, 2.5, 3.5 -> h = -3/256, -9/256, 29/256, 111/256 (mirrored),
    # summing to 1, on pixels 3, 2, 1, 1, 2, 3, 4, 4 (j = -2 -> 3, -1 -> 2, 0 -> 1, 5 -> 4).
    # So y1 = a * 140/256 + b * 102/256 + c * 26/256 + d * (-12/256).
    x = torch.tensor([[0.0, 0.0, 0.0, 1.0]], dtype=torch.float64)
    got = imresize(x, scale=(1, 0.5))
    assert got.tolist() == [[-12 / 256, 140 / 256]]  # pixel 2 = pixel 1 of the reversed signal
    x = torch.tensor([[1.0, 2.0, 3.0, 4.0]], dtype=torch.float64)
    y1 = (140 * 1 + 102 * 2 + 26 * 3 - 12 * 4) / 256
    assert got.new_tensor([[y1, 5 - y1]]).tolist() == imresize(x, scale=(1, 0.5)).tolist()
    np.testing.assert_allclose(imresize_np(x.numpy(), scale=(1, 0.5)), [[y1, 5 - y1]], rtol=0, atol=1e-15)


# ---------------------------------------------------------------- properties


@pytest.mark.parametrize("scale", [0.25, 0.5, 1 / 3, 0.7, 1.0, 2.0, 4.0, (0.25, 3.0)])
def test_torch_equals_numpy_reference_float64(scale):
    g = torch.Generator().manual_seed(0)
    x = torch.rand(2, 3, 23, 30, dtype=torch.float64, generator=g)
    ref = imresize_np(x.numpy(), scale=scale)
    got = imresize(x, scale=scale)
    assert got.dtype == torch.float64
    np.testing.assert_allclose(got.numpy(), ref, rtol=0, atol=1e-10)


def test_identity_at_scale_one_and_constants_stay_constant():
    x = torch.rand(3, 11, 13, dtype=torch.float64)
    assert torch.equal(imresize(x, scale=1), x)
    assert np.array_equal(imresize_np(x.numpy(), scale=1), x.numpy())
    c = torch.full((2, 3, 17, 12), 0.3717, dtype=torch.float64)
    for s in (0.25, 0.6, 3.0):
        torch.testing.assert_close(imresize(c, scale=s), torch.full_like(imresize(c, scale=s), 0.3717),
                                   rtol=0, atol=1e-14)


def test_separable_and_linear():
    u = torch.rand(20, dtype=torch.float64)
    v = torch.rand(28, dtype=torch.float64)
    outer = imresize(u[:, None] * v[None, :], scale=0.25)
    ru = imresize(u[None, :], scale=(1, 0.25))[0]
    rv = imresize(v[None, :], scale=(1, 0.25))[0]
    torch.testing.assert_close(outer, ru[:, None] * rv[None, :], rtol=0, atol=1e-14)
    a, b = torch.rand(2, 3, 16, 16, dtype=torch.float64)
    torch.testing.assert_close(imresize(2 * a - 3 * b, scale=0.5), 2 * imresize(a, scale=0.5)
                               - 3 * imresize(b, scale=0.5), rtol=0, atol=1e-13)


def test_batched_leading_dims_and_dtype_preserved():
    x = torch.rand(2, 3, 4, 3, 16, 24)
    y = imresize(x, scale=0.25)
    assert y.shape == (2, 3, 4, 3, 4, 6) and y.dtype == torch.float32
    torch.testing.assert_close(y[1, 2, 3], imresize(x[1, 2, 3], scale=0.25))


def test_differentiable():
    x = torch.rand(1, 6, 7, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda t: imresize(t, scale=0.5), (x,))
    assert torch.autograd.gradcheck(lambda t: imresize(t, scale=2), (x,))


def _round_half_up(v):  # MATLAB's round for non-negative values, with uint8 saturation
    return np.clip(np.floor(v + 0.5), 0, 255)


def test_uint8_within_one_level_of_reference_and_of_matlab_uint8_pipeline():
    g = np.random.default_rng(0)
    # a smooth image with texture, like a real frame, in 0..255
    yy, xx = np.mgrid[0:96, 0:128]
    img = 127.5 + 80 * np.sin(xx / 7.0) * np.cos(yy / 5.0) + g.normal(0, 25, size=(3, 96, 128))
    img = np.clip(np.round(img), 0, 255)
    ref = imresize_np(img / 255.0, scale=0.25)  # float64 reference
    ref8 = _round_half_up(ref * 255)
    # 1) torch in float32 (the kit's working precision) then 8-bit rounding: within +-1 of the reference
    got8 = _round_half_up(imresize(torch.from_numpy(img / 255.0).float(), scale=0.25).double().numpy() * 255)
    diff = np.abs(got8 - ref8)
    assert diff.max() <= 1 and (diff > 0).mean() < 0.01
    # 2) MATLAB on uint8 input rounds to uint8 after each 1-D pass (H first, then W); the float pipeline
    #    differs from that by at most one level
    h_pass = _round_half_up(resize_along_axis_np(img, 1, 24, 0.25))
    matlab8 = _round_half_up(resize_along_axis_np(h_pass, 2, 32, 0.25))
    assert np.abs(matlab8 - ref8).max() <= 1


# ---------------------------------------------------------------- BI degradation


def test_bi_degrade_and_bicubic_upsample():
    hr = torch.rand(2, 3, 32, 48)
    lr = bi_degrade(hr)
    assert lr.shape == (2, 3, 8, 12)
    torch.testing.assert_close(lr, imresize(hr, scale=0.25), rtol=0, atol=0)
    up = bicubic_upsample(lr)
    assert up.shape == hr.shape
    torch.testing.assert_close(up, imresize(lr, scale=4), rtol=0, atol=0)
    assert bi_degrade(hr, scale=2).shape == (2, 3, 16, 24)
    assert bi_degrade(torch.rand(3, 30, 33), scale=3).shape == (3, 10, 11)
    # a smooth image survives down + up well (a sanity check of the pair, not a tolerance on MATLAB)
    yy, xx = torch.meshgrid(torch.arange(64.0), torch.arange(64.0), indexing="ij")
    smooth = (0.5 + 0.4 * torch.sin(xx / 9) * torch.cos(yy / 11))[None]
    err = (bicubic_upsample(bi_degrade(smooth)) - smooth)[..., 8:-8, 8:-8].abs().max()
    assert err < 0.01


def test_quantize_uint8_and_mod_crop():
    x = torch.tensor([[-0.2, 0.0, 0.5, 1.0 / 255 * 3.4, 1.3]])
    assert (quantize_uint8(x) * 255).tolist() == [[0.0, 0.0, 128.0, 3.0, 255.0]]
    assert mod_crop(torch.rand(3, 33, 18), 4).shape == (3, 32, 16)


# ---------------------------------------------------------------- bad input


@pytest.mark.parametrize("kwargs,match", [
    (dict(scale=0), "positive finite"), (dict(scale=-2), "positive finite"),
    (dict(scale=float("nan")), "positive finite"), (dict(scale=math.inf), "positive finite"),
    (dict(scale="x"), "positive finite"), (dict(scale=True), "positive finite"),
    (dict(scale=(1, 2, 3)), "pair"), (dict(), "exactly one"), (dict(scale=2, output_size=(4, 4)), "exactly one"),
    (dict(output_size=(0, 4)), "positive integers"), (dict(output_size=(2.5, 4)), "positive integers"),
])
def test_imresize_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        imresize(torch.rand(3, 8, 8), **kwargs)


def test_imresize_bad_inputs():
    with pytest.raises(TypeError, match="torch.Tensor"):
        imresize(np.zeros((8, 8)), scale=2)
    with pytest.raises(TypeError, match="floating"):
        imresize(torch.zeros(8, 8, dtype=torch.uint8), scale=2)
    with pytest.raises(ValueError, match="at least 2 dims"):
        imresize(torch.zeros(8), scale=2)
    with pytest.raises(ValueError, match="empty spatial size"):
        imresize(torch.zeros(3, 0, 8), scale=2)


def test_bi_degrade_bad_inputs():
    with pytest.raises(ValueError, match="not divisible by the scale 4.*mod_crop"):
        bi_degrade(torch.rand(3, 30, 32))
    with pytest.raises(ValueError, match="positive integer"):
        bi_degrade(torch.rand(3, 32, 32), scale=2.5)
    with pytest.raises(ValueError, match="positive integer"):
        bicubic_upsample(torch.rand(3, 8, 8), scale=0)
