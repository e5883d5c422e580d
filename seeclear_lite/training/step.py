"""One training step of SeeClear with Blurring ResShift (Sec. 4.1) and the paper's optimiser and schedule:
Adam with beta = (0.5, 0.999), cosine annealing. t is drawn uniformly in 1..T (ResShift does the same; the
paper does not say); the loss is :func:`~seeclear_lite.training.losses.diffusion_loss`, the engine's too.
"""

from __future__ import annotations

import math

import torch

from ..utils.ranges import to_diffusion_range
from .losses import CHARBONNIER_EPS, diffusion_loss

#: Adam betas of the paper (Sec. 4.1).
PAPER_BETAS = (0.5, 0.999)


def make_optimizer(params, lr: float = 2e-4, betas: tuple = PAPER_BETAS, weight_decay: float = 0.0
                   ) -> torch.optim.Adam:
    """Adam with the paper's betas (0.5, 0.999). ``params``: a module or an iterable of parameters/groups."""
    if isinstance(params, torch.nn.Module):
        params = [p for p in params.parameters() if p.requires_grad]
    return torch.optim.Adam(params, lr=lr, betas=tuple(betas), weight_decay=weight_decay)


def cosine_lr_factor(step: int, total_steps: int, warmup_steps: int = 0, min_factor: float = 0.0) -> float:
    """Linear warm-up from 1/warmup to 1 over ``warmup_steps``, then cosine annealing to ``min_factor``
    at ``total_steps`` (and ``min_factor`` after it)."""
    if step < warmup_steps:
        return (step + 1) / warmup_steps
    span = max(1, total_steps - warmup_steps)
    progress = min(1.0, (step - warmup_steps) / span)
    return min_factor + (1.0 - min_factor) * 0.5 * (1.0 + math.cos(math.pi * progress))


def make_scheduler(optimizer: torch.optim.Optimizer, total_steps: int, warmup_steps: int = 0,
                   min_factor: float = 0.0) -> torch.optim.lr_scheduler.LambdaLR:
    """Cosine annealing with linear warm-up (:func:`cosine_lr_factor`); call ``scheduler.step()`` once per step."""
    if total_steps < 1 or warmup_steps < 0 or warmup_steps > total_steps:
        raise ValueError(f"need total_steps >= 1 and 0 <= warmup_steps <= total_steps, got "
                         f"total_steps={total_steps}, warmup_steps={warmup_steps}.")
    return torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda s: cosine_lr_factor(s, total_steps, warmup_steps, min_factor))


def sample_timesteps(batch: int, T: int, generator: torch.Generator | None = None,
                     device: torch.device | str | None = None) -> torch.Tensor:
    """``LongTensor[batch]`` drawn uniformly from 1..T (1-based, as in the paper)."""
    gen_device = generator.device if generator is not None else device
    t = torch.randint(1, T + 1, (batch,), generator=generator, device=gen_device)
    return t.to(device) if device is not None else t


def prepare_batch(batch: dict, diffusion, device: torch.device | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """``{"gt": HR [0,1], "lr": LR [0,1]}`` (optionally ``"y"``: upsampled LR already in [-1, 1])
    -> ``(x0, y)`` in the diffusion range [-1, 1], on ``device``."""
    if not isinstance(batch, dict) or "gt" not in batch or ("lr" not in batch and "y" not in batch):
        raise ValueError("batch must be a dict with 'gt' (HR frames in [0, 1]) and 'lr' (LR frames in [0, 1]) "
                         "or 'y' (upsampled LR frames in [-1, 1]), e.g. from seeclear_lite.data datasets.")
    x0 = to_diffusion_range(batch["gt"].to(device))
    if "y" in batch:
        y = batch["y"].to(device)
    else:
        y = diffusion.upsample_lr(to_diffusion_range(batch["lr"].to(device)))
    if y.shape != x0.shape:
        raise ValueError(f"upsampled LR {tuple(y.shape)} does not match the HR frames {tuple(x0.shape)}; "
                         f"check the scale factor of the data and of the diffusion.")
    return x0, y


def train_step(model: torch.nn.Module, diffusion, batch: dict, optimizer: torch.optim.Optimizer,
               scheduler=None, *, generator: torch.Generator | None = None, grad_clip: float | None = None,
               eps: float = CHARBONNIER_EPS) -> dict:
    """One optimisation step of a :class:`~seeclear_lite.models.SeeClear` on a batch of clips (``{"gt", "lr"}``
    in [0, 1], ``[B, N, 3, H, W]``); returns ``{"loss": float, "lr": float, "t": LongTensor[B]}``. ``generator``
    (on the batch's device) draws t and the noise reproducibly."""
    device = next(model.parameters()).device
    model.train()
    x0, y = prepare_batch(batch, diffusion, device)
    t = sample_timesteps(x0.shape[0], diffusion.T, generator=generator, device=device)
    noise = torch.randn(x0.shape, generator=generator, device=device, dtype=x0.dtype)
    lr = batch.get("lr")
    cond = model.condition(None if lr is None else lr.to(device), y)        # once per clip
    loss = diffusion_loss(model, diffusion, x0, y, t, noise, cond, eps=eps)
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    if grad_clip is not None:
        torch.nn.utils.clip_grad_norm_(model.parameters(), grad_clip)
    optimizer.step()
    lr = optimizer.param_groups[0]["lr"]
    if scheduler is not None:
        scheduler.step()
    return {"loss": float(loss.detach()), "lr": lr, "t": t.detach().cpu()}
