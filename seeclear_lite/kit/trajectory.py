"""The reverse chain step by step, for the notebooks: record every state x_t and prediction x̂0 of one
``BlurringResShift.sample`` run, score them against the ground truth, and draw them.

``record_chain`` runs the sampler itself (same generator, same draws), so its final output is bit for bit what
``sample`` returns; ``chain_scores`` gives PSNR (8-bit, RGB) and, optionally, LPIPS per step; ``trajectory_figure``
shows one frame's x_t and x̂0 at chosen steps beside y and x0 with the per-step scores.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch

from ..data.io import quantize
from ..metrics import psnr
from ..utils.ranges import to_image_range

__all__ = ["Chain", "record_chain", "chain_scores", "trajectory_figure"]


@dataclass
class Chain:
    """One reverse chain: ``states[t]`` = x_t and ``predictions[t]`` = x̂0 (the network's output at step t, clamped),
    both on the CPU in the diffusion range [-1, 1]; ``output`` = what ``sample`` returned (x̂0 at t = 1)."""

    states: dict = field(default_factory=dict)
    predictions: dict = field(default_factory=dict)
    output: torch.Tensor | None = None

    @property
    def steps(self) -> list[int]:
        """T .. 1, the order the chain visits them."""
        return sorted(self.states, reverse=True)


@torch.no_grad()
def record_chain(diffusion, net, y: torch.Tensor, *, form: str = "consistent", generator=None) -> Chain:
    """Run ``diffusion.sample(net, y, form, generator)`` and keep every x_t and x̂0 (moved to the CPU)."""
    chain = Chain()

    def keep(t, x_t, x0_hat):
        chain.states[int(t)] = x_t.detach().float().cpu()
        chain.predictions[int(t)] = x0_hat.detach().float().cpu()

    chain.output = diffusion.sample(net, y, form=form, generator=generator, callback=keep).float().cpu()
    return chain


def _to_uint8_range(x: torch.Tensor) -> torch.Tensor:
    """[-1, 1] -> [0, 1], clamped and rounded to 8 bits (how every frame of the kit is scored)."""
    return quantize(to_image_range(x).clamp(0, 1))


@torch.no_grad()
def chain_scores(chain: Chain, gt: torch.Tensor, lpips=None, y: torch.Tensor | None = None) -> dict:
    """Per step t: mean PSNR (dB, RGB, 8-bit) of x_t and of x̂0 against ``gt`` (frames in [0, 1], shaped like the
    chain's tensors), and the LPIPS of x̂0 when an ``lpips`` metric (``seeclear_lite.metrics.get_lpips``) is given;
    with ``y`` (the bicubic upsampling, [-1, 1]) bicubic's PSNR and LPIPS as the reference.
    Returns {"steps": [T..1], "psnr_state": [...], "psnr_prediction": [...], "lpips_prediction": [...] or None,
    "psnr_bicubic", "lpips_bicubic" (None without ``y`` / ``lpips``)}."""
    gt = gt.float().cpu()
    out = {"steps": chain.steps, "psnr_state": [], "psnr_prediction": [], "lpips_prediction": None,
           "psnr_bicubic": None, "lpips_bicubic": None}
    if y is not None:
        out["psnr_bicubic"] = psnr(_to_uint8_range(y.float().cpu()), gt).mean().item()
    for t in chain.steps:
        out["psnr_state"].append(psnr(_to_uint8_range(chain.states[t]), gt).mean().item())
        out["psnr_prediction"].append(psnr(_to_uint8_range(chain.predictions[t]), gt).mean().item())
    if lpips is not None:
        device = next(lpips.parameters()).device
        frames = lambda x: x.reshape(-1, *x.shape[-3:]).to(device)                      # noqa: E731
        f_gt = lpips.features(frames(gt))                                               # once, shared by every step
        out["lpips_prediction"] = [lpips.distance(lpips.features(frames(_to_uint8_range(chain.predictions[t]))),
                                                  f_gt).mean().item() for t in chain.steps]
        if y is not None:
            out["lpips_bicubic"] = lpips.distance(lpips.features(frames(_to_uint8_range(y.float().cpu()))),
                                                  f_gt).mean().item()
    return out


def _frame(x: torch.Tensor, frame: int) -> np.ndarray:
    """One frame of a [B, N, 3, H, W] or [B, 3, H, W] tensor as an H x W x 3 image in [0, 1]."""
    x = x[0, frame] if x.dim() == 5 else x[frame]
    return to_image_range(x).clamp(0, 1).permute(1, 2, 0).numpy()


def trajectory_figure(chain: Chain, y: torch.Tensor, gt: torch.Tensor, *, steps=None, frame: int = 0,
                      scores: dict | None = None, title: str = ""):
    """Two rows of one frame, x_t (what the network sees) and x̂0 (what it predicts) at ``steps`` (default: six
    steps from T to 1), then y (bicubic) and the ground truth; with ``scores`` (from :func:`chain_scores`) a
    third panel row plots PSNR (and LPIPS) per step. ``y`` in [-1, 1], ``gt`` in [0, 1]."""
    import matplotlib.pyplot as plt

    all_steps = chain.steps
    if steps is None:
        idx = np.unique(np.linspace(0, len(all_steps) - 1, 6).round().astype(int))
        steps = [all_steps[i] for i in idx]
    cols = len(steps) + 2
    fig = plt.figure(figsize=(1.9 * cols, 4.3 + (2.6 if scores else 0)), layout="constrained")
    grid = fig.add_gridspec(3 if scores else 2, cols, height_ratios=[1, 1, 1.3] if scores else [1, 1])
    gt_img = gt[0, frame] if gt.dim() == 5 else gt[frame]
    gt_img = gt_img.clamp(0, 1).permute(1, 2, 0).cpu().numpy()
    for r, (label, seq) in enumerate((("x_t", chain.states), ("x̂0", chain.predictions))):
        for c, t in enumerate(steps):
            ax = fig.add_subplot(grid[r, c])
            ax.imshow(_frame(seq[t], frame))
            ax.set_title(f"{label}, t = {t}", fontsize=8)
            ax.axis("off")
        for c, (name, img) in enumerate((("y (bicubic)", _frame(y.float().cpu(), frame)), ("ground truth", gt_img))):
            ax = fig.add_subplot(grid[r, len(steps) + c])
            ax.imshow(img)
            ax.set_title(name, fontsize=8)
            ax.axis("off")
    if scores:
        # x̂0 on its own axes: x_t's PSNR (6-18 dB) would flatten it, and a twin LPIPS axis fitted to a few
        # thousandths would exaggerate the other side. Each panel keeps bicubic's value as the reference.
        bic = psnr(_to_uint8_range(y.float().cpu()), gt.float().cpu()).mean().item()
        half = cols // 2
        panels = [(grid[2, :half], "psnr_prediction", "PSNR of x̂0 (dB, higher is better)", bic)]
        if scores.get("lpips_prediction"):
            panels.append((grid[2, half:], "lpips_prediction", "LPIPS of x̂0 (lower is better)",
                           scores.get("lpips_bicubic")))
        else:
            panels[0] = (grid[2, :], *panels[0][1:])
        for spec, key, label, ref in panels:
            ax = fig.add_subplot(spec)
            ax.plot(scores["steps"], scores[key], "s-", ms=3, label="x̂0 at step t")
            if ref is not None:
                ax.axhline(ref, color="tab:red", ls="--", lw=1, label=f"bicubic ({ref:.4g})")
            ax.set_xlabel("step t (the chain runs right to left)")
            ax.set_ylabel(label, fontsize=8)
            ax.invert_xaxis()
            ax.grid(alpha=0.3)
            ax.legend(fontsize=7)
    if title:
        fig.suptitle(title, fontsize=9)
    return fig
