"""Temporal consistency of a super-resolved clip: SeeClear's claim is temporally coherent detail.

Per-frame PSNR/SSIM/LPIPS cannot see flicker: a clip whose frames are each fine but whose details jump
from frame to frame scores well on them. Two metrics compare how the SR clip *changes* over time with
how the ground truth changes:
* :func:`temporal_error` (tMAE, this kit's definition): mean absolute difference between the temporal
  differences of SR and GT,
  ``tMAE = mean_{t, c, h, w} | (sr_{t+1} - sr_t) - (gt_{t+1} - gt_t) |`` over the clip's N - 1
  transitions (frames in [0, 1]; multiply by 255 for 8-bit levels). A constant, time-invariant error
  (e.g. a colour shift) gives 0; flicker and detail that does not move with the scene give > 0.
* :func:`temporal_lpips` (tLP of TecoGAN: Chu et al., "Learning temporal coherence via self-supervision
  for GAN-based video generation", ACM TOG 2020, Eq. for tLP and the authors' ``metrics.py``):
  ``tLP = mean_t | LPIPS(sr_t, sr_{t+1}) - LPIPS(gt_t, gt_{t+1}) |`` with the AlexNet LPIPS as in
  TecoGAN's code. TecoGAN tables report ``tLP x 100``; these functions return the raw value.

Both take clips ``[..., N, C, H, W]`` (N >= 2 frames) in [0, 1] and return one value per clip ``[...]``.
"""

from __future__ import annotations

import torch

from .inputs import check_frames, metric_dtype
from .lpips_model import LPIPS, get_lpips


def _check_clips(sr, gt):
    check_frames(sr, "sr")
    check_frames(gt, "gt")
    if sr.ndim < 4:
        raise ValueError(f"temporal metrics need clips [..., N, C, H, W] with N >= 2 frames; got shape "
                         f"{tuple(sr.shape)}. Stack the frames along dim -4.")
    if sr.shape != gt.shape:
        raise ValueError(f"shape mismatch: sr has shape {tuple(sr.shape)} but gt has {tuple(gt.shape)}.")
    if sr.shape[-4] < 2:
        raise ValueError(f"temporal metrics need at least 2 frames along dim -4; got {sr.shape[-4]}.")


def temporal_error(sr: torch.Tensor, gt: torch.Tensor) -> torch.Tensor:
    """tMAE: ``mean | (sr_{t+1} - sr_t) - (gt_{t+1} - gt_t) |`` per clip ``[..., N, C, H, W]`` -> ``[...]``."""
    _check_clips(sr, gt)
    dtype = metric_dtype(sr.device)
    sr, gt = sr.to(dtype), gt.to(device=sr.device, dtype=dtype)
    d_sr = sr[..., 1:, :, :, :] - sr[..., :-1, :, :, :]
    d_gt = gt[..., 1:, :, :, :] - gt[..., :-1, :, :, :]
    return (d_sr - d_gt).abs().mean(dim=(-4, -3, -2, -1))


def temporal_lpips(sr: torch.Tensor, gt: torch.Tensor, net="alex", download: bool = False) -> torch.Tensor:
    """tLP (TecoGAN): ``mean_t | LPIPS(sr_t, sr_{t+1}) - LPIPS(gt_t, gt_{t+1}) |`` per clip -> ``[...]``.

    ``net``: ``"alex"`` (TecoGAN's choice), ``"vgg"``, or an :class:`~seeclear_lite.metrics.lpips.LPIPS`
    module. Raw value (TecoGAN reports it x 100).
    """
    _check_clips(sr, gt)
    if sr.shape[-3] != 3:
        raise ValueError(f"temporal_lpips needs RGB frames (3 channels at dim -3); got shape {tuple(sr.shape)}.")
    module = net if isinstance(net, LPIPS) else get_lpips(net, sr.device, download=download)
    lead, n = sr.shape[:-4], sr.shape[-4]
    with torch.no_grad():
        lp = []
        for clip in (sr, gt):     # each frame's features once: frame t serves transitions t-1 -> t and t -> t+1
            f = [x.unflatten(0, (-1, n)) for x in module.features(clip.reshape(-1, *clip.shape[-3:]))]
            d = module.distance([x[:, :-1].flatten(0, 1) for x in f], [x[:, 1:].flatten(0, 1) for x in f])
            lp.append(d.reshape(*lead, n - 1))
    return (lp[0].double() - lp[1].double()).abs().mean(dim=-1)
