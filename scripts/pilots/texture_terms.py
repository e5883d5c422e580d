"""Pilot of issue 26 (not part of the package): the sampler loss plus a *texture* term on the chain's last call.

The shipped fine-tune trains that call with Charbonnier + LPIPS-VGG (``optim.perceptual_t=sampler``). LPIPS rewards
detail only where it matches the ground truth; these terms reward a *distribution* of texture instead:

``gram``  L1 between the Gram matrices of the output's and the truth's VGG16 taps relu1_2..relu3_3 (the kit's LPIPS
          backbone, unit-normalised features), per frame: the texture loss of EnhanceNet (Sajjadi et al., ICCV 2017).
``adv``   a hinge GAN: a small spectral-norm patch discriminator, updated on every call on the detached output
          (Adam 1e-4, betas 0.5/0.99), the generator term ``-D(output)`` after ``ADV_WARM`` discriminator-only calls
          (ESRGAN / Real-ESRGAN add theirs beside L1 and a perceptual loss the same way).

It runs the kit's ``train`` with the engine's :class:`PerceptualLoss` swapped for :class:`TextureLoss`; the
discriminator is not checkpointed (a pilot runs once). Measured (README, "The reverse chain on the
perception-distortion plane"): neither term widened the chain's lead over its own first step.

usage: python scripts/pilots/texture_terms.py {gram|adv} WEIGHT train --config small --init ... (train's arguments)
"""

from __future__ import annotations

import sys

import torch
import torch.nn as nn
import torch.nn.functional as F

from seeclear_lite.training import engine
from seeclear_lite.training.losses import PerceptualLoss

TERMS = ("gram", "adv")
ADV_WARM = 40


def gram(f: torch.Tensor) -> torch.Tensor:
    """Gram matrix ``[B, C, C]`` of features ``[B, C, H, W]``, averaged over positions."""
    b, c, h, w = f.shape
    f = f.reshape(b, c, h * w)
    return f @ f.transpose(1, 2) / (h * w)


class PatchDiscriminator(nn.Module):
    """Five spectral-norm convolutions, two of stride 2: one logit per 4x4 patch of a frame in [-1, 1]."""

    def __init__(self, ch: int = 32):
        super().__init__()
        sn = nn.utils.spectral_norm
        self.net = nn.Sequential(
            sn(nn.Conv2d(3, ch, 3, 1, 1)), nn.LeakyReLU(0.2),
            sn(nn.Conv2d(ch, 2 * ch, 4, 2, 1)), nn.LeakyReLU(0.2),
            sn(nn.Conv2d(2 * ch, 4 * ch, 4, 2, 1)), nn.LeakyReLU(0.2),
            sn(nn.Conv2d(4 * ch, 4 * ch, 3, 1, 1)), nn.LeakyReLU(0.2),
            sn(nn.Conv2d(4 * ch, 1, 3, 1, 1)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


def make_texture_loss(term: str, weight: float, warm: int = ADV_WARM) -> type:
    """A :class:`PerceptualLoss` whose sampler-output call (``on_sampler=True``) adds ``weight`` x the texture term."""
    if term not in TERMS:
        raise ValueError(f"texture term must be one of {TERMS}, got {term!r}.")

    class TextureLoss(PerceptualLoss):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            self.calls = 0
            if term == "adv":
                torch.manual_seed(1234)                  # the discriminator's initialisation, as the measured run drew it
                self.disc = PatchDiscriminator()
                self.disc_opt = torch.optim.Adam(self.disc.parameters(), lr=1e-4, betas=(0.5, 0.99))

        def texture(self, fake: torch.Tensor, real: torch.Tensor) -> torch.Tensor | None:
            """The term for frames ``[n, 3, H, W]`` in [-1, 1] (None while the discriminator warms up)."""
            if term == "gram":
                fa = self.lpips.features((fake + 1) / 2)[:3]
                with torch.no_grad():
                    fb = self.lpips.features((real + 1) / 2)[:3]
                return sum((gram(a) - gram(b)).abs().mean() for a, b in zip(fa, fb))
            with torch.enable_grad():                    # the discriminator's own step, on the detached output
                self.disc_opt.zero_grad(set_to_none=True)
                d_loss = F.relu(1 - self.disc(real)).mean() + F.relu(1 + self.disc(fake.detach())).mean()
                d_loss.backward()
                self.disc_opt.step()
            if self.calls <= warm:
                return None
            self.disc.requires_grad_(False)              # the generator's term reaches the generator only
            g_loss = -self.disc(fake).mean()
            self.disc.requires_grad_(True)
            return g_loss

        def __call__(self, x0_hat, x0, t, diffusion, on_sampler=False):
            base = super().__call__(x0_hat, x0, t, diffusion, on_sampler)
            if not on_sampler:
                return base
            self.calls += 1
            extra = self.texture(x0_hat.float().reshape(-1, *x0_hat.shape[-3:]), x0.float().reshape(-1, *x0.shape[-3:]))
            return base if extra is None else base + weight * extra

    return TextureLoss


def main(argv: list[str]) -> int:
    if len(argv) < 3 or argv[0] not in TERMS:
        print(__doc__.strip().splitlines()[-1], file=sys.stderr)
        return 2
    engine.PerceptualLoss = make_texture_loss(argv[0], float(argv[1]))
    from seeclear_lite.__main__ import main as kit_main
    return kit_main(argv[2:])


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
