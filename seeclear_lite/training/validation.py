"""Periodic validation during training: sample held-out clips with the EMA weights, score PSNR / SSIM / LPIPS.

The held-out windows are fixed once (non-overlapping m-frame windows of the validation clips, centre-cropped
to ``val.gt_patch``), the sampler's noise comes from its own generator seeded with ``val.seed``, and the
global RNGs are never touched, so validating does not change the course of training (exact resume holds
with or without it). Frames are rounded to 8 bits before scoring, as saved PNGs would be.
"""

from __future__ import annotations

import time

import torch

from ..config import TrainConfig
from ..data.build import build_dataset
from ..data.io import quantize
from ..metrics import get_lpips
from ..metrics.clip_scores import ClipScores
from ..utils.ranges import to_diffusion_range, to_image_range
from .sampling import sample_clip


def validation_windows(cfg: TrainConfig) -> list[dict]:
    """The fixed held-out windows: dicts with ``lr [m, 3, h, w]``, ``gt [m, 3, H, W]`` (centre crops of
    ``val.gt_patch``, or of the clip's short side where the clip is smaller: a small clip is validated whole along
    that side rather than refused), ``clip``."""
    data = build_dataset(cfg.val, cfg, train=False)
    per_clip: dict[str, int] = {}
    out = []
    for i in range(len(data)):
        name, _ = data.windows[i]
        if per_clip.get(name, 0) >= cfg.val.max_windows:
            continue
        per_clip[name] = per_clip.get(name, 0) + 1
        item = data[i]
        lr, gt = item["lr"], item["gt"]
        p = cfg.val.gt_patch
        if p is not None:
            s = gt.shape[-1] // lr.shape[-1]
            q = p // s
            h, w = lr.shape[-2:]
            qh, qw = min(q, h), min(q, w)
            y0, x0 = (h - qh) // 2, (w - qw) // 2
            lr = lr[..., y0:y0 + qh, x0:x0 + qw]
            gt = gt[..., y0 * s:(y0 + qh) * s, x0 * s:(x0 + qw) * s]
        out.append({"lr": lr, "gt": gt, "clip": name, "start": item["start"]})
    if not out:
        raise ValueError("No validation windows: check val.clips / val.root.")
    return out


class Validator:
    """Scores a model on :func:`validation_windows` (averages over frames of all windows) at two points of the
    perception-distortion plane: the default output (the chain of ``diffusion.steps`` network calls, keys
    ``val_*``) and the network's first estimate x0_hat(x_T) (one call, keys ``val_first_*``), so that a chain
    that loses to its own first step is seen while training."""

    def __init__(self, cfg: TrainConfig, diffusion, device: torch.device, log=print):
        self.cfg, self.diffusion, self.device, self.log = cfg, diffusion, device, log
        self.windows = validation_windows(cfg)
        self.lpips = None
        if cfg.val.lpips:
            try:
                self.lpips = get_lpips("vgg", device)
            except FileNotFoundError as err:
                log(f"note: validation runs without LPIPS ({str(err).splitlines()[0]})")

    @torch.no_grad()
    def __call__(self, model) -> dict:
        out = {}
        for prefix, steps in (("val_", self.cfg.diffusion.steps), ("val_first_", 1)):
            gen = torch.Generator(device=self.device).manual_seed(self.cfg.val.seed)

            def sample(w, steps=steps, gen=gen):
                sr, _ = sample_clip(model, self.diffusion, w["lr"][None].to(self.device),
                                    form=self.cfg.diffusion.form, generator=gen, steps=steps)
                return sr[0]
            scores = self._score(sample)
            out.update({prefix + k[4:]: v for k, v in scores.items()} if prefix != "val_" else scores)
        return out

    @torch.no_grad()
    def bicubic(self) -> dict:
        """The same scores for the bicubic upsampling of the same windows: the line a model must beat."""
        return self._score(lambda w: to_image_range(self.diffusion.upsample_lr(to_diffusion_range(w["lr"]))))

    def _score(self, produce) -> dict:
        """Mean PSNR / SSIM (RGB; / LPIPS-VGG) over all frames of all windows of ``produce(window) -> frames in
        [0, 1]``, each frame rounded to 8 bits as a saved PNG, scored by the kit's one metric loop."""
        t0 = time.perf_counter()
        values = {"psnr_rgb": [], "ssim_rgb": [], "lpips_vgg": []}
        for w in self.windows:
            scores = ClipScores(0, self.lpips, None, self.device)
            scores.add(quantize(produce(w).float().cpu()), w["gt"])             # as a saved 8-bit PNG
            for k in values:
                values[k] += scores.values[k]
        mean = {k: (sum(v) / len(v) if v else None) for k, v in values.items()}
        return {"val_psnr": mean["psnr_rgb"], "val_ssim": mean["ssim_rgb"], "val_lpips": mean["lpips_vgg"],
                "val_seconds": time.perf_counter() - t0}
