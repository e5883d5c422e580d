"""The issue-26 pilots kept in ``scripts/pilots`` (the README reports what they measured): the texture terms are
zero where the output is the truth and train the output alone; the split chain is the plain sampler when both
networks are one, and its first step is the first network's."""

import importlib.util
from pathlib import Path

import pytest
import torch

from seeclear_lite.diffusion import BlurringResShift
from seeclear_lite.metrics.lpips_model import LPIPS
from seeclear_lite.models import build_model
from seeclear_lite.training import losses
from seeclear_lite.training.sampling import sample_clip

PILOTS = Path(__file__).resolve().parents[1] / "scripts" / "pilots"


def load(name):
    spec = importlib.util.spec_from_file_location(f"pilot_{name}", PILOTS / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def untrained_lpips(monkeypatch):       # the terms' arithmetic needs no trained weights (and no download)
    net = LPIPS("vgg", pretrained=False)
    monkeypatch.setattr(losses, "get_lpips", lambda name, device=None: net)


def frames(seed, shape=(1, 2, 3, 32, 32)):
    return torch.rand(shape, generator=torch.Generator().manual_seed(seed)) * 2 - 1


def test_gram_is_the_mean_outer_product_over_positions():
    tex = load("texture_terms")
    f = torch.randn(2, 3, 4, 5)
    flat = f.reshape(2, 3, 20)
    expected = torch.stack([flat[i] @ flat[i].T for i in range(2)]) / 20
    torch.testing.assert_close(tex.gram(f), expected)


def test_gram_term_is_zero_on_the_truth_and_trains_the_output(untrained_lpips):
    tex = load("texture_terms")
    loss = tex.make_texture_loss("gram", 100.0)(0.3, "vgg", "sampler")
    d, x0, t = BlurringResShift(T=4), frames(0), torch.tensor([1])
    assert float(loss(x0.clone(), x0, t, d)) == 0.0                     # not the sampler's call: no term
    assert float(loss(x0.clone(), x0, t, d, on_sampler=True)) == pytest.approx(0.0, abs=1e-6)
    out = frames(1).requires_grad_(True)
    value = loss(out, x0, t, d, on_sampler=True)
    without = losses.PerceptualLoss(0.3, "vgg", "sampler")(out, x0, t, d, on_sampler=True)
    assert float(value.detach()) > float(without.detach())                # the Gram term is positive here
    value.backward()
    assert out.grad.abs().sum() > 0


def test_adversarial_term_warms_the_discriminator_then_trains_the_output_alone(untrained_lpips):
    tex = load("texture_terms")
    loss = tex.make_texture_loss("adv", 0.05, warm=1)(0.3, "vgg", "sampler")
    d, x0, t = BlurringResShift(T=4), frames(0), torch.tensor([1])
    before = [p.detach().clone() for p in loss.disc.parameters()]
    out = frames(1).requires_grad_(True)
    warm = loss(out, x0, t, d, on_sampler=True)                          # call 1: the discriminator's step only
    base = losses.PerceptualLoss(0.3, "vgg", "sampler")(out, x0, t, d, on_sampler=True)
    assert warm.item() == pytest.approx(base.item())
    assert any(not torch.equal(a, b) for a, b in zip(before, loss.disc.parameters()))
    value = loss(out, x0, t, d, on_sampler=True)                         # call 2: + 0.05 * -D(out)
    loss.disc.zero_grad(set_to_none=True)
    value.backward()
    assert out.grad.abs().sum() > 0
    assert all(p.grad is None for p in loss.disc.parameters())


def test_split_chain_is_the_sampler_when_both_networks_are_one_and_starts_with_the_first():
    split = load("split_chain")
    torch.manual_seed(0)
    a, b = build_model("tiny_full").eval(), build_model("tiny_full").eval()
    with torch.no_grad():                # zero-initialised output layers would make every network return y
        for p in [*a.parameters(), *b.parameters()]:
            p.add_(0.05 * torch.randn(p.shape))
    d = BlurringResShift(T=4)
    lr = torch.rand(1, 2, 3, 16, 16, generator=torch.Generator().manual_seed(2))

    def run(model, steps):
        return sample_clip(model, d, lr, steps=steps, generator=torch.Generator().manual_seed(5))[0]

    torch.testing.assert_close(run(split.SplitChain(a, a, 4), 2), run(a, 2), rtol=0, atol=0)
    torch.testing.assert_close(run(split.SplitChain(a, b, 4), 1), run(a, 1), rtol=0, atol=0)
    mixed = run(split.SplitChain(a, b, 4), 2)
    assert not torch.equal(mixed, run(a, 2)) and not torch.equal(mixed, run(b, 2))
