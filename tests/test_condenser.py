"""The Pixel Condenser U-Net (App. C, Algorithm 1): shapes, any frame size, hooks, configs, training step."""

import dataclasses

import pytest
import torch
from torch import nn

from seeclear_lite.models import (PLUGINS, Conditioning, IdentityHook, PixelCondenser, build_model, get_config,
                                  resshift_sqrt_eta)
from seeclear_lite.models import build as build_mod
from seeclear_lite.training import (charbonnier_loss, cosine_lr_factor, make_optimizer, make_scheduler,
                                    sample_timesteps, train_step)


def _perturb(model, seed=0, std=0.05):
    """Give the zero-initialised output conv some weights so the network is not the identity on y."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        model.conv_out.weight.copy_(torch.randn(model.conv_out.weight.shape, generator=g) * std)
    return model


@pytest.fixture(scope="module")
def tiny():
    torch.manual_seed(0)
    return _perturb(PixelCondenser("tiny")).eval()


#: the tiny architecture (4 levels, 3 middle blocks) with 2x2 windows: frames pad to 32, not 64 (fast tests)
MICRO = get_config("tiny", channels=8, head_dim=8, lr_channels=8, window=2)


@pytest.fixture(scope="module")
def micro():
    torch.manual_seed(0)
    return _perturb(PixelCondenser(MICRO)).eval()


def test_init_predicts_y_exactly():
    torch.manual_seed(0)
    m = PixelCondenser("tiny")
    x = torch.randn(2, 3, 32, 32)
    y = torch.rand(2, 3, 32, 32) * 2 - 1
    assert torch.equal(m(x, y, torch.tensor([1, 15])), y)  # zero output conv: x0_hat == y (bicubic)


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
    tiny = micro
    g = torch.Generator().manual_seed(3)
    x, y = torch.randn(2, 3, 3, 32, 32, generator=g), torch.rand(2, 3, 3, 32, 32, generator=g)
    t = torch.tensor([2, 11])
    with torch.no_grad():
        clip = tiny(x, y, t)
        for b in range(2):
            for i in range(3):
                single = tiny(x[b:b + 1, i], y[b:b + 1, i], t[b:b + 1])
                assert torch.allclose(clip[b, i], single[0], atol=1e-5)


def test_t_changes_prediction_and_input_scaling_matches_diffusion(tiny):
    x = torch.randn(1, 3, 32, 32)
    with torch.no_grad():
        assert (tiny(x, x, torch.tensor([1])) - tiny(x, x, torch.tensor([15]))).abs().max() > 1e-4
    from seeclear_lite.diffusion import BlurringResShift

    d = BlurringResShift(T=15, kappa=2.0, power=0.3)
    assert torch.allclose(resshift_sqrt_eta(15, 2.0, 0.3) ** 2, d.eta, rtol=0, atol=1e-15)
    expected = (3 * 2.0 * d.eta.sqrt() + 1).float()
    assert torch.allclose(tiny.input_scale, expected)


def test_bad_inputs(tiny):
    x = torch.zeros(1, 3, 16, 16)
    with pytest.raises(ValueError, match="expects in_channels=3"):
        tiny(torch.zeros(1, 4, 16, 16), torch.zeros(1, 4, 16, 16), 1)
    with pytest.raises(TypeError, match="must be a torch.Tensor"):
        tiny(x.numpy(), x, 1)
    with pytest.raises(ValueError, match=r"\[B, C, H, W\] frames or \[B, N, C, H, W\] clips"):
        tiny(torch.zeros(3, 16, 16), torch.zeros(3, 16, 16), 1)
    with pytest.raises(ValueError, match="must have the same shape"):
        tiny(x, torch.zeros(1, 3, 16, 8), 1)
    with pytest.raises(ValueError, match=r"t must be in 1..15"):
        tiny(x, x, torch.tensor([0]))
    with pytest.raises(TypeError, match="integer diffusion steps"):
        tiny(x, x, torch.tensor([0.5]))
    with pytest.raises(ValueError, match="one step per clip"):
        tiny(x, x, torch.tensor([1, 2]))
    with pytest.raises(ValueError, match="n_frames"):
        tiny(x, x, 1, cond=Conditioning(n_frames=5))


class _Recorder(nn.Module):
    """An identity hook that records what it sees."""

    def __init__(self, log, name, channels):
        super().__init__()
        self.log, self.name, self.channels = log, name, channels

    def forward(self, f, cond):
        assert isinstance(cond, Conditioning) and f.shape[1] == self.channels
        self.log.append((self.name, tuple(f.shape), cond.n_frames))
        return f


def test_identity_hooks_are_the_baseline_and_hooks_are_in_the_path(micro):
    tiny = micro
    hooks = [*tiny.middle_hooks, *tiny.decoder_hooks, *tiny.memory_hooks]
    assert len(hooks) == 3 + 4 + 4 and all(isinstance(h, IdentityHook) for h in hooks)  # the default
    f = torch.randn(2, 3, 4, 4)
    assert IdentityHook()(f, Conditioning()) is f
    log = []
    rec = lambda kind: (lambda i, c: _Recorder(log, f"{kind}{i}", c))  # noqa: E731
    hooked = PixelCondenser(tiny.config, middle_hook_factory=rec("mid"), decoder_hook_factory=rec("dec"),
                            memory_hook_factory=rec("mem")).eval()
    hooked.load_state_dict(tiny.state_dict())  # hooks add no parameters
    g = torch.Generator().manual_seed(4)
    x, y = torch.randn(1, 2, 3, 32, 32, generator=g), torch.rand(1, 2, 3, 32, 32, generator=g)
    cond = Conditioning(n_frames=2, decoder_feats=["stale"])
    with torch.no_grad():
        assert torch.equal(hooked(x, y, torch.tensor([5]), cond=cond), tiny(x, y, torch.tensor([5])))
    names = [n for n, _, _ in log]
    assert names == ["mid0", "mid1", "mid2", "dec0", "mem0", "dec1", "mem1", "dec2", "mem2", "dec3", "mem3"]
    widths = tiny.config.widths
    assert [s[1] for n, s, _ in log if n.startswith("dec")] == list(reversed(widths))
    assert all(s[0] == 2 and nf == 2 for _, s, nf in log)  # B*N maps, n_frames passed on
    # the condenser cleared the stale list and appended one map per decoder level, deepest first
    assert [f.shape[1] for f in cond.decoder_feats] == list(reversed(widths))

    class AddOne(nn.Module):
        def forward(self, f, cond):
            return f + 1.0

    changed = PixelCondenser(tiny.config, decoder_hook_factory=lambda i, c: AddOne()).eval()
    changed.load_state_dict(tiny.state_dict())
    with torch.no_grad():
        assert (changed(x, y, torch.tensor([5])) - tiny(x, y, torch.tensor([5]))).abs().max() > 1e-4


def test_clip_token_builder_called_once_per_forward(micro):
    tiny = micro
    calls = []

    class Builder(nn.Module):
        def forward(self, cond):
            calls.append(cond.n_frames)
            return torch.zeros(1, 4, 8)

    m = PixelCondenser(tiny.config, clip_token_builder=Builder())
    cond = Conditioning(n_frames=3)
    with torch.no_grad():
        m(torch.zeros(1, 3, 3, 16, 16), torch.zeros(1, 3, 3, 16, 16), 3, cond=cond)
    assert calls == [3] and cond.clip_tokens.shape == (1, 4, 8)


def test_config_sizes_within_bounds():
    """tiny < 1 M (the baseline); base = the full model <= ~8 M (fp16 weights <= 16 MiB); paper = the full
    model within +-10 % of Table 5's 229.23 M (the paper counts InCAM and CaTeGory, not the distiller)."""
    from seeclear_lite.models.info import parameter_report

    reports = {n: parameter_report(n) for n in ("tiny", "base", "paper")}
    assert reports["tiny"]["total"] < 1_000_000
    assert reports["tiny"]["modules"] == {"condenser": reports["tiny"]["total"], "incam": 0, "category": 0}
    base = reports["base"]
    assert base["modules"]["incam"] > 0 and base["modules"]["category"] > 0
    assert base["total"] <= 8_000_000 and base["total"] * 2 / 2 ** 20 < 16
    paper = reports["paper"]
    assert paper["modules"]["incam"] > 0 and paper["modules"]["category"] > 0
    assert abs(paper["total"] - 229.23e6) <= 0.1 * 229.23e6, paper
    assert sum(paper["modules"].values()) == paper["total"]


def test_get_config_errors_and_overrides():
    cfg = get_config("tiny", window=8)
    assert cfg.window == 8 and cfg.name == "tiny" and cfg.pad_multiple == 2 ** 4 * 8
    with pytest.raises(ValueError, match="Unknown configuration 'huge'"):
        get_config("huge")
    with pytest.raises(ValueError, match=r"Unknown ModelConfig field\(s\) \['widht'\]"):
        get_config("tiny", widht=3)
    with pytest.raises(ValueError, match="not divisible by its head count"):
        get_config("tiny", channels=10, head_dim=3)
    with pytest.raises(dataclasses.FrozenInstanceError):
        cfg.window = 2


def test_build_model_plugins(monkeypatch):
    class MemHook(nn.Module):
        def __init__(self, c):
            super().__init__()
            self.scale = nn.Parameter(torch.zeros(c))

        def forward(self, f, cond):
            return f * (1 + self.scale[None, :, None, None])

    monkeypatch.setitem(PLUGINS, "category", lambda cfg: {"memory_hook_factory": lambda i, c: MemHook(c),
                                                          "extras": {"category": nn.Linear(2, 3)}})
    cfg = get_config("tiny", category=True)
    m = build_model(cfg)
    counts = m.parameter_counts()
    assert counts["category"] == sum(cfg.widths) + 9
    assert counts["condenser"] == PixelCondenser("tiny").parameter_counts()["condenser"]
    # a switch whose plugin package is missing gives a clear error
    monkeypatch.delitem(PLUGINS, "incam", raising=False)
    monkeypatch.setitem(build_mod.PLUGIN_MODULES, "incam", "seeclear_lite._no_such_module")
    with pytest.raises(ValueError, match="switches on 'incam'"):
        build_model(get_config("tiny", incam=True))


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
    from seeclear_lite.diffusion import BlurringResShift

    torch.manual_seed(0)
    model = PixelCondenser(MICRO)
    diffusion = BlurringResShift(T=15, kappa=2.0, power=0.3)
    g = torch.Generator().manual_seed(0)
    gt = torch.rand(2, 2, 3, 32, 32, generator=g)
    y = torch.nn.functional.interpolate(torch.nn.functional.avg_pool2d(gt.flatten(0, 1) * 2 - 1, 4),
                                        scale_factor=4, mode="nearest").reshape(gt.shape)
    batch = {"gt": gt, "y": y}
    opt = make_optimizer(model, lr=2e-3)
    assert opt.param_groups[0]["betas"] == (0.5, 0.999)
    sched = make_scheduler(opt, total_steps=8, warmup_steps=1)
    losses = [train_step(model, diffusion, batch, opt, sched, generator=torch.Generator().manual_seed(1))["loss"]
              for _ in range(8)]  # same t and noise every step: a plain optimisation problem
    assert losses[-1] < 0.97 * losses[0], losses  # measured: 0.480 -> ~0.46 in 8 steps
    assert opt.param_groups[0]["lr"] == pytest.approx(0.0, abs=1e-12)  # cosine annealed to 0
    with pytest.raises(ValueError, match="'gt'"):
        train_step(model, diffusion, {"hr": gt}, opt)
