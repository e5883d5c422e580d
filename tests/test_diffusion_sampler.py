"""Sampler (Algorithm 1, diffusion part): prior, reverse loop with a pluggable x0-model, reproducibility."""

import math

import pytest
import torch

from seeclear_lite.diffusion import BlurringResShift


def frames(shape, seed, dtype=torch.float64):
    return (torch.rand(*shape, generator=torch.Generator().manual_seed(seed), dtype=dtype) * 2 - 1)


@pytest.mark.parametrize("form", ["consistent", "paper"])
@pytest.mark.parametrize("shape", [(2, 3, 8, 8), (1, 3, 2, 4, 8)])
def test_oracle_model_gives_back_x0(form, shape):
    d = BlurringResShift()
    x0, y = frames(shape, 0), frames(shape, 1)
    seen = []

    def oracle(x_t, y_in, t):
        assert x_t.shape == y_in.shape == shape and t.dtype == torch.long and t.shape == (shape[0],)
        seen.append(int(t[0]))
        return x0

    out = d.sample(oracle, y, form=form, generator=torch.Generator().manual_seed(0))
    assert torch.equal(out, x0)
    assert seen == list(range(15, 0, -1))                    # 1-based, T..1, one call per step


def test_oracle_output_is_clamped():
    d = BlurringResShift()
    y = frames((1, 1, 4, 4), 2)
    x0 = 1.5 * frames((1, 1, 4, 4), 3)
    out = d.sample(lambda x_t, y_, t: x0, y, generator=torch.Generator().manual_seed(0))
    assert torch.equal(out, x0.clamp(-1, 1))
    raw = d.sample(lambda x_t, y_, t: x0, y, clip=False, generator=torch.Generator().manual_seed(0))
    assert torch.equal(raw, x0)


def test_first_state_is_the_prior_and_trajectory_keeps_eq29_with_the_oracle():
    """n = 4,000 chains of one 4x4 patch with the oracle x0 and form="consistent": x_T has mean y and std
    kappa sqrt(eta_T); at every t the frequency-domain mean/variance of x_t match Eq. 29 (5 standard errors)."""
    d = BlurringResShift()
    n = 4000
    x0 = frames((1, 1, 4, 4), 4).expand(n, 1, 4, 4)
    y = frames((1, 1, 4, 4), 5).expand(n, 1, 4, 4)
    states = {}
    d.sample(lambda x_t, y_, t: x0, y, form="consistent", generator=torch.Generator().manual_seed(1),
             callback=lambda t, x_t, x0_hat: states.__setitem__(t, d.to_freq(x_t)))
    u_0, u_l = d.to_freq(x0[:1]), d.to_freq(y[:1])
    for t, u in states.items():
        v = 4.0 * float(d.eta[t])
        m = d.marginal_mean(u_0, u_l, t)[0]
        assert float(((u.mean(0) - m).abs() / math.sqrt(v / n)).max()) < 5, t
        assert float((u.var(0) / v - 1).abs().max()) < 5 * math.sqrt(2 / n), t


def test_generator_makes_sampling_reproducible_and_model_sees_pixels():
    d = BlurringResShift()
    y = frames((2, 3, 8, 8), 6, torch.float32)
    model = lambda x_t, y_, t: 0.5 * (x_t + y_)              # any callable x0-model
    a = d.sample(model, y, generator=torch.Generator().manual_seed(7))
    b = d.sample(model, y, generator=torch.Generator().manual_seed(7))
    c = d.sample(model, y, generator=torch.Generator().manual_seed(8))
    assert a.dtype == torch.float32 and torch.equal(a, b) and not torch.equal(a, c)
    assert float(a.abs().max()) <= 1.0


def test_prior_is_drawn_in_the_frequency_domain_with_resshift_variance():
    d = BlurringResShift()
    y = frames((1, 3, 8, 8), 9)
    g1, g2 = torch.Generator().manual_seed(3), torch.Generator().manual_seed(3)
    u_T = d.prior_sample(y, g1)
    eps = torch.randn(y.shape, generator=g2, dtype=y.dtype)
    assert (u_T - (d.to_freq(y) + 2.0 * 0.99 * eps)).abs().max() < 1e-14


def test_progress_bar_runs():
    d = BlurringResShift(T=4, min_noise_level=0.2)
    y = frames((1, 1, 4, 4), 10)
    out = d.sample(lambda x_t, y_, t: y_, y, progress=True, generator=torch.Generator().manual_seed(0))
    assert torch.equal(out, y)


def test_sampler_bad_input():
    d = BlurringResShift()
    y = frames((1, 3, 8, 8), 11)
    with pytest.raises(ValueError, match="must return x0_hat shaped like y"):
        d.sample(lambda x_t, y_, t: x_t[..., :4, :4], y)
    with pytest.raises(ValueError, match="form must be one of"):
        d.sample(lambda x_t, y_, t: y_, y, form="ddim")
    with pytest.raises(TypeError, match="model must be a callable"):
        d.sample(None, y)
    with pytest.raises(ValueError, match="multiples of the patch size"):
        d.sample(lambda x_t, y_, t: y_, frames((1, 3, 8, 10), 12))


def test_upsample_lr_uses_the_given_upsampler():
    up = lambda lr: lr.repeat_interleave(4, -2).repeat_interleave(4, -1)
    d = BlurringResShift(upsampler=up)
    lr = frames((1, 3, 2, 2), 13)
    assert torch.equal(d.upsample_lr(lr), up(lr))
    with pytest.raises(TypeError, match="upsampler must be a callable"):
        BlurringResShift(upsampler=3)


def test_upsample_lr_defaults_to_matlab_bicubic():
    import seeclear_lite.degradation as deg

    lr = frames((1, 2, 3, 4, 4), 15)
    y = BlurringResShift().upsample_lr(lr)
    assert y.shape == (1, 2, 3, 16, 16) and torch.equal(y, deg.imresize(lr, 4))
