"""Temporal consistency metrics: tMAE of frame differences and TecoGAN's tLP."""

import pytest
import torch

from seeclear_lite.metrics import LPIPS, temporal_error, temporal_lpips


def _clip(seed=0, shape=(2, 5, 3, 32, 32)):
    g = torch.Generator().manual_seed(seed)
    return torch.rand(shape, generator=g, dtype=torch.float64) * 0.8 + 0.1


def test_temporal_error_hand_values():
    gt = _clip()
    assert (temporal_error(gt, gt) == 0).all()
    # a time-invariant error (colour shift) is temporally consistent: 0
    assert temporal_error(gt + 0.05, gt).abs().max() < 1e-15
    # flicker: +c on even frames, -c on odd frames -> every difference is off by 2c
    c = 0.03
    sign = torch.tensor([1.0, -1, 1, -1, 1], dtype=torch.float64).view(5, 1, 1, 1)
    torch.testing.assert_close(temporal_error(gt + c * sign, gt), torch.full((2,), 2 * c, dtype=torch.float64),
                               rtol=0, atol=1e-14)
    # one frame off by d (a single bad frame) touches 2 of the 4 transitions: mean = 2 d / 4
    sr = gt.clone()
    sr[:, 2] += 0.04
    torch.testing.assert_close(temporal_error(sr, gt), torch.full((2,), 0.02, dtype=torch.float64),
                               rtol=0, atol=1e-14)
    assert temporal_error(_clip(shape=(4, 3, 16, 16)), _clip(1, shape=(4, 3, 16, 16))).shape == ()


def test_temporal_lpips_is_teco_gan_tlp():
    torch.manual_seed(0)
    module = LPIPS("alex", pretrained=False)  # the formula, independent of trained weights
    for lin in module.lins:
        lin.weight.abs_()  # trained LPIPS heads are non-negative, so distances are >= 0
    gt, sr = _clip(1, (2, 4, 3, 40, 40)).float(), _clip(2, (2, 4, 3, 40, 40)).float()
    assert (temporal_lpips(gt, gt, net=module) == 0).all()
    got = temporal_lpips(sr, gt, net=module)
    expected = torch.stack([
        torch.stack([(module(sr[n, t], sr[n, t + 1]) - module(gt[n, t], gt[n, t + 1])).abs() for t in range(3)]).mean()
        for n in range(2)]).double()
    torch.testing.assert_close(got, expected, rtol=1e-6, atol=1e-7)
    # a static SR clip against a moving GT: tLP = mean LPIPS between consecutive GT frames
    static = gt[:, :1].expand_as(gt)
    moving = torch.stack([module(gt[:, t], gt[:, t + 1]) for t in range(3)], dim=-1).mean(-1).double()
    torch.testing.assert_close(temporal_lpips(static, gt, net=module), moving, rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize("fn", [temporal_error, temporal_lpips])
def test_bad_clips(fn):
    with pytest.raises(ValueError, match="at least 2 frames"):
        fn(torch.rand(1, 3, 16, 16), torch.rand(1, 3, 16, 16))
    with pytest.raises(ValueError, match=r"clips \[..., N, C, H, W\]"):
        fn(torch.rand(3, 16, 16), torch.rand(3, 16, 16))
    with pytest.raises(ValueError, match="shape mismatch"):
        fn(torch.rand(3, 3, 16, 16), torch.rand(4, 3, 16, 16))
    bad = torch.rand(3, 3, 16, 16)
    bad[1, 0, 0, 0] = float("inf")
    with pytest.raises(ValueError, match="NaN or inf"):
        fn(bad, torch.rand(3, 3, 16, 16))


def test_temporal_lpips_needs_rgb():
    with pytest.raises(ValueError, match="3 channels"):
        temporal_lpips(torch.rand(3, 1, 16, 16), torch.rand(3, 1, 16, 16), net=LPIPS("alex", pretrained=False))
