"""The reverse step as one call (``BlurringResShift.step``): re-spaced chains are exact Gaussian conditioning of
the multi-step forward transition, the default chain is unchanged, and the video sampler built on it gives the
frames the loop inside ``BlurringResShift.sample`` gave before (bit for bit)."""

import sys
from pathlib import Path

import pytest
import torch

from seeclear_lite.diffusion import BlurringResShift
from seeclear_lite.training.sampling import checkpoint_super_resolver, sample_clip

ROOT = Path(__file__).resolve().parents[1]


def frames(shape, seed, dtype=torch.float64):
    return torch.rand(*shape, generator=torch.Generator().manual_seed(seed), dtype=dtype) * 2 - 1


def test_timesteps_are_respaced_from_T_to_1():
    d = BlurringResShift(T=15)
    assert d.timesteps() == list(range(15, 0, -1))
    assert d.timesteps(1) == [15] and d.timesteps(2) == [15, 1]
    for k in range(2, 16):
        ts = d.timesteps(k)
        assert len(ts) == k and ts[0] == 15 and ts[-1] == 1 and all(a > b for a, b in zip(ts, ts[1:]))
    assert d.timesteps(4) == [15, 10, 6, 1]
    for bad in (0, 16, 2.0, True):
        with pytest.raises(ValueError, match="steps must be an int in 1..T"):
            d.timesteps(bad)


@pytest.mark.parametrize("form", ["consistent", "repaired"])
def test_a_jump_from_t_to_s_is_exact_conditioning_of_the_multi_step_transition(form):
    """Per frequency, u_s and u_t are jointly Gaussian given u_0, u_l. Propagate the one-step transitions of the
    form (consistent: u_k = u_{k-1} + m_k - m_{k-1} + kappa sqrt(alpha_k) eps; repaired: u_k = lambda_k (u_{k-1} -
    eta_{k-1} u_l) + eta_k u_l + kappa sqrt(beta_k) eps) from s to t in float64 and condition exactly: mean and
    variance of q(u_s | u_t, u_0, u_l) must equal posterior(..., s=s) to 1e-12."""
    d = BlurringResShift(T=9, kappa=1.5, sigma_b2_max=2.0, patch_size=4)
    u0, ul, ut = frames((1, 3, 8, 8), 0), frames((1, 3, 8, 8), 1), frames((1, 3, 8, 8), 2)
    for t, s in ((9, 1), (9, 5), (7, 2), (4, 3)):
        # the mean of u_t is affine in u_s: a u_s + b; noise variance accumulated from s to t: v
        a = torch.ones(8, 8, dtype=torch.float64)
        b = torch.zeros(1, 3, 8, 8, dtype=torch.float64)
        v = torch.zeros(8, 8, dtype=torch.float64)
        for k in range(s + 1, t + 1):
            if form == "consistent":
                ak, bk = torch.ones(8, 8, dtype=torch.float64), d.marginal_mean(u0, ul, k) - d.marginal_mean(u0, ul, k - 1)
                vk = d.kappa ** 2 * float(d.alpha[k]) * torch.ones(8, 8, dtype=torch.float64)
            else:
                lam = (1 - d.eta[k]) / (1 - d.eta[k - 1]) * torch.exp(d.lam_map(8, 8) * (d.tau[k] - d.tau[k - 1]))
                ak, bk = lam, -lam * d.eta[k - 1] * ul + d.eta[k] * ul
                vk = d.kappa ** 2 * (d.eta[k] - lam ** 2 * d.eta[k - 1])
            a, b, v = ak * a, ak * b + bk, ak ** 2 * v + vk
        m_s, var_s = d.marginal_mean(u0, ul, s), d.kappa ** 2 * float(d.eta[s])
        gain = var_s * a / (a ** 2 * var_s + v)                   # Cov(u_s, u_t) / Var(u_t)
        want_mean = m_s + gain * (ut - (a * m_s + b))
        want_var = var_s - gain * a * var_s
        mean, var = d.posterior(ut, u0, ul, t, form=form, s=s)
        assert (mean - want_mean).abs().max() < 1e-12
        assert (var.expand_as(mean) - want_var.expand_as(mean)).abs().max() < 1e-12


@pytest.mark.parametrize("form", ["consistent", "paper", "repaired"])
def test_step_to_t_minus_1_is_the_posterior_sample_and_s_0_returns_u0(form):
    d = BlurringResShift(T=6)
    u0, ul, ut = frames((2, 3, 8, 8), 3), frames((2, 3, 8, 8), 4), frames((2, 3, 8, 8), 5)
    noise = frames((2, 3, 8, 8), 6)
    mean, var = d.posterior(ut, u0, ul, 5, form=form)
    assert torch.equal(d.step(ut, u0, ul, 5, form=form, noise=noise), mean + var.sqrt() * noise)
    assert torch.equal(d.step(ut, u0, ul, 5, 4, form=form, noise=noise), mean + var.sqrt() * noise)
    assert d.step(ut, u0, ul, 1, form=form) is u0 and d.step(ut, u0, ul, 4, 0, form=form) is u0
    with pytest.raises(ValueError, match="earlier step"):
        d.step(ut, u0, ul, 3, 3, form=form)


def test_sample_with_all_steps_is_the_default_chain_and_a_started_chain_uses_its_start():
    d = BlurringResShift(T=5)
    y, x0 = frames((1, 3, 8, 8), 7), frames((1, 3, 8, 8), 8)
    net = lambda x_t, y_, t: (x_t * 0.3 + x0 * 0.7).clamp(-1, 1)  # noqa: E731
    a = d.sample(net, y, generator=torch.Generator().manual_seed(1))
    b = d.sample(net, y, generator=torch.Generator().manual_seed(1), steps=5)
    c = d.sample(net, y, generator=torch.Generator().manual_seed(1), steps=[5, 4, 3, 2, 1])
    assert torch.equal(a, b) and torch.equal(a, c)
    seen = []
    d.sample(lambda x_t, y_, t: seen.append(int(t[0])) or x0, y, steps=3)
    assert seen == [5, 3, 1]
    start = frames((1, 3, 8, 8), 9)
    got = []
    d.sample(lambda x_t, y_, t: got.append(x_t.clone()) or x0, y, steps=[2, 1], x_start=start)
    assert torch.allclose(got[0], start, atol=1e-12)
    with pytest.raises(ValueError, match="starts at t = T"):
        d.sample(net, y, steps=[3, 1])
    with pytest.raises(ValueError, match="strictly descending"):
        d.sample(net, y, steps=[5, 5, 1])


ASSET = ROOT / "tests" / "assets" / "sampler_before_step.pt"
SHIPPED = ROOT / "data" / "checkpoints" / "small.pt"


def sampler_frames(lr: torch.Tensor) -> dict:
    """The shipped model's frames for ``lr`` (two clips, memory carried, the second reflect-padded), seed 5, all
    three forms, all T = 15 steps and fresh noise per frame: what the asset pins."""
    return {form: checkpoint_super_resolver(SHIPPED, device="cpu", form=form, seed=5, steps=15, noise="fresh")(lr)
            for form in ("consistent", "paper", "repaired")}


def test_the_video_sampler_through_step_gives_the_frames_of_the_loop_before_it():
    """The asset was first written by the code before step() existed (commit 72e1823: the reverse loop inside
    BlurringResShift.sample, called by sample_clip) with the weights shipped then, and the code built on step()
    gave the same frames bit for bit (commit d79a03b). When the shipped weights changed (2026-12-07, the
    sampler-loss fine-tune, and again for its 1-call fine-tune), that same code, unchanged, wrote it again for the
    new weights (`python tests/test_diffusion_step.py --write-asset`): the pin guards the sampler against any later
    change."""
    from seeclear_lite.utils.io import sha256_file

    ref = torch.load(ASSET, weights_only=True)
    assert ref["weights_sha256"] == sha256_file(SHIPPED), (
        f"{ASSET.name} pins the frames of other weights than {SHIPPED.name}: if only the weights changed (the "
        f"sampler did not), write it again with `python tests/test_diffusion_step.py --write-asset`")
    for form, sr in sampler_frames(ref["lr"]).items():
        assert torch.equal(sr, ref[form]), form


def test_a_one_step_clip_is_the_first_estimate_and_fewer_steps_mean_fewer_calls():
    f = checkpoint_super_resolver(ROOT / "data" / "checkpoints" / "small.pt", device="cpu")
    model, d = f.sampler.model, f.sampler.diffusion
    lr = torch.rand(1, 5, 3, 8, 8, generator=torch.Generator().manual_seed(0))
    calls = []
    one, _ = sample_clip(model, d, lr, generator=torch.Generator().manual_seed(0), steps=1,
                         callback=lambda t, x_t, x0: calls.append(t))
    assert calls == [d.T]
    calls.clear()
    sample_clip(model, d, lr, generator=torch.Generator().manual_seed(0), steps=4, callback=lambda t, x_t, x0: calls.append(t))
    assert calls == d.timesteps(4)


if __name__ == "__main__" and sys.argv[1:] == ["--write-asset"]:
    from seeclear_lite.utils.io import atomic_torch_save, sha256_file

    lr = torch.load(ASSET, weights_only=True)["lr"]           # the same 7 LR frames as ever
    atomic_torch_save({"lr": lr.clone(), **sampler_frames(lr), "weights_sha256": sha256_file(SHIPPED)}, ASSET)
    print(f"wrote {ASSET} for {SHIPPED} ({sha256_file(SHIPPED)[:12]})")
