"""Training loss of SeeClear (Sec. 4.1): the Charbonnier loss between predicted and ground-truth HR frames.

The paper writes ``L = sqrt(||I^HR - I^SR||^2 + eps^2)`` without giving eps. We use the per-pixel form of
the VSR literature (BasicSR's ``CharbonnierLoss``): ``mean(sqrt((x0_hat - x0)^2 + eps^2))`` with
``eps = 1e-3`` on the diffusion range [-1, 1] (i.e. 5e-4 on the [0, 1] image range): an L1 loss whose
corner at 0 is rounded off over |error| < ~eps, so the gradient stays smooth.

Beside it the kit can add a perceptual term (``optim.perceptual_weight > 0``; the paper's loss has none):
LPIPS between x0_hat and x0, the kit's own frozen LPIPS network (AlexNet by default, so that the LPIPS-VGG
the kit reports is not the quantity trained). ResShift's bicubic x4 model adds LPIPS to its loss the same way
(``configs/bicx4_swinunet_lpips.yaml``). With ``optim.perceptual_t = "signal"`` its weight at step t is scaled
by the signal left in x_t, 1 - eta_t: near 1 at t = 1, where the chain's output is made, and near 0 at t = T,
where the network's x0 estimate should stay the MMSE-like first step; ``"last"`` puts it on t = 1 alone, the step
that makes the chain's output (the perception-distortion trade-off,
Blau & Michaeli 2018: perceptual pressure belongs where the output is drawn, not where it is estimated).

The sampler loss (``optim.sampler_loss > 0``, the kit's, not the paper's): the loss above draws x_t from the
forward process of the *true* frames, but the sampler's last call sees x_t built from its own, blurrier, first
estimate (exposure bias; notebook 04 measures the gap). :func:`sampler_loss` runs the default chain
(``diffusion.steps`` calls on the re-spaced schedule) without gradients up to its last call, then trains that call
on its own input with the Charbonnier (plus LPIPS with ``perceptual_t = "sampler"``): the output the user gets is
the one trained.
"""

from __future__ import annotations

import torch

from ..metrics import get_lpips

#: Charbonnier epsilon on the diffusion range [-1, 1].
CHARBONNIER_EPS = 1e-3


def charbonnier_loss(pred: torch.Tensor, target: torch.Tensor, eps: float = CHARBONNIER_EPS,
                     reduction: str = "mean") -> torch.Tensor:
    """``mean(sqrt((pred - target)^2 + eps^2))`` (``reduction``: "mean", "sum" or "none")."""
    if pred.shape != target.shape:
        raise ValueError(f"charbonnier_loss: pred {tuple(pred.shape)} and target {tuple(target.shape)} differ.")
    if eps <= 0:
        raise ValueError(f"eps must be positive, got {eps}.")
    loss = torch.sqrt((pred - target).square() + eps * eps)
    if reduction == "mean":
        return loss.mean()
    if reduction == "sum":
        return loss.sum()
    if reduction == "none":
        return loss
    raise ValueError(f"reduction must be 'mean', 'sum' or 'none', got {reduction!r}.")


class PerceptualLoss:
    """``weight * w(t) * LPIPS(x0_hat, x0)``, averaged over frames and clips, with ``w(t)`` = 1 (``per_t="all"``),
    1 - eta_t (``"signal"``) or 1 at t = 1 and 0 elsewhere (``"last"``: only the step that makes the chain's
    output). Frames in the diffusion range [-1, 1]; ``t`` LongTensor[B]. Clips whose weight is 0 skip the LPIPS
    network (``"last"`` runs it on about 1/T of the clips)."""

    def __init__(self, weight: float, net: str = "alex", per_t: str = "all", device=None):
        self.weight, self.per_t = float(weight), per_t
        self.lpips = get_lpips(net, device)

    def t_weight(self, t: torch.Tensor, diffusion) -> torch.Tensor:
        """w(t) per clip, float32 on t's device."""
        if self.per_t == "sampler":      # the diffusion loss gets none; sampler_loss calls with on_sampler=True
            return torch.zeros(t.shape, device=t.device)
        if self.per_t == "signal":
            return (1 - diffusion.eta.to(t.device)[t]).float()
        if self.per_t == "last":
            return (t == 1).float()
        return torch.ones(t.shape, device=t.device)

    def __call__(self, x0_hat: torch.Tensor, x0: torch.Tensor, t: torch.Tensor, diffusion,
                 on_sampler: bool = False) -> torch.Tensor:
        w = torch.ones(t.shape, device=t.device) if on_sampler else self.t_weight(t, diffusion)
        keep = (w > 0).nonzero().flatten()
        if keep.numel() == 0:
            return x0_hat.new_zeros((), dtype=torch.float32)
        d = self.lpips((x0_hat[keep].float() + 1) / 2, (x0[keep].float() + 1) / 2)   # [b] or [b, N]
        d = d.reshape(d.shape[0], -1).mean(dim=1)                                    # per clip
        return self.weight * (d * w[keep].to(d.dtype)).sum() / t.shape[0]


def diffusion_loss(model, diffusion, x0: torch.Tensor, y: torch.Tensor, t: torch.Tensor, noise: torch.Tensor,
                   cond=None, eps: float = CHARBONNIER_EPS, return_features: bool = False,
                   perceptual: PerceptualLoss | None = None):
    """The training loss of one batch of clips (Sec. 4.1): ``x_t = q_sample(x0, y, t, noise)`` (Eq. 25),
    ``x0_hat = model(scale_model_input(x_t, t), y, t, cond)``, Charbonnier between x0_hat and x0 (plus the
    kit's optional :class:`PerceptualLoss`).

    ``x0``, ``y`` ``[B, N, 3, H, W]`` (or ``[B, 3, H, W]``) in [-1, 1]; ``t`` LongTensor[B] in 1..T. Returns the
    loss, and the decoder features with ``return_features`` (to update the CaTeGory memory across clips)."""
    x_t = diffusion.q_sample(x0, y, t, noise=noise).to(x0.dtype)
    out = model(diffusion.scale_model_input(x_t, t), y, t, cond, return_features=return_features)
    x0_hat, feats = out if return_features else (out, None)
    loss = charbonnier_loss(x0_hat.float(), x0.float(), eps=eps)
    if perceptual is not None:
        loss = loss + perceptual(x0_hat, x0, t, diffusion)
    return (loss, feats) if return_features else loss


@torch.no_grad()
def chain_input(model, diffusion, y: torch.Tensor, cond, steps, form: str = "consistent",
                generator: torch.Generator | None = None) -> tuple[torch.Tensor, int]:
    """(x at the last call of the chain of ``steps`` calls, that call's t): the chain from the prior (Eq. 6) through
    all calls but the last (Algorithm 1's loop, x0_hat clamped as the sampler clamps), without gradients."""
    ts = diffusion.chain_steps(steps)
    u_l = diffusion.to_freq(y)
    u = diffusion.prior_sample(y, generator)
    t_batch = torch.empty(y.shape[0], dtype=torch.long, device=y.device)
    for t, s in zip(ts[:-1], ts[1:]):
        x_t = diffusion.from_freq(u)
        x0_hat = model(diffusion.scale_model_input(x_t, t), y, t_batch.fill_(t), cond).to(y.dtype).clamp(-1.0, 1.0)
        u = diffusion.step(u, diffusion.to_freq(x0_hat), u_l, t, s, form, generator)
    return diffusion.from_freq(u), ts[-1]


def sampler_loss(model, diffusion, x0: torch.Tensor, y: torch.Tensor, cond, steps, *, form: str = "consistent",
                 generator: torch.Generator | None = None, eps: float = CHARBONNIER_EPS,
                 perceptual: PerceptualLoss | None = None) -> torch.Tensor:
    """The loss of the chain's output: the last call of the ``steps``-call chain, fed the input the chain itself
    made (:func:`chain_input`), against the true frames: Charbonnier, plus LPIPS when ``perceptual`` is given with
    ``per_t = "sampler"``. Gradients reach that last call only. With ``steps = 1`` it is the loss at t = T."""
    x_last, t_last = chain_input(model, diffusion, y, cond, steps, form, generator)
    t = torch.full((y.shape[0],), t_last, dtype=torch.long, device=y.device)
    x0_hat = model(diffusion.scale_model_input(x_last.to(x0.dtype), t_last), y, t, cond)
    loss = charbonnier_loss(x0_hat.float(), x0.float(), eps=eps)
    if perceptual is not None and perceptual.per_t == "sampler":
        loss = loss + perceptual(x0_hat, x0, t, diffusion, on_sampler=True)
    return loss
