"""Haar DWT/IDWT (Eq. 7) against PyWavelets, exact reconstruction, autograd, padding."""

import numpy as np
import pytest
import pywt
import torch

from seeclear_lite.wavelet import BANDS, crop_to, dwt2, idwt2, pad_to_multiple, split_bands, wavedec2, waverec2

TOL = 1e-12  # float64


def _pywt_bands(img: np.ndarray, mode: str) -> np.ndarray:
    """pywt.dwt2 on the last two axes, stacked band-major like the kit: [4C, h, w]."""
    ca, (ch, cv, cd) = pywt.dwt2(img, "haar", mode=mode, axes=(-2, -1))
    return np.concatenate([ca, ch, cv, cd], axis=-3)


@pytest.mark.parametrize("shape", [(1, 1, 2, 2), (2, 3, 8, 6), (1, 3, 16, 32), (3, 5, 2, 3, 10, 4)])
@pytest.mark.parametrize("mode", ["periodization", "symmetric"])
def test_dwt2_equals_pywt_one_level(shape, mode):
    rng = np.random.default_rng(0)
    x = rng.standard_normal(shape)
    ours = dwt2(torch.from_numpy(x)).numpy()
    ref = _pywt_bands(x, mode)
    assert ours.shape == ref.shape
    np.testing.assert_allclose(ours, ref, rtol=0, atol=TOL)
    # and the inverse equals pywt.idwt2
    c = x.shape[-3]
    y = torch.from_numpy(ref)
    ll, lh, hl, hh = (ref[..., i * c:(i + 1) * c, :, :] for i in range(4))
    ref_inv = pywt.idwt2((ll, (lh, hl, hh)), "haar", mode=mode, axes=(-2, -1))
    np.testing.assert_allclose(idwt2(y).numpy(), ref_inv, rtol=0, atol=TOL)


def test_band_order_and_scaling_on_one_block():
    # [[a, b], [c, d]] = [[1, 2], [3, 5]]
    x = torch.tensor([[[[1.0, 2.0], [3.0, 5.0]]]], dtype=torch.float64)
    y = dwt2(x).flatten().tolist()
    assert BANDS == ("LL", "LH", "HL", "HH")
    assert y == [5.5, -2.5, -1.5, 0.5]  # (a+b+c+d)/2, (a+b-c-d)/2, (a-b+c-d)/2, (a-b-c+d)/2


@pytest.mark.parametrize("levels", [2, 3])
def test_multilevel_packet_equals_recursive_pywt(levels):
    rng = np.random.default_rng(1)
    x = rng.standard_normal((2, 3, 32, 24))
    ref = x
    for _ in range(levels):
        ref = _pywt_bands(ref, "periodization")
    ours = dwt2(torch.from_numpy(x), levels=levels)
    assert ours.shape == (2, 3 * 4 ** levels, 32 // 2 ** levels, 24 // 2 ** levels)
    np.testing.assert_allclose(ours.numpy(), ref, rtol=0, atol=TOL)
    np.testing.assert_allclose(idwt2(ours, levels=levels).numpy(), x, rtol=0, atol=TOL)


@pytest.mark.parametrize("levels", [1, 2, 3])
def test_wavedec2_equals_pywt_wavedec2(levels):
    rng = np.random.default_rng(2)
    x = rng.standard_normal((2, 16, 40))
    ref = pywt.wavedec2(x, "haar", mode="periodization", level=levels, axes=(-2, -1))
    ours = wavedec2(torch.from_numpy(x).unsqueeze(1), levels=levels)  # add a channel dim
    assert len(ours) == len(ref) == levels + 1
    np.testing.assert_allclose(ours[0].squeeze(1).numpy(), ref[0], rtol=0, atol=TOL)
    for o, r in zip(ours[1:], ref[1:]):
        for ob, rb in zip(o, r):
            np.testing.assert_allclose(ob.squeeze(1).numpy(), rb, rtol=0, atol=TOL)
    np.testing.assert_allclose(waverec2(ours).squeeze(1).numpy(), x, rtol=0, atol=TOL)


def test_perfect_reconstruction_and_energy_float32():
    x = torch.randn(4, 3, 64, 48, generator=torch.Generator().manual_seed(0))
    y = dwt2(x, levels=2)
    assert torch.allclose(idwt2(y, levels=2), x, atol=1e-5)
    # orthonormal: energy preserved (Parseval)
    assert abs(y.pow(2).sum().item() / x.pow(2).sum().item() - 1) < 1e-6


def test_split_bands():
    x = torch.randn(2, 3, 8, 8)
    ll, highs = split_bands(dwt2(x))
    assert ll.shape == (2, 3, 4, 4) and highs.shape == (2, 9, 4, 4)
    # LL is twice the 2x2 mean (orthonormal scaling)
    assert torch.allclose(ll, 2 * torch.nn.functional.avg_pool2d(x, 2), atol=1e-6)


def test_gradcheck():
    x = torch.randn(1, 2, 4, 6, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda v: dwt2(v, levels=1), (x,))
    y = torch.randn(1, 8, 2, 2, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda v: idwt2(v, levels=1), (y,))


def test_bad_input_errors():
    with pytest.raises(ValueError, match="even height and width"):
        dwt2(torch.zeros(1, 1, 5, 4))
    with pytest.raises(ValueError, match="divisible by 4"):
        idwt2(torch.zeros(1, 3, 4, 4))
    with pytest.raises(ValueError, match="at least 3 dims"):
        dwt2(torch.zeros(4, 4))
    with pytest.raises(TypeError, match="torch.Tensor"):
        dwt2(np.zeros((1, 4, 4)))
    with pytest.raises(ValueError, match="non-negative int"):
        dwt2(torch.zeros(1, 4, 4), levels=-1)


@pytest.mark.parametrize("size,multiple", [((37, 29), 16), ((5, 3), 64), ((1, 1), 8), ((32, 32), 32)])
def test_pad_to_multiple_reflect_and_crop(size, multiple):
    x = torch.arange(size[0] * size[1], dtype=torch.float64).reshape(1, 1, 1, *size).expand(1, 2, 3, *size)
    p, orig = pad_to_multiple(x, multiple)
    assert p.shape[-2] % multiple == 0 and p.shape[-1] % multiple == 0
    assert p.shape[:-2] == x.shape[:-2]
    assert torch.equal(crop_to(p, orig), x)
    if size[0] > 1 and p.shape[-2] > size[0]:
        # reflect (not replicate): the first padded row mirrors the row before the last one
        assert torch.equal(p[..., size[0], : size[1]], x[..., size[0] - 2, :])
