"""Frames too large for memory: estimate what a clip needs before sampling, and sample it in overlapping tiles.

:func:`estimate_bytes` measures, on two small real LR sizes, the peak of the bytes held by live tensors during one
clip's conditioning and one network call (a dispatch mode counts every tensor an op makes until it is freed), fits
``a + b * pixels`` (the model's attention is windowed: memory is linear in the frame's area) and adds what the
sampler holds per clip at the full size (its chain state, the SR clip, the bicubic frame). :func:`plan_tiles`
compares that with the memory this machine has free (``MemAvailable``, or the GPU's free memory) and picks:

- the whole frame, when it fits;
- else square LR tiles, as large as fit, overlapping by :data:`OVERLAP` LR pixels and blended with linear ramps
  that sum to one across every overlap (:class:`TiledSampler`);
- else, when even the per-frame buffers alone do not fit, a one-line :class:`MemoryError` naming the largest frame
  that would.

:class:`TiledSampler` wraps a :class:`~.sampling.VideoSampler` from the outside: it buffers m frames like the
sampler does, samples each tile of the clip with :func:`~.sampling.sample_clip` (each tile position carries its own
CaTeGory memory from clip to clip, and one generator seeded like the sampler's draws the noise tile after tile) and
yields whole SR frames. A single tile covering the frame gives exactly the untiled output
(``tests/test_reliability_issue28.py``).
"""

from __future__ import annotations

import math
import os
import time
import weakref
from dataclasses import dataclass

import torch
from torch.utils._python_dispatch import TorchDispatchMode

from ..utils.ranges import to_diffusion_range
from .sampling import reflect_pad_time, sample_clip

#: Overlap of neighbouring tiles, in LR pixels (x4 in the output).
OVERLAP = 8
#: Share of the free memory a clip may plan to use (torch's workspaces and the image codecs need the rest).
BUDGET_SHARE = 0.6
#: Safety factor on the measured tensor bytes (allocator rounding, workspaces not seen as tensors): with it the
#: estimate was 0.84 GB for a 96x96 LR clip of the shipped model whose sampling raised the peak RSS by 0.50 GB.
SAFETY = 2.0
#: Smallest LR tile considered.
MIN_TILE = 16


class _LiveBytes(TorchDispatchMode):
    """Peak bytes of the tensor storages that ops create, while they are alive (views and in-place results, which
    share a storage already counted, add nothing)."""

    def __init__(self):
        super().__init__()
        self.live = self.peak = 0
        self.storages: set = set()

    def _free(self, key, n):
        self.storages.discard(key)
        self.live -= n

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        for t in out if isinstance(out, (tuple, list)) else (out,):
            if not isinstance(t, torch.Tensor):
                continue
            st = t.untyped_storage()
            key = (st.data_ptr(), st.nbytes())
            if key in self.storages or st.nbytes() == 0:
                continue
            try:
                weakref.finalize(st, self._free, key, st.nbytes())
            except TypeError:
                continue
            self.storages.add(key)
            self.live += st.nbytes()
            self.peak = max(self.peak, self.live)
        return out


def _measure(model, m: int, h: int, w: int, device) -> int:
    """Peak tensor bytes of one clip's condition() plus one network call at LR size h x w."""
    lr = torch.rand(1, m, 3, h, w, generator=torch.Generator().manual_seed(0)).to(device)
    y = torch.nn.functional.interpolate(to_diffusion_range(lr).flatten(0, 1), scale_factor=4, mode="nearest")
    y = y.unflatten(0, (1, m))
    t = torch.ones(1, dtype=torch.long, device=device)
    with torch.no_grad(), _LiveBytes() as meter:
        cond = model.condition(lr, y, None)
        out = model(y, y, t, cond, return_features=True)
        del out, cond
    return meter.peak


@dataclass
class Cost:
    """Bytes of one clip: ``fixed + per_px * LR pixels`` for the network, ``frame_px`` per LR pixel for the
    sampler's full-size buffers."""
    fixed: float
    per_px: float
    frame_px: float

    def network(self, h: int, w: int) -> float:
        return SAFETY * (self.fixed + self.per_px * h * w)

    def frame(self, h: int, w: int, m: int = 5) -> float:
        return self.frame_px * h * w

    def total(self, h: int, w: int) -> float:
        return self.network(h, w) + self.frame(h, w)


def measure_cost(model, m: int, device, sizes=(16, 32)) -> Cost:
    """:class:`Cost` of ``model`` from two small real runs (a second or two on a CPU for the kit's models)."""
    a, b = sizes
    pa, pb = _measure(model, m, a, a, device), _measure(model, m, b, b, device)
    per_px = max((pb - pa) / (b * b - a * a), 0.0)
    fixed = max(pa - per_px * a * a, 0.0)
    # per LR pixel at the full size: x_t, u, u_l, y and x0_hat of the chain (5 x m x 3 x 16 float32), the SR clip
    # (m x 3 x 16 float32), the bicubic frame in float64 and its uint8 copies
    frame_px = (5 * m * 3 * 16 * 4) + (m * 3 * 16 * 4) + (3 * 16 * 8) + (4 * 3 * 16)
    return Cost(fixed, per_px, frame_px)


def available_bytes(device) -> int:
    """Memory free for this process now: the GPU's free memory, else the machine's ``MemAvailable``."""
    device = torch.device(device)
    if device.type == "cuda":
        return int(torch.cuda.mem_get_info(device)[0])
    try:
        with open("/proc/meminfo") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return 1 << 62


@dataclass
class TilePlan:
    tile: int | None          # LR tile side (None: the whole frame)
    overlap: int
    need_bytes: float         # estimated for the whole frame
    budget_bytes: float
    reason: str = ""


def _gib(n: float) -> str:
    return f"{n / 2**30:.1f} GiB"


def plan_tiles(model, cfg, size: tuple[int, int], device, tile: int | None = None, budget: float | None = None,
               cost: Cost | None = None) -> TilePlan:
    """Whole frame, tiles, or a :class:`MemoryError` (see the module docstring). ``tile``: force tiles of this LR
    side (``sample --tile``); ``budget``: bytes to plan with (default :data:`BUDGET_SHARE` of the free memory)."""
    h, w = int(size[0]), int(size[1])
    m = cfg.data.clip_length
    if tile is not None:
        if isinstance(tile, bool) or not isinstance(tile, int) or tile < MIN_TILE:
            raise ValueError(f"--tile must be an integer >= {MIN_TILE} (LR pixels), got {tile!r}.")
        overlap = min(OVERLAP, tile // 4)
        return TilePlan(tile if tile < max(h, w) else None, overlap, float("nan"), float("nan"),
                        f"tiles of {tile}x{tile} LR pixels, overlapping by {overlap} (--tile)")
    budget = BUDGET_SHARE * available_bytes(device) if budget is None else float(budget)
    cost = measure_cost(model, m, device) if cost is None else cost
    need = cost.total(h, w)
    if need <= budget:
        return TilePlan(None, 0, need, budget)
    fixed = cost.frame(h, w)
    largest = [t for t in range(MIN_TILE, max(h, w) + 1, 8) if fixed + cost.network(t, t) <= budget]
    if not largest:
        # the largest frame (same aspect) whose buffers and smallest tile fit
        k = math.sqrt(max(budget - cost.network(MIN_TILE, MIN_TILE), 0) / max(cost.frame_px * h * w, 1))
        fit_h, fit_w = int(h * k), int(w * k)
        raise MemoryError(f"an LR frame of {w}x{h} needs about {_gib(need)} to sample and even in tiles "
                          f"{_gib(fixed + cost.network(MIN_TILE, MIN_TILE))}, but {_gib(budget)} can be used here "
                          f"({BUDGET_SHARE:.0%} of the free memory): frames up to about {fit_w}x{fit_h} fit; "
                          f"downscale or crop the input.")
    t = largest[-1]
    return TilePlan(t, min(OVERLAP, t // 4), need, budget,
                    f"an LR frame of {w}x{h} needs about {_gib(need)} to sample whole, over the {_gib(budget)} free "
                    f"for it: sampling in tiles of {t}x{t} LR pixels overlapping by {min(OVERLAP, t // 4)}, blended")


# ---------------------------------------------------------------------------------------------- tiles
def tile_starts(length: int, tile: int, overlap: int) -> list[int]:
    """Start offsets of tiles of ``tile`` pixels covering ``length`` with at least ``overlap`` shared pixels."""
    if length <= tile:
        return [0]
    stride = tile - overlap
    starts = list(range(0, length - tile, stride)) + [length - tile]
    return sorted(set(starts))


def ramp_weights(length: int, starts: list[int], tile: int, scale: int) -> list[torch.Tensor]:
    """Per tile, 1-D weights over its output pixels: 1 inside, linear ramps across each overlap, summing to one
    at every output pixel."""
    L = length * scale
    spans = [(s * scale, min(s + tile, length) * scale) for s in starts]
    out = []
    for i, (a, b) in enumerate(spans):
        wt = torch.ones(b - a, dtype=torch.float64)
        if i > 0:                                   # overlap with the previous tile: [a, prev_end)
            n = spans[i - 1][1] - a
            if n > 0:
                wt[:n] = (torch.arange(n, dtype=torch.float64) + 0.5) / n
        if i + 1 < len(spans):                      # overlap with the next tile: [next_start, b)
            n = b - spans[i + 1][0]
            if n > 0:
                wt[b - a - n:] = 1 - (torch.arange(n, dtype=torch.float64) + 0.5) / n
        out.append(wt)
    assert spans[-1][1] == L
    return out


class TiledSampler:
    """``sampler`` (a :class:`~.sampling.VideoSampler`), run tile by tile; ``stream`` and ``times`` as its own."""

    def __init__(self, sampler, tile: int, overlap: int = OVERLAP, scale: int = 4):
        if tile < 1 or not 0 <= overlap < tile:
            raise ValueError(f"tile must be >= 1 and 0 <= overlap < tile, got tile={tile}, overlap={overlap}.")
        self.sampler, self.tile, self.overlap, self.scale = sampler, int(tile), int(overlap), int(scale)
        self.times: list[float] = []

    def _sample(self, clip: list, gen, memories: dict, n: int) -> torch.Tensor:
        s, sc = self.sampler, self.scale
        lr = reflect_pad_time(torch.stack(clip).to(s.device), s.m)[None]          # [1, m, 3, h, w]
        h, w = lr.shape[-2:]
        ys, xs = tile_starts(h, self.tile, self.overlap), tile_starts(w, self.tile, self.overlap)
        wy, wx = ramp_weights(h, ys, self.tile, sc), ramp_weights(w, xs, self.tile, sc)
        out = torch.zeros(n, 3, h * sc, w * sc)
        for i, y0 in enumerate(ys):
            for j, x0 in enumerate(xs):
                crop = lr[..., y0:y0 + self.tile, x0:x0 + self.tile]
                kw = {"steps": s.steps} if getattr(s, "steps", None) is not None else {}
                sr, mem = sample_clip(s.model, s.diffusion, crop, form=s.form, generator=gen,
                                      memory=memories.get((i, j)) if s.carry_memory else None, **kw)
                memories[(i, j)] = mem if s.carry_memory else None
                weight = (wy[i][:, None] * wx[j][None, :]).float()
                th, tw = sr.shape[-2:]
                out[:, :, y0 * sc:y0 * sc + th, x0 * sc:x0 * sc + tw] += sr[0, :n].float().cpu() * weight
        return out

    def stream(self, frames, total: int | None = None):
        """Yield ``(index, sr [3, H, W])`` frame by frame, like :meth:`VideoSampler.stream`."""
        s = self.sampler
        gen = torch.Generator(device=s.device).manual_seed(s.seed)
        self.times = []
        memories: dict = {}
        buffer, start = [], 0
        for frame in frames:
            buffer.append(frame)
            if len(buffer) == s.m:
                t0 = time.perf_counter()
                sr = self._sample(buffer, gen, memories, len(buffer))
                self.times.append(time.perf_counter() - t0)
                for k in range(sr.shape[0]):
                    yield start + k, sr[k]
                start, buffer = start + len(buffer), []
        if buffer:
            t0 = time.perf_counter()
            sr = self._sample(buffer, gen, memories, len(buffer))
            self.times.append(time.perf_counter() - t0)
            for k in range(sr.shape[0]):
                yield start + k, sr[k]
            start += len(buffer)
        if start == 0:
            raise ValueError("the video has no frames: give at least one LR frame [3, h, w].")
