"""The sampler loss (``optim.sampler_loss``, issue 26): the chain's last call is trained on the input the chain
itself makes. Its input is exactly the sampler's state before that call (same draws, same clamp); gradients
reach that call only; with one step it is the loss at t = T from the prior; training with it is a pure function
of (seed, step), so resume stays exact."""

import pytest
import torch

from training_helpers import micro_config

from seeclear_lite.diffusion import BlurringResShift
from seeclear_lite.training import Trainer
from seeclear_lite.training.losses import PerceptualLoss, chain_input, charbonnier_loss, sampler_loss


class Toy(torch.nn.Module):
    """x0_hat = a * x_in + b * y (+ a bias that can push it outside [-1, 1], so the clamp matters)."""

    def __init__(self):
        super().__init__()
        self.a, self.b = torch.nn.Parameter(torch.tensor(0.6)), torch.nn.Parameter(torch.tensor(0.9))
        self.calls_with_grad = 0

    def forward(self, x_in, y, t, cond=None):
        self.calls_with_grad += torch.is_grad_enabled()
        return self.a * x_in + self.b * y + 0.3 + 0.01 * t.view(-1, *([1] * (y.dim() - 1)))


@pytest.fixture
def setup():
    d = BlurringResShift(T=6, min_noise_level=0.2, kappa=1.0)
    g = torch.Generator().manual_seed(0)
    x0 = torch.rand(2, 3, 3, 32, 32, generator=g) * 2 - 1           # 32 px: the smallest AlexNet's LPIPS takes
    y = (x0 + 0.3 * torch.randn(x0.shape, generator=g)).clamp(-1, 1)
    return d, x0, y


@pytest.mark.parametrize("steps", [2, 3, 6])
def test_chain_input_is_the_samplers_state_before_its_last_call(setup, steps):
    d, _, y = setup
    toy = Toy()
    seen = {}

    def net(x_t, yy, t):
        return toy(d.scale_model_input(x_t, int(t[0])), yy, t)

    d.sample(net, y, generator=torch.Generator().manual_seed(5), steps=steps,
             callback=lambda t, x_t, x0_hat: seen.update({t: x_t}))
    x_last, t_last = chain_input(toy, d, y, None, steps, generator=torch.Generator().manual_seed(5))
    assert t_last == 1 == min(seen)
    torch.testing.assert_close(x_last, seen[1], rtol=0, atol=1e-6)


def test_gradients_reach_the_last_call_only_and_one_step_is_the_loss_at_T(setup):
    d, x0, y = setup
    toy = Toy()
    loss = sampler_loss(toy, d, x0, y, None, 3, generator=torch.Generator().manual_seed(1))
    assert toy.calls_with_grad == 1                      # the two earlier calls ran without gradients
    loss.backward()
    assert toy.a.grad.abs() > 0 and toy.b.grad.abs() > 0

    one = sampler_loss(toy, d, x0, y, None, 1, generator=torch.Generator().manual_seed(1))
    x_T = d.from_freq(d.prior_sample(y, torch.Generator().manual_seed(1)))
    t = torch.full((2,), d.T)
    want = charbonnier_loss(toy(d.scale_model_input(x_T, d.T), y, t), x0)
    assert one.item() == pytest.approx(want.item(), rel=1e-6)
    # a better last call lowers it: the loss measures the chain's output against the true frames
    assert float(sampler_loss(lambda *a: x0, d, x0, y, None, 3, generator=torch.Generator().manual_seed(1))) < 2e-3


def test_lpips_is_added_on_the_samplers_output_only_with_per_t_sampler(setup):
    d, x0, y = setup
    g = lambda: torch.Generator().manual_seed(2)                                      # noqa: E731
    plain = sampler_loss(Toy(), d, x0, y, None, 2, generator=g())
    lp = PerceptualLoss(1.0, "alex", "sampler")
    with_lp = sampler_loss(Toy(), d, x0, y, None, 2, generator=g(), perceptual=lp)
    assert with_lp.item() > plain.item() + 1e-3
    # "sampler" gives the ordinary diffusion loss no LPIPS; "last" leaves the sampler loss without it
    assert float(lp(x0 * 0.5, x0, torch.tensor([1, 1]), d)) == 0.0
    assert float(sampler_loss(Toy(), d, x0, y, None, 2, generator=g(),
                              perceptual=PerceptualLoss(1.0, "alex", "last")).item()) == pytest.approx(plain.item())


def test_training_with_the_sampler_loss_is_a_function_of_seed_and_step(tmp_path):
    extra = ["optim.sampler_loss=1.0", "diffusion.steps=2", "stages.0.steps=2", "data.batch_size=2"]
    runs = []
    for name in ("a", "b"):
        tr = Trainer(micro_config(*extra), tmp_path / name, device=torch.device("cpu"), log=lambda *a: None)
        tr.fit()
        runs.append(tr.model.state_dict())
    assert all(torch.equal(runs[0][k], runs[1][k]) for k in runs[0])
    plain = Trainer(micro_config("diffusion.steps=2", "stages.0.steps=2", "data.batch_size=2"), tmp_path / "c",
                    device=torch.device("cpu"), log=lambda *a: None)
    plain.fit()
    assert any(not torch.equal(runs[0][k], plain.model.state_dict()[k]) for k in runs[0])   # the loss did act
