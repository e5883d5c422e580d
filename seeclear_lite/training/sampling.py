"""Super-resolving clips and whole videos with a trained network (Algorithm 1, clip by clip).

A video is split into non-overlapping clips of m = 5 frames (Sec. 3: "The LR video is initially split into
non-overlapping clips composed of m frames"); the last, shorter clip is reflect-padded in time to m frames
and cropped back. Each clip is sampled with :meth:`seeclear_lite.diffusion.BlurringResShift.sample` (its m
frames in parallel). When the model has a CaTeGory memory (Sec. 3.3), the memory state of one clip is
updated after that clip's last diffusion step and carried to the next (Algorithm 1 lines 42-44).

Conditioning
------------
The baseline needs no conditioning. A model with semantic modules needs the Semantic Distiller's tokens O and
segmentation features P (Sec. 3.2, Eqs. 8-9; Algorithm 1 line 7: once per clip, from the LR frames) in its
:class:`~seeclear_lite.models.Conditioning`, plus the memory state for CaTeGory. :func:`make_conditioning`
uses ``model.make_conditioning(lr01, memory)`` if the model defines one (a hook for a real OpenSeeD wrapper),
else the kit's default offline distiller sized for the model
(:func:`seeclear_lite.semantics.plugin.distiller_for`), built once per model.
"""

from __future__ import annotations

import time
import weakref

import torch

from ..models import Conditioning
from ..utils.ranges import to_diffusion_range, to_image_range


def _unwrap(model):
    model = getattr(model, "module", model)
    return getattr(model, "_orig_mod", model)


def needs_semantics(model) -> bool:
    cfg = getattr(_unwrap(model), "config", None)
    return bool(cfg is not None and (cfg.semantic_condition or cfg.mfsa or cfg.incam or cfg.category))


def find_memory(model):
    """The model's CaTeGory module (Sec. 3.3), or None."""
    try:
        from ..memory import CaTeGory
    except ImportError:
        return None
    for m in _unwrap(model).modules():
        if isinstance(m, CaTeGory):
            return m
    return None


_DISTILLERS: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()


def default_distiller(model):
    """The frozen default Semantic Distiller of ``model`` (one per model, on the model's device)."""
    base = _unwrap(model)
    if base not in _DISTILLERS:
        from ..semantics.plugin import distiller_for

        device = next(base.parameters()).device
        _DISTILLERS[base] = distiller_for(base.config).to(device)
    return _DISTILLERS[base]


def make_conditioning(model, lr01: torch.Tensor, memory=None) -> Conditioning | None:
    """The :class:`Conditioning` of one batch of clips ``lr01 [B, m, 3, h, w]`` in [0, 1] (see module doc);
    None for the baseline."""
    base = _unwrap(model)
    if hasattr(base, "make_conditioning"):
        return base.make_conditioning(lr01, memory)
    if not needs_semantics(base):
        return None
    tokens, seg = default_distiller(base)(lr01)          # Eqs. 8-9, once per clip (Algorithm 1 line 7)
    return Conditioning(n_frames=lr01.shape[1], tokens=tokens, seg=seg, memory=memory)


@torch.no_grad()
def sample_clip(model, diffusion, lr01: torch.Tensor, *, form: str = "consistent",
                generator: torch.Generator | None = None, memory=None):
    """One batch of clips ``lr01 [B, m, 3, h, w]`` ([0, 1]) -> ``(sr01 [B, m, 3, H, W], new memory or None)``.

    ``sr01`` is the sampler's x0 estimate mapped back to [0, 1] and clamped (not quantized)."""
    y = diffusion.upsample_lr(to_diffusion_range(lr01))
    cond = make_conditioning(model, lr01, memory)

    def net(x_t, yy, t):
        return model(x_t, yy, t) if cond is None else model(x_t, yy, t, cond)

    x0 = diffusion.sample(net, y, form=form, generator=generator)
    new_memory = None
    category = find_memory(model)
    if category is not None and cond is not None and getattr(cond, "clip_tokens", None) is not None:
        new_memory = category.update(memory, cond.decoder_feats, cond.clip_tokens)   # Alg. 1 lines 42-44
    return to_image_range(x0).clamp(0.0, 1.0), new_memory


def split_clips(num_frames: int, m: int) -> list[tuple[int, int]]:
    """Non-overlapping ``[start, stop)`` clips of ``m`` frames; the last may be shorter (padded later)."""
    if num_frames < 1 or m < 1:
        raise ValueError(f"need at least one frame and m >= 1, got {num_frames} frames, m={m}.")
    return [(s, min(s + m, num_frames)) for s in range(0, num_frames, m)]


def reflect_pad_time(frames: torch.Tensor, m: int) -> torch.Tensor:
    """``[n, ...]`` with n <= m -> ``[m, ...]`` by reflecting in time (n = 3, m = 5: 0 1 2 1 0)."""
    n = frames.shape[0]
    if n == m:
        return frames
    idx, i, step = [], 0, 1
    while len(idx) < m:
        idx.append(i)
        if n == 1:
            continue
        if not 0 <= i + step < n:
            step = -step
        i += step
    return frames[torch.tensor(idx, device=frames.device)]


class VideoSampler:
    """``sr = VideoSampler(model, diffusion)(lr)``: a whole video ``lr [T, 3, h, w]`` in [0, 1] -> ``[T, 3, H, W]``.

    Clips of ``clip_length`` frames, the memory carried across clips; ``seed`` fixes the sampler's noise (one
    generator for the video, on the model's device). ``times`` holds the seconds spent on each clip."""

    def __init__(self, model, diffusion, clip_length: int = 5, form: str = "consistent", seed: int = 0,
                 device=None, progress: bool = False):
        self.model, self.diffusion, self.m, self.form = model.eval(), diffusion, int(clip_length), form
        self.device = device if device is not None else next(model.parameters()).device
        self.seed, self.progress = seed, progress
        self.times: list[float] = []

    def clips(self, lr: torch.Tensor):
        """Yield ``(start, stop, sr01 [stop-start, 3, H, W] on the CPU)`` clip by clip (streaming)."""
        if lr.dim() != 4:
            raise ValueError(f"lr must be a video [T, 3, h, w] in [0, 1], got shape {tuple(lr.shape)}.")
        gen = torch.Generator(device=self.device).manual_seed(self.seed)
        memory = None
        spans = split_clips(lr.shape[0], self.m)
        if self.progress:
            from tqdm.auto import tqdm

            spans = tqdm(spans, desc="clips", unit="clip")
        for start, stop in spans:
            clip = reflect_pad_time(lr[start:stop].to(self.device), self.m)[None]
            t0 = time.perf_counter()
            sr, memory = sample_clip(self.model, self.diffusion, clip, form=self.form, generator=gen, memory=memory)
            sr = sr[0, : stop - start].float().cpu()
            self.times.append(time.perf_counter() - t0)
            yield start, stop, sr

    def __call__(self, lr: torch.Tensor) -> torch.Tensor:
        return torch.cat([sr for _, _, sr in self.clips(lr)])


def checkpoint_super_resolver(checkpoint, device=None, form: str | None = None, seed: int = 0, use_ema: bool = True):
    """``sr = f(lr)``: a whole video ``lr [T, 3, h, w]`` in [0, 1] -> ``[T, 3, 4h, 4w]`` in [0, 1] with a trained
    checkpoint (EMA weights, the checkpoint's posterior form unless ``form``), clip by clip with memory. The SR
    function the evaluation harness and notebook 08 plug in; ``f.sampler.times`` holds seconds per clip."""
    from ..utils import get_device
    from .checkpoint import load_model

    device = get_device(device=device)
    model, cfg, _ = load_model(checkpoint, use_ema=use_ema, device=device)
    sampler = VideoSampler(model, cfg.make_diffusion(), clip_length=cfg.data.clip_length,
                           form=form or cfg.diffusion.form, seed=seed, device=device)

    def super_resolve(lr: torch.Tensor) -> torch.Tensor:
        return sampler(lr)

    super_resolve.sampler, super_resolve.config = sampler, cfg
    return super_resolve
