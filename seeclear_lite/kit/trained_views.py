"""The shipped models as notebooks 04–06 show them: what the trained network does, measured on a real clip.

The kit ships two trained models (``data/checkpoints/``): ``small.pt``, the full model, and ``small_baseline.pt``,
the same preset with every semantic module off (the Pixel Condenser alone). They may be replaced by retrained
ones, so everything here reads them by path and derives what it needs (T, the default chain, the noise mode)
from the checkpoint's own configuration; nothing quotes their numbers.

- :func:`shipped_checkpoint`, :func:`load_shipped`: the files, and their networks (EMA weights, cached per file).
- :func:`sample_crop`, :func:`crop_dataset`: an aligned LR/GT crop of a committed sample clip, as tensors or as a
  BasicSR folder for :func:`seeclear_lite.evaluation.tradeoff.tradeoff`.
- :func:`chain_run`: one reverse chain with the prediction x̂0 of every step, 8-bit, scored (PSNR) per step.
- :func:`capture_incam`, :func:`token_attention`, :func:`segment_ids`, :func:`incam_stats`: the inputs of every
  InCAM block at one network call, and where its attention goes (over the frame's tokens, and into the other
  frames through MFSA).
- :func:`memory_read_off`, :func:`memory_effect`: the full model with and without its CaTeGory memory read.
- :func:`xt_slice`: one row of every frame of a video, stacked over time.

The ``measure_*`` functions are the fixed, cached measurements that the prediction exercises 4.3, 5.3 and 6.3
check against (``seeclear_lite.kit.exercises``); a notebook that calls them with the same arguments shows the very
numbers the check used.
"""

from __future__ import annotations

import math
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import torch
import torch.nn.functional as F
from einops import rearrange

from ..blocks.window_attention import window_partition
from ..data.io import quantize, write_image
from ..data.samples import VALIDATION_CLIP, load_sample_clip
from ..diffusion import BlurringResShift
from ..metrics import psnr
from ..training.checkpoint import SHIPPED_CHECKPOINT, load_model
from ..training.sampling import sample_clip
from ..utils.ranges import to_diffusion_range, to_image_range

__all__ = ["SHIPPED", "shipped_checkpoint", "load_shipped", "sample_crop", "crop_dataset", "ChainRun", "chain_run",
           "capture_incam", "token_attention", "segment_ids", "incam_stats", "memory_read_off", "memory_effect",
           "memory_pairs", "xt_slice", "measure_first_vs_chain", "measure_incam_attention", "measure_memory_effect"]

#: The shipped checkpoints by role.
SHIPPED = {"full": "small.pt", "baseline": "small_baseline.pt"}


def shipped_checkpoint(kind: str = "full", fallback: bool = False) -> Path:
    """The path of the shipped ``kind`` model ("full" or "baseline"); with ``fallback``, the full model when the
    baseline file is missing."""
    if kind not in SHIPPED:
        raise ValueError(f"kind must be one of {sorted(SHIPPED)}, got {kind!r}.")
    path = SHIPPED_CHECKPOINT.parent / SHIPPED[kind]
    if not path.is_file() and fallback and kind != "full":
        return shipped_checkpoint("full")
    if not path.is_file():
        raise FileNotFoundError(f"the shipped model {path} is missing: it is committed with the kit (git checkout "
                                f"data/checkpoints/{SHIPPED[kind]}), or pass another checkpoint.")
    return path


@lru_cache(maxsize=6)
def _load(path: str, mtime_ns: int, device: str):
    model, cfg, ckpt = load_model(path, device=torch.device(device))
    return model, cfg


def load_shipped(kind_or_path="full", device="cpu"):
    """``(model, cfg)`` of a shipped model ("full", "baseline") or of a checkpoint path: EMA weights, eval mode,
    cached per (file, modification time, device), so a replaced file is read again."""
    path = Path(kind_or_path) if str(kind_or_path) not in SHIPPED else shipped_checkpoint(kind_or_path)
    path = path.resolve()
    return _load(str(path), path.stat().st_mtime_ns, str(torch.device(device)))


def _centre(size: int, crop: int, align: int = 1) -> int:
    return max(0, (size - crop) // 2) // align * align


def sample_crop(clip: str = VALIDATION_CLIP, frames: int = 5, lr_size: int | None = 16, first: int = 0,
                top: int | None = None, left: int | None = None, scale: int = 4):
    """``(lr [n, 3, s, s], gt [n, 3, 4s, 4s])`` in [0, 1]: frames ``first`` .. ``first + frames - 1`` of a committed
    sample clip, an LR crop of ``lr_size`` pixels (None = whole frames; default position: the centre) and the GT
    crop it came from."""
    lr = load_sample_clip(clip, "BIx4")[first:first + frames]
    gt = load_sample_clip(clip, "GT")[first:first + frames]
    if lr.shape[0] < frames:
        raise ValueError(f"{clip} has {lr.shape[0] + first} frames; asked for frames {first}..{first + frames - 1}.")
    if lr_size is None:
        return lr, gt
    h, w = lr.shape[-2:]
    if lr_size > min(h, w):
        raise ValueError(f"lr_size={lr_size} is larger than {clip}'s LR frames ({h}×{w}).")
    y0 = _centre(h, lr_size) if top is None else top
    x0 = _centre(w, lr_size) if left is None else left
    return (lr[..., y0:y0 + lr_size, x0:x0 + lr_size],
            gt[..., scale * y0:scale * (y0 + lr_size), scale * x0:scale * (x0 + lr_size)])


def crop_dataset(root, clip: str = VALIDATION_CLIP, frames: int = 5, lr_size: int | None = 16, **where) -> Path:
    """Write :func:`sample_crop` as a BasicSR folder ``root/GT/<clip>/%08d.png`` + ``root/BIx4/<clip>/`` (what
    ``tradeoff`` and ``evaluate`` read); returns ``root``."""
    root = Path(root)
    lr, gt = sample_crop(clip, frames, lr_size, **where)
    for i in range(lr.shape[0]):
        write_image(root / "GT" / clip / f"{i:08d}.png", gt[i])
        write_image(root / "BIx4" / clip / f"{i:08d}.png", lr[i])
    return root


def _device(model) -> torch.device:
    return next(model.parameters()).device


def _frames01(x: torch.Tensor) -> torch.Tensor:
    """[-1, 1] -> 8-bit frames in [0, 1] on the CPU (how the kit scores every output)."""
    return quantize(to_image_range(x.float()).clamp(0, 1)).cpu()


@dataclass
class ChainRun:
    """One reverse chain of a clip: ``steps`` (T .. 1 as visited), ``predictions[i]`` = x̂0 at ``steps[i]``, 8-bit
    frames ``[n, 3, H, W]`` in [0, 1] (the last one is the chain's output), ``psnr[i]`` its PSNR (dB, RGB, mean over
    the frames), and the bicubic frames and GT of the same crop."""

    steps: list
    predictions: list
    psnr: list
    bicubic: torch.Tensor
    gt: torch.Tensor
    psnr_bicubic: float
    label: str = ""

    @property
    def first(self) -> torch.Tensor:
        """x̂0(x_T): the network's first estimate, one call."""
        return self.predictions[0]

    @property
    def output(self) -> torch.Tensor:
        """The chain's output, x̂0 at its last step."""
        return self.predictions[-1]


@torch.no_grad()
def chain_run(model, cfg, lr: torch.Tensor, gt: torch.Tensor, seed: int = 0, steps=None, label: str = "") -> ChainRun:
    """Sample one clip ``lr [n, 3, h, w]`` with the checkpoint's default chain (``steps``: None = the configured
    default, else k network calls) through ``sample_clip`` and keep every step's x̂0."""
    device = _device(model)
    diffusion = BlurringResShift.from_config(cfg.diffusion)
    kept = {}
    sample_clip(model, diffusion, lr[None].to(device), form=cfg.diffusion.form,
                generator=torch.Generator(device=device).manual_seed(seed),
                steps=steps if steps is not None else cfg.diffusion.steps, noise=cfg.diffusion.noise,
                callback=lambda t, x_t, x0_hat: kept.__setitem__(int(t), _frames01(x0_hat[0])))
    order = sorted(kept, reverse=True)
    gt = gt.float().cpu()
    bic = _frames01(diffusion.upsample_lr(to_diffusion_range(lr.float())))
    return ChainRun(order, [kept[t] for t in order], [psnr(kept[t], gt).mean().item() for t in order], bic, gt,
                    psnr(bic, gt).mean().item(), label)


# ------------------------------------------------------------------------------------------ InCAM, trained
@dataclass
class InCAMCapture:
    """The inputs of every InCAM block at one network call: ``ca[name]`` of its cross-attention (Eqs. 12–13),
    ``mfsa[name]`` of its MFSA (Eq. 15), ``blocks[name]`` the block; names ``middle j`` and ``decoder k`` (k = 0 is
    the deepest level); ``cond`` the clip's condition (tokens O, segmentation features P, clip tokens O_c)."""

    cond: object
    blocks: dict = field(default_factory=dict)
    ca: dict = field(default_factory=dict)
    mfsa: dict = field(default_factory=dict)
    t: int = 0


@torch.no_grad()
def capture_incam(model, cfg, lr: torch.Tensor, seed: int = 0) -> InCAMCapture:
    """Run the network once on the clip ``lr [n, 3, h, w]`` at its first step (t = T, x_T drawn from the prior as
    the sampler draws it) and keep what every InCAM block's cross-attention and MFSA received."""
    if model.incam is None:
        raise ValueError("this model has no InCAM (the baseline): load the full model.")
    device = _device(model)
    diffusion = BlurringResShift.from_config(cfg.diffusion)
    lr = lr[None].to(device)
    y = diffusion.upsample_lr(to_diffusion_range(lr))
    cond = model.condition(lr, y)
    cap = InCAMCapture(cond, t=diffusion.T)
    named = [(f"middle {j}", b) for j, b in enumerate(model.incam.middle)] + \
            [(f"decoder {k}", b) for k, b in enumerate(model.incam.decoder)]
    hooks = []
    for name, block in named:
        cap.blocks[name] = block
        for part, store in (("cross_attention", cap.ca), ("mfsa", cap.mfsa)):
            module = getattr(block, part)
            if module is not None:
                hooks.append(module.register_forward_pre_hook(
                    lambda mod, args, store=store, name=name: store.__setitem__(name, args[0].detach())))
    try:
        x_t = diffusion.from_freq(diffusion.prior_sample(y, torch.Generator(device=device).manual_seed(seed)))
        t = torch.full((1,), diffusion.T, dtype=torch.long, device=device)
        model(diffusion.scale_model_input(x_t, diffusion.T), y, t, cond)
    finally:
        for h in hooks:
            h.remove()
    return cap


@torch.no_grad()
def token_attention(block, f: torch.Tensor, cond) -> torch.Tensor:
    """The cross-attention probabilities of one InCAM block (Eqs. 12–13): how every pixel of f ``[B·N, C, h, w]``
    splits its attention over its frame's k tokens, ``[B·N, heads, h, w, k]`` (each pixel's k weights sum to 1)."""
    ca = block.cross_attention
    n = cond.n_frames
    x = f.flatten(2).transpose(1, 2)                                       # [B·N, h·w, C]
    ctx = ca.context(cond, f.shape[0] // n, n).to(f)
    w = ca.attn.weights(ca.norm(x), ctx)                                   # [B·N, heads, h·w, k]
    return w.unflatten(2, f.shape[-2:])


def segment_ids(cond, size) -> torch.Tensor:
    """Each pixel's segment at the feature size ``size`` = (h, w): the argmax of the k soft assignment channels of
    P (the segments the k tokens describe), ``[B·N, h, w]``; token j of a frame describes segment j."""
    k = cond.tokens.shape[2]
    p = cond.seg.flatten(0, 1)[:, :k].float()
    if tuple(p.shape[-2:]) != tuple(size):
        p = F.interpolate(p, size=tuple(size), mode="bilinear", align_corners=False)
    return p.argmax(1)


@torch.no_grad()
def _mfsa_stats(mfsa, f: torch.Tensor, cond, seg: torch.Tensor) -> dict:
    """Where MFSA's attention goes (all queries at once, from its own windows, mask and bias): the share that goes
    to the other frames of the window, the share of that on the query's own segment, and that share if the
    attention were uniform over the window (chance)."""
    x, windows, mask, (B, N, C, h, w, win, shifts, size) = mfsa._windows(f, cond)
    probs = mfsa.attn.weights(windows, attn_mask=mask).mean(2)             # [B, nW, L, L], mean over heads
    ids = rearrange(seg, "(b n) h w -> b n h w", n=N)[..., None].float()
    ids = F.pad(ids, (0, 0, 0, size[2] - w, 0, size[1] - h, 0, size[0] - N), value=-1.0)
    ids = torch.roll(ids, shifts=tuple(-s for s in shifts), dims=(1, 2, 3))
    ids = window_partition(ids, win)[..., 0].unflatten(0, (B, -1))         # [B, nW, L]
    frame = torch.arange(win[0] * win[1] * win[2], device=f.device) // (win[1] * win[2])
    other = (frame[:, None] != frame[None, :]).float()                     # [L, L]: key in another frame
    same = (ids[..., :, None] == ids[..., None, :]).float()                # [B, nW, L, L]
    valid = (ids >= 0).float()
    keys = valid[..., None, :]
    mass_other = (probs * other).sum(-1)
    own = (probs * other * same).sum(-1) / mass_other.clamp_min(1e-12)
    chance = (other * same * keys).sum(-1) / (other * keys).sum(-1).clamp_min(1)
    q = valid.bool()
    uniform = ((other * keys).sum(-1) / keys.sum(-1).clamp_min(1))[q].mean().item()
    return {"mass_other": mass_other[q].mean().item(), "mass_other_uniform": uniform,
            "own_segment": own[q].mean().item(), "own_segment_chance": chance[q].mean().item(), "window": win}


@torch.no_grad()
def incam_stats(cap: InCAMCapture) -> dict:
    """Per InCAM block: the features' size; for the cross-attention, the mean weight a pixel puts on its own
    segment's token (``own_token``, uniform = 1/k), the normalised entropy of its k weights (``entropy``, 1 = even,
    0 = one token) and its largest weight (``top``); for MFSA, :func:`_mfsa_stats`. Averages over pixels, heads
    and frames."""
    out = {}
    k = cap.cond.tokens.shape[2]
    for name, block in cap.blocks.items():
        row = {}
        f = cap.ca.get(name)
        if f is not None:
            w = token_attention(block, f, cap.cond)                        # [B·N, heads, h, w, k]
            ids = segment_ids(cap.cond, f.shape[-2:])[:, None, ..., None].expand(*w.shape[:-1], 1)
            row.update(size=tuple(f.shape[-2:]), own_token=torch.gather(w, -1, ids).mean().item(),
                       entropy=(-(w * w.clamp_min(1e-12).log()).sum(-1) / math.log(k)).mean().item(),
                       top=w.amax(-1).mean().item(), k=k)
        g = cap.mfsa.get(name)
        if g is not None:
            row["mfsa"] = _mfsa_stats(block.mfsa, g, cap.cond, segment_ids(cap.cond, g.shape[-2:]))
            row.setdefault("size", tuple(g.shape[-2:]))
        out[name] = row
    return out


# ------------------------------------------------------------------------------------------ CaTeGory, trained
@contextmanager
def memory_read_off(model):
    """Inside the block, the full model runs without CaTeGory: no memory read in the decoder (Eq. 20) and no update
    (``model.memory`` is None, as in a model built without it; the weights are untouched and restored after)."""
    memory = model.memory
    model.memory = None
    try:
        yield model
    finally:
        model.memory = memory


def memory_pairs(model) -> dict:
    """The learned pairs of the full model's CaTeGory and how far training moved them: C̄ ``[J, I, I]``, T̄
    ``[J, I, d_T]``, the mean |C̄ − I| (the kit initialises C̄ at the identity), the mean row norm of T̄ against its
    initial scale (init_std·√d_T), and the LayerScale γ of every decoder level's read (its initial value beside)."""
    cat = model.memory
    if cat is None:
        raise ValueError("this model has no CaTeGory memory (the baseline): load the full model.")
    C, T = cat.C.detach().float().cpu(), cat.T.detach().float().cpu()
    s = cat.sizes
    return {"C": C, "T": T, "C_minus_identity": (C - torch.eye(C.shape[-1])).abs().mean().item(),
            "T_row_norm": T.norm(dim=-1).mean().item(), "T_row_norm_init": s.init_std * math.sqrt(s.texture_dim),
            "gamma": [q.gamma.detach().abs().mean().item() for q in cat.level_queries],
            "gamma_init": s.layer_scale_init}


@torch.no_grad()
def memory_effect(model, cfg, lr: torch.Tensor, gt: torch.Tensor | None = None, seed: int = 0, steps=None) -> dict:
    """The full model on one clip ``lr [n, 3, h, w]`` with and without its memory read (same seed, same noise):
    the mean and largest |difference| of the two outputs in 8-bit grey levels, each output's PSNR (with ``gt``),
    the read's relative change of the decoder features ‖F̃ − F̄‖ / ‖F̄‖ per level at the first step, and the
    attention A (Eq. 19) of the clip's tokens over the items with its normalised entropy (1 = even)."""
    if model.memory is None:
        raise ValueError("this model has no CaTeGory memory (the baseline): load the full model.")
    device = _device(model)
    diffusion = BlurringResShift.from_config(cfg.diffusion)
    clip = lr[None].to(device)
    kw = dict(form=cfg.diffusion.form, steps=steps if steps is not None else cfg.diffusion.steps,
              noise=cfg.diffusion.noise)
    rel, hooks = {}, []

    def keep(level):
        def hook(module, args, out):           # the first call only (t = T); returns None: the output is kept
            rel.setdefault(level, ((out - args[0]).norm() / args[0].norm().clamp_min(1e-12)).item())
        return hook

    for level, q in enumerate(model.memory.level_queries):
        hooks.append(q.register_forward_hook(keep(level)))
    try:
        sr_with, _ = sample_clip(model, diffusion, clip, generator=torch.Generator(device=device).manual_seed(seed), **kw)
    finally:
        for h in hooks:
            h.remove()
    with memory_read_off(model):
        sr_without, _ = sample_clip(model, diffusion, clip, generator=torch.Generator(device=device).manual_seed(seed),
                                    **kw)
    a, b = quantize(sr_with[0]).cpu(), quantize(sr_without[0]).cpu()
    diff = 255 * (a - b).abs()
    y = diffusion.upsample_lr(to_diffusion_range(clip))
    o = model.memory.semantics(model.condition(clip, y).clip_tokens)
    A = model.memory.attention(o, model.memory.C[None]).cpu()
    items = A.shape[-1]
    out = {"mean_abs": diff.mean().item(), "max_abs": diff.max().item(), "relative_feature_change": rel,
           "A": A[0], "A_entropy": (-(A * A.clamp_min(1e-12).log()).sum(-1) / math.log(items)).mean().item(),
           "with": a, "without": b, "steps": len(diffusion.chain_steps(kw["steps"]))}
    if gt is not None:
        out["psnr_with"] = psnr(a, gt.float().cpu()).mean().item()
        out["psnr_without"] = psnr(b, gt.float().cpu()).mean().item()
    return out


def xt_slice(video: torch.Tensor, row: int) -> torch.Tensor:
    """A temporal profile: row ``row`` of every frame of ``video [T, 3, H, W]`` stacked over time, ``[T, W, 3]``
    (time runs down when shown with ``imshow``)."""
    return video[:, :, row, :].permute(0, 2, 1).clamp(0, 1).cpu()


# ------------------------------------------------------------------------------------------ fixed measurements
def _stamp(path: Path) -> tuple[str, int]:
    path = Path(path).resolve()
    return str(path), path.stat().st_mtime_ns


@lru_cache(maxsize=4)
def _first_vs_chain(path: str, mtime_ns: int, clip: str, frames: int, lr_size: int, seed: int) -> ChainRun:
    model, cfg = load_shipped(path)
    lr, gt = sample_crop(clip, frames, lr_size)
    return chain_run(model, cfg, lr, gt, seed, steps=cfg.diffusion.T, label=Path(path).name)


def measure_first_vs_chain(clip: str = VALIDATION_CLIP, frames: int = 2, lr_size: int = 32, seed: int = 0,
                           checkpoint=None) -> ChainRun:
    """Exercise 4.3's measurement: the shipped Pixel Condenser (``small_baseline.pt``; the full model if it is
    missing) samples a centre crop of ``clip`` with the full chain of all T steps (not its shorter default); every
    step's x̂0 is scored. Cached."""
    path = Path(checkpoint) if checkpoint is not None else shipped_checkpoint("baseline", fallback=True)
    return _first_vs_chain(*_stamp(path), clip, frames, lr_size, seed)


@lru_cache(maxsize=4)
def _incam_attention(path: str, mtime_ns: int, clip: str, frames: int, seed: int):
    model, cfg = load_shipped(path)
    lr, _ = sample_crop(clip, frames, None)
    cap = capture_incam(model, cfg, lr, seed)
    return cap, incam_stats(cap)


def measure_incam_attention(clip: str = "train_bbb", frames: int = 5, seed: int = 0, checkpoint=None):
    """Exercise 5.3's measurement: ``(capture, stats)`` of the shipped full model's InCAM blocks at its first
    network call on the first ``frames`` LR frames of ``clip`` (whole frames). Cached."""
    path = Path(checkpoint) if checkpoint is not None else shipped_checkpoint("full")
    return _incam_attention(*_stamp(path), clip, frames, seed)


@lru_cache(maxsize=4)
def _memory_effect(path: str, mtime_ns: int, clip: str, frames: int, lr_size: int, seed: int) -> dict:
    model, cfg = load_shipped(path)
    lr, gt = sample_crop(clip, frames, lr_size)
    return memory_effect(model, cfg, lr, gt, seed)


def measure_memory_effect(clip: str = VALIDATION_CLIP, frames: int = 5, lr_size: int = 16, seed: int = 0,
                          checkpoint=None) -> dict:
    """Exercise 6.3's measurement: :func:`memory_effect` of the shipped full model on a centre crop of the first
    ``frames`` frames of ``clip``, its default chain. Cached."""
    path = Path(checkpoint) if checkpoint is not None else shipped_checkpoint("full")
    return _memory_effect(*_stamp(path), clip, frames, lr_size, seed)
