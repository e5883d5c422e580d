"""The one metric loop of the kit: every score of a super-resolved clip, fed chunk by chunk.

Validation during training, ``evaluate``, the perception-distortion plane (``tradeoff``), the ablations and
the notebooks all score frames with :class:`ClipScores`, so that a number means the same wherever it is
printed. Per frame: PSNR and SSIM on RGB and on Y (MATLAB ``rgb2ycbcr``), LPIPS-VGG (the paper's choice);
per transition of consecutive frames: tMAE and tLP (:mod:`.temporal`); optionally DISTS (Table 3 of the paper,
:mod:`.dists`), which costs as much as LPIPS-VGG again. Frames are 8-bit values in [0, 1]
(``quantize`` them first: metrics are computed on frames as saved).

The ground truth's network features are what costs: :meth:`ClipScores.reference` computes them once per
chunk, and every output scored against that chunk (bicubic, the first step, k-step chains, the mean of n
samples) reuses them.
"""

from __future__ import annotations

import torch

from .psnr_ssim import psnr, ssim
from .temporal import temporal_error

#: Per-frame and per-transition metrics, in the order tables print them.
FRAME_METRICS = ("psnr_rgb", "ssim_rgb", "psnr_y", "ssim_y", "lpips_vgg")
TRANSITION_METRICS = ("tmae", "tlp")
METRICS = FRAME_METRICS + TRANSITION_METRICS
#: Computed only when a DISTS module is given.
OPTIONAL_METRICS = ("dists",)
#: A frame identical to its ground truth has an infinite PSNR; it is counted as this many dB (BasicSR returns
#: inf, which would turn a whole dataset's mean into inf or null because of one frame), and said so in ``notes``.
PSNR_CAP = 100.0


class Reference:
    """The ground truth of one chunk of frames with its network features (computed once, reused)."""

    def __init__(self, gt: torch.Tensor, vgg=None, alex=None, device=None, dists=None):
        self.gt = gt
        with torch.no_grad():
            g = gt.to(device) if device is not None else gt
            self.vgg = vgg.features(g) if vgg is not None else None
            self.alex = alex.features(g) if alex is not None else None
            self.dists = dists.features(g) if dists is not None else None


class ClipScores:
    """Per-frame and per-transition metrics of one clip (``lp_vgg``/``lp_alex``: LPIPS modules or None to skip
    LPIPS / tLP). Feed consecutive chunks with :meth:`add`; transitions across chunks are counted.
    ``values[k]`` holds one number per frame (per transition for tMAE, tLP); :meth:`means` averages them."""

    def __init__(self, crop_border: int, lp_vgg, lp_alex, device, dists=None):
        self.crop, self.vgg, self.alex, self.device, self.dists = crop_border, lp_vgg, lp_alex, device, dists
        self.values = {k: [] for k in METRICS + (OPTIONAL_METRICS if dists is not None else ())}
        self.capped = 0           # frames whose PSNR was infinite (identical to the ground truth), counted as PSNR_CAP
        self.prev = None          # (sr, gt, alex features of sr, alex features of gt) of the previous frame

    def reference(self, gt: torch.Tensor) -> Reference:
        """The ground truth of a chunk with its LPIPS features, to pass to :meth:`add` for every output."""
        return Reference(gt, self.vgg, self.alex, self.device, self.dists)

    @torch.no_grad()
    def add(self, sr: torch.Tensor, gt) -> None:
        """Score ``sr [k, 3, H, W]`` against ``gt``: a tensor, or a :meth:`reference` (features reused)."""
        ref = gt if isinstance(gt, Reference) else self.reference(gt)
        gt = ref.gt
        v = self.values
        v["psnr_rgb"] += self._capped(psnr(sr, gt, self.crop))
        v["ssim_rgb"] += ssim(sr, gt, self.crop).tolist()
        v["psnr_y"] += self._capped(psnr(sr, gt, self.crop, y_channel=True), count=False)
        v["ssim_y"] += ssim(sr, gt, self.crop, y_channel=True).tolist()
        if self.vgg is not None:
            v["lpips_vgg"] += self.vgg.distance(self.vgg.features(sr.to(self.device)), ref.vgg).double().cpu().tolist()
        if self.dists is not None:
            v["dists"] += self.dists.distance(self.dists.features(sr.to(self.device)), ref.dists).double().cpu().tolist()
        fa = fb = None
        if self.alex is not None:
            fa, fb = self.alex.features(sr.to(self.device)), ref.alex
        seq_sr, seq_gt = sr, gt
        if self.prev is not None:
            seq_sr, seq_gt = torch.cat([self.prev[0], sr]), torch.cat([self.prev[1], gt])
            if fa is not None:
                fa = [torch.cat([p, f]) for p, f in zip(self.prev[2], fa)]
                fb = [torch.cat([p, f]) for p, f in zip(self.prev[3], fb)]
        if len(seq_sr) >= 2:      # every transition t -> t+1, the one across chunks included
            pairs_sr, pairs_gt = torch.stack([seq_sr[:-1], seq_sr[1:]], 1), torch.stack([seq_gt[:-1], seq_gt[1:]], 1)
            v["tmae"] += temporal_error(pairs_sr, pairs_gt).tolist()
            if fa is not None:
                d_sr = self.alex.distance([f[:-1] for f in fa], [f[1:] for f in fa]).double()
                d_gt = self.alex.distance([f[:-1] for f in fb], [f[1:] for f in fb]).double()
                v["tlp"] += (d_sr - d_gt).abs().cpu().tolist()
        self.prev = (sr[-1:], gt[-1:], *([[f[-1:] for f in fa], [f[-1:] for f in fb]] if fa is not None else [None, None]))

    def _capped(self, p: torch.Tensor, count: bool = True) -> list[float]:
        inf = torch.isinf(p)
        if count:
            self.capped += int(inf.sum())
        return p.clamp(max=PSNR_CAP).tolist()

    def notes(self) -> list[str]:
        """What was counted in an unusual way (to print beside the table), e.g. frames identical to the GT."""
        if not self.capped:
            return []
        return [f"{self.capped} frame(s) identical to the ground truth: PSNR counted as {PSNR_CAP:.0f} dB "
                f"(it is infinite)"]

    def means(self) -> dict:
        """The mean of every metric over the clip's frames (transitions); None where nothing was measured."""
        return {k: (sum(v) / len(v) if v else None) for k, v in self.values.items()}


def average_over_clips(per_clip: dict, keys=METRICS, notes: list | None = None) -> dict:
    """The mean over clips of per-clip means (how REDS4 / Vid4 results are reported). A clip without a value for a
    metric (a one-frame clip has no transition for tMAE / tLP) is left out of that metric's mean, never turning it
    into None, and ``notes`` (a list) is told which clip and why; None only when no clip has the metric."""
    out = {}
    for k in keys:
        vals = [c[k] for c in per_clip.values() if c.get(k) is not None]
        out[k] = sum(vals) / len(vals) if vals else None
        missing = [name for name, c in per_clip.items() if c.get(k) is None]
        if notes is not None and vals and missing:
            notes.append(f"{k}: averaged over {len(vals)} of {len(per_clip)} clips ({', '.join(missing)} "
                         f"{'has' if len(missing) == 1 else 'have'} no value: one frame has no transition)")
    return out
