"""kit.trajectory: the recorded chain is the sampler's own run, scored per step (bicubic as the reference), and drawn."""

import matplotlib

matplotlib.use("Agg")

import torch  # noqa: E402

from seeclear_lite.diffusion import BlurringResShift  # noqa: E402
from seeclear_lite.kit.trajectory import chain_scores, record_chain, trajectory_figure  # noqa: E402
from seeclear_lite.metrics import psnr  # noqa: E402


def _problem():
    g = torch.Generator().manual_seed(0)
    gt = torch.rand(1, 2, 3, 16, 16, generator=g)
    y = (gt * 2 - 1) + 0.1 * torch.randn(gt.shape, generator=g)
    return BlurringResShift(T=6), gt, y


def test_record_chain_is_the_sampler_bit_for_bit_and_keeps_every_step():
    d, gt, y = _problem()
    net = lambda x_t, y_, t: (0.5 * x_t + 0.5 * (gt * 2 - 1)).clamp(-1.5, 1.5)   # noqa: E731
    chain = record_chain(d, net, y, generator=torch.Generator().manual_seed(3))
    want = d.sample(net, y, generator=torch.Generator().manual_seed(3))
    assert torch.equal(chain.output, want.float())
    assert chain.steps == [6, 5, 4, 3, 2, 1]
    assert torch.equal(chain.predictions[1], chain.output)        # the output is the last prediction
    assert all(p.abs().max() <= 1 for p in chain.predictions.values())   # predictions are clamped


def test_chain_scores_follow_the_chain_and_catch_a_bad_prediction():
    d, gt, y = _problem()
    oracle = lambda x_t, y_, t: gt * 2 - 1                                        # noqa: E731
    chain = record_chain(d, oracle, y, generator=torch.Generator().manual_seed(1))
    scores = chain_scores(chain, gt)
    assert scores["steps"] == chain.steps and len(scores["psnr_state"]) == 6
    assert min(scores["psnr_prediction"]) > 45                  # the oracle's x0_hat is x0 up to 8-bit rounding
    assert scores["psnr_state"][-1] > scores["psnr_state"][0]   # x_1 is much closer to x0 than x_T
    bad = record_chain(d, lambda x_t, y_, t: -(gt * 2 - 1), y, generator=torch.Generator().manual_seed(1))
    assert max(chain_scores(bad, gt)["psnr_prediction"]) < 20


def test_trajectory_figure_draws_states_predictions_and_scores():
    d, gt, y = _problem()
    chain = record_chain(d, lambda x_t, y_, t: gt * 2 - 1, y, generator=torch.Generator().manual_seed(1))
    fig = trajectory_figure(chain, y, gt, frame=1, scores=chain_scores(chain, gt), title="test")
    n_images = sum(1 for ax in fig.axes if ax.images)
    assert n_images == 2 * (6 + 2)                               # six steps + y + GT, two rows
    assert any(ax.lines for ax in fig.axes)


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
