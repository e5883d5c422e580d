"""kit.trajectory: the recorded chain is the sampler's own run, and its scores carry bicubic as the reference."""

import torch

from seeclear_lite.diffusion import BlurringResShift
from seeclear_lite.kit.trajectory import chain_scores, record_chain, trajectory_figure
from seeclear_lite.metrics import psnr


def _net(x_t, y, t):          # a stand-in denoiser: halfway between the state and the LR frames
    return 0.5 * (x_t + y)


def test_record_chain_is_the_samplers_run_and_scores_name_bicubic():
    d = BlurringResShift(T=4, kappa=2.0, power=0.3, patch_size=4, sigma_b2_max=2.0, min_noise_level=0.2)
    g = torch.Generator().manual_seed(0)
    y = torch.rand(1, 2, 3, 16, 16, generator=g) * 2 - 1
    gt = torch.rand(1, 2, 3, 16, 16, generator=g)
    chain = record_chain(d, _net, y, generator=torch.Generator().manual_seed(3))
    out = d.sample(_net, y, generator=torch.Generator().manual_seed(3))
    assert chain.steps == [4, 3, 2, 1] and torch.equal(chain.output, out.float())
    scores = chain_scores(chain, gt, y=y)
    want = psnr(((y + 1) / 2).clamp(0, 1).mul(255).round().div(255), gt).mean().item()
    assert abs(scores["psnr_bicubic"] - want) < 1e-9 and scores["lpips_bicubic"] is None
    assert len(scores["psnr_prediction"]) == 4
    fig = trajectory_figure(chain, y, gt, scores=scores)
    labels = [ax.get_ylabel() for ax in fig.axes if ax.get_ylabel()]
    assert labels == ["PSNR of x̂0 (dB, higher is better)"]          # x_t's PSNR is not on x̂0's axis
