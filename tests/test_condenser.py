"""The Pixel Condenser U-Net (App. C, Algorithm 1) run by :class:`~seeclear_lite.models.SeeClear` as the baseline
(Table 2, row 1): shapes, any frame size, input scaling, configs, training step."""

import pytest
import torch

from seeclear_lite.config import ConfigError, get_config, get_model_config
from seeclear_lite.diffusion import BlurringResShift
from seeclear_lite.models import PixelCondenser, SeeClear, build_model
from seeclear_lite.training import (charbonnier_loss, cosine_lr_factor, make_optimizer, make_scheduler,
                                    sample_timesteps, train_step)

#: the baseline at micro size (2 levels, 1 middle block, 4x4 windows): frames pad to 16, not 64 (fast tests)
MICRO = dict(channels=8, head_dim=8, lr_channels=8, channel_mult=(1, 2), middle_blocks=1)


def _perturb(model, seed=0, std=0.05):
    """Give the zero-initialised output conv some weights so the network is not the identity on y."""
    g = torch.Generator().manual_seed(seed)
    conv = model.condenser.conv_out
    with torch.no_grad():
        conv.weight.copy_(torch.randn(conv.weight.shape, generator=g) * std)
    return model


@pytest.fixture(scope="module")
def tiny():
    torch.manual_seed(0)
    return _perturb(build_model("tiny")).eval()


@pytest.fixture(scope="module")
def micro():
    torch.manual_seed(0)
    return _perturb(build_model("tiny", **MICRO)).eval()


def test_the_baseline_is_the_condenser_alone(tiny, micro):
    for m in (tiny, micro):
        assert isinstance(m, SeeClear) and isinstance(m.condenser, PixelCondenser)
        assert m.incam is None and m.memory is None and m.distiller is None
    assert micro.config.levels == 2 and len(micro.condenser.middle) == 1 and micro.config.pad_multiple == 16
    assert micro.condenser.decoder_widths == (16, 8)
    assert "forward" not in vars(PixelCondenser)  # layers only: SeeClear.forward is the one path through them


def test_init_predicts_y_exactly():
    torch.manual_seed(0)
    m = build_model("tiny")
    x = torch.randn(2, 3, 32, 32)
    y = torch.rand(2, 3, 32, 32) * 2 - 1
    assert torch.equal(m(x, y, torch.tensor([1, 15])), y)  # zero output conv: x0_hat == y (bicubic)
    xc, yc = torch.randn(1, 2, 3, 20, 28), torch.rand(1, 2, 3, 20, 28) * 2 - 1
    assert torch.equal(m(xc, yc, torch.tensor([7])), yc)  # clips and a size that needs padding too


@pytest.mark.parametrize("shape", [(2, 3, 64, 64), (1, 5, 3, 64, 64), (2, 3, 37, 29), (1, 2, 3, 13, 70)])
def test_shapes_any_size(tiny, shape):
    g = torch.Generator().manual_seed(1)
    x, y = torch.randn(shape, generator=g), torch.rand(shape, generator=g) * 2 - 1
    with torch.no_grad():
        out = tiny(x, y, torch.full((shape[0],), 7))
    assert out.shape == x.shape and torch.isfinite(out).all()
    assert (out - y).abs().mean() > 1e-4  # the network does change y


def test_odd_size_equals_explicit_reflect_padding(tiny):
    g = torch.Generator().manual_seed(2)
    x, y = torch.randn(1, 3, 50, 45, generator=g), torch.rand(1, 3, 50, 45, generator=g)
    m = tiny.config.pad_multiple
    assert m == 64
    pad = lambda v: torch.nn.functional.pad(v, (0, 64 - 45, 0, 64 - 50), mode="reflect")  # noqa: E731
    with torch.no_grad():
        out = tiny(x, y, torch.tensor([4]))
        ref = tiny(pad(x), pad(y), torch.tensor([4]))[..., :50, :45]
    assert torch.allclose(out, ref, atol=1e-6)


def test_frames_are_a_batch(micro):
    g = torch.Generator().manual_seed(3)
    x, y = torch.randn(2, 3, 3, 32, 32, generator=g), torch.rand(2, 3, 3, 32, 32, generator=g)
    t = torch.tensor([2, 11])
    with torch.no_grad():
        clip = micro(x, y, t)
        for b in range(2):
            for i in range(3):
                single = micro(x[b:b + 1, i], y[b:b + 1, i], t[b:b + 1])
                assert torch.allclose(clip[b, i], single[0], atol=1e-5)


def test_t_changes_prediction_and_input_scaling_matches_diffusion(tiny):
    x = torch.randn(1, 3, 32, 32)
    with torch.no_grad():
        assert (tiny(x, x, torch.tensor([1])) - tiny(x, x, torch.tensor([15]))).abs().max() > 1e-4
    d = BlurringResShift(T=15, kappa=2.0, power=0.3)
    assert d.eta.dtype == torch.float64 and d.eta.shape == (16,)
    # the scaling lives in the diffusion: x_t / (3 kappa sqrt(eta_t) + 1), from the float64 eta table
    t = torch.arange(1, 16)
    x64 = torch.randn(15, 3, 4, 4, dtype=torch.float64)
    expected = x64 / (3 * 2.0 * d.eta[1:].sqrt() + 1)[:, None, None, None]
    scaled = d.scale_model_input(x64, t)
    assert scaled.dtype == torch.float64
    assert torch.allclose(scaled, expected, rtol=0, atol=1e-15)
    x32 = x64.float()
    assert torch.allclose(d.scale_model_input(x32, t), expected.float(), rtol=1e-6, atol=0)
    assert torch.allclose(d.scale_model_input(x32[:1], 15), x32[:1] / float(3 * 2.0 * d.eta[-1].sqrt() + 1))
    # the run's diffusion is the same one
    run = BlurringResShift.from_config(get_config("tiny").diffusion)
    assert run.T == 15 and torch.equal(run.eta, d.eta)
    assert torch.equal(run.scale_model_input(x64, t), scaled)


def test_bad_inputs(tiny):
    x = torch.zeros(1, 3, 16, 16)
    with pytest.raises(ValueError, match=r"with C = 3"):
        tiny(torch.zeros(1, 4, 16, 16), torch.zeros(1, 4, 16, 16), 1)
    with pytest.raises(TypeError, match="y must be a torch.Tensor"):
        tiny(x, x.numpy(), 1)
    with pytest.raises(ValueError, match=r"\[B, C, H, W\] frames or \[B, N, C, H, W\] clips"):
        tiny(torch.zeros(3, 16, 16), torch.zeros(3, 16, 16), 1)
    with pytest.raises(ValueError, match="must have the same shape"):
        tiny(x, torch.zeros(1, 3, 16, 8), 1)
    with pytest.raises(TypeError, match="integer diffusion steps"):
        tiny(x, x, torch.tensor([0.5]))
    with pytest.raises(ValueError, match="one step per clip"):
        tiny(x, x, torch.tensor([1, 2]))
    # t's range is the diffusion's (the network does not know T): checked where x_t is scaled
    d = BlurringResShift(T=15, kappa=2.0, power=0.3)
    with pytest.raises(ValueError, match=r"t must lie in 1..15"):
        d.scale_model_input(x, torch.tensor([0]))
    with pytest.raises(ValueError, match=r"t must lie in 1..15"):
        d.scale_model_input(x, torch.tensor([16]))
    # a condition made for other clips
    cond = tiny.condition(None, torch.zeros(1, 5, 3, 16, 16))
    with pytest.raises(ValueError, match="cond was made for clips of 5 frames"):
        tiny(x, x, 1, cond=cond)
    with pytest.raises(ValueError, match="cond was made for clips"):
        tiny(torch.zeros(1, 5, 3, 16, 32), torch.zeros(1, 5, 3, 16, 32), 1, cond=cond)
    with pytest.raises(ValueError, match=r"y must be clips \[B, N, 3, H, W\]"):
        tiny.condition(None, x)
    with pytest.raises(TypeError, match="cfg must be a ModelConfig"):
        SeeClear("tiny")
    with pytest.raises(ValueError, match="field overrides are only accepted with a configuration name"):
        build_model(get_model_config("tiny"), channels=8)


def test_non_tensor_x_t_gives_a_clear_error(tiny):
    x = torch.zeros(1, 3, 16, 16)
    with pytest.raises(TypeError, match="x_t must be a torch.Tensor"):
        tiny(x.numpy(), x, 1)


def test_config_sizes_within_bounds():
    """tiny < 1 M (the baseline); base = the full model, 6.44 M condenser + 1.05 M InCAM + 0.18 M CaTeGory
    (7,674,501, fp16 weights < 16 MiB; the README's numbers); paper = the full model within 2 % of Table 5's
    229.23 M (the paper counts InCAM and CaTeGory, not the distiller)."""
    from seeclear_lite.models.info import parameter_report

    reports = {n: parameter_report(n) for n in ("tiny", "base", "paper")}
    assert reports["tiny"]["total"] < 1_000_000
    assert reports["tiny"]["modules"] == {"condenser": reports["tiny"]["total"], "incam": 0, "category": 0}
    base = reports["base"]
    assert base["total"] == 7_674_501
    assert {k: round(v / 1e6, 2) for k, v in base["modules"].items()} == \
        {"condenser": 6.44, "incam": 1.05, "category": 0.18}
    assert base["total"] * 2 / 2 ** 20 < 16
    paper = reports["paper"]
    assert paper["modules"]["incam"] > 0 and paper["modules"]["category"] > 0
    assert abs(paper["total"] - 229.23e6) <= 0.02 * 229.23e6, paper
    for r in reports.values():
        assert sum(r["modules"].values()) == r["total"]


def _one_line_error(preset, overrides=None, match=""):
    with pytest.raises(ConfigError, match=match) as err:
        get_config(preset, overrides)
    assert "\n" not in str(err.value), str(err.value)
    return str(err.value)


def test_get_config_errors_and_overrides():
    cfg = get_config("tiny", ["model.window=8"])
    assert cfg.model.window == 8 and cfg.preset == "tiny" and cfg.model.pad_multiple == 2 ** 4 * 8
    assert get_model_config("tiny", window=8) == cfg.model
    assert get_config("tiny", {"model.window": 8}).model == cfg.model
    assert issubclass(ConfigError, ValueError)
    _one_line_error("huge", match="Unknown configuration 'huge'")
    _one_line_error("tiny", ["model.widht=3"], match=r"Unknown key 'model\.widht'")
    with pytest.raises(ConfigError, match=r"Unknown key 'model\.widht'"):
        get_model_config("tiny", widht=3)
    msg = _one_line_error("tiny", ["model.channels=abc"], match=r"model\.channels")
    assert "abc" in msg or "int" in msg.lower()
    _one_line_error("tiny", {"model.channels": 10, "model.head_dim": 3}, match=r"not divisible by its \d+ heads")


def test_charbonnier_and_lr_schedule():
    a, b = torch.zeros(4), torch.tensor([0.0, 1.0, -2.0, 1e-3])
    expected = torch.sqrt((a - b) ** 2 + 1e-6).mean()
    assert torch.allclose(charbonnier_loss(a, b), expected)
    assert abs(charbonnier_loss(a, a).item() - 1e-3) < 1e-9  # sqrt(eps^2) = eps
    with pytest.raises(ValueError, match="differ"):
        charbonnier_loss(a, b[:2])
    f = [cosine_lr_factor(s, 10, warmup_steps=2) for s in range(12)]
    assert f[0] == 0.5 and f[1] == 1.0 and f[2] == 1.0 and abs(f[10]) < 1e-12 and f[11] == f[10]
    assert all(x >= y for x, y in zip(f[2:], f[3:]))  # cosine decays monotonically after warm-up
    t = sample_timesteps(10_000, 15, generator=torch.Generator().manual_seed(0))
    assert t.min() == 1 and t.max() == 15 and abs(t.float().mean().item() - 8.0) < 0.15


def test_train_step_lowers_the_loss_on_a_fixed_batch():
    torch.manual_seed(0)
    model = build_model("tiny", **MICRO)
    diffusion = BlurringResShift.from_config(get_config("tiny").diffusion)
    g = torch.Generator().manual_seed(0)
    gt = torch.rand(2, 2, 3, 32, 32, generator=g)
    lr = torch.nn.functional.avg_pool2d(gt.flatten(0, 1), 4).reshape(2, 2, 3, 8, 8)
    batch = {"gt": gt, "lr": lr}
    opt = make_optimizer(model, lr=2e-3)
    assert opt.param_groups[0]["betas"] == (0.5, 0.999)
    sched = make_scheduler(opt, total_steps=8, warmup_steps=1)
    losses = [train_step(model, diffusion, batch, opt, sched, generator=torch.Generator().manual_seed(1))["loss"]
              for _ in range(8)]  # same t and noise every step: a plain optimisation problem
    assert losses[-1] < 0.97 * losses[0], losses  # measured: 0.484 -> 0.465 in 8 steps
    assert opt.param_groups[0]["lr"] == pytest.approx(0.0, abs=1e-12)  # cosine annealed to 0
    with pytest.raises(ValueError, match="'gt'"):
        train_step(model, diffusion, {"hr": gt}, opt)
