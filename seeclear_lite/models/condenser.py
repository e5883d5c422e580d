"""The Pixel Condenser: SeeClear's attention-based wavelet U-Net (Sec. 3.1, App. C, Fig. 8,
Algorithm 1 lines 11-23 and 40). Without semantics it is the baseline of Table 2, row 1.

``x0_hat = PixelCondenser(cfg)(x_t, y, t, cond=None)``:

1. ``x_t`` (the noisy state, pixel domain, diffusion range [-1, 1]) is divided by ``3 kappa sqrt(eta_t) + 1``
   (ResShift's pixel-mode ``_scale_input``, the 3-sigma rule: it keeps the input's range about [-1, 1]
   at every t, whatever the noise level).
2. Both frames are reflect-padded to ``cfg.pad_multiple`` and split into Haar sub-bands (Eq. 7):
   ``f0 = Conv3x3(cat(DWT(x_t), DWT(y)))`` (App. C: the LR frames are concatenated with u_t, then a conv).
3. Encoder, ``cfg.levels`` levels (4 in the paper): a :class:`~seeclear_lite.blocks.CondenserUnit`
   (ResBlock(t), window attention, ResBlock(t), channel attention), then a wavelet downsample after every
   level but the last (LL goes on, the high bands go to a skip). Levels 2.. first concatenate the
   wavelet-downsampled LR pyramid (Algorithm 1 line 16).
4. Middle: ``cfg.middle_blocks`` units (3), each preceded by its ``middle_hooks[j]`` (InCAM plugs in here).
5. Decoder, deepest level first: wavelet upsample with the skipped high bands (not for the deepest
   level), ``decoder_hooks[k]`` (InCAM), concatenate the encoder's feature of that level (U-Net skip),
   a unit, ``memory_hooks[k]`` (CaTeGory); each level's output is appended to ``cond.decoder_feats``.
6. GroupNorm, SiLU, Conv3x3 (zero-initialised, so at initialisation ``x0_hat == y``: the bicubic frame),
   IDWT, plus ``y`` (x0 prediction as a residual on the upsampled LR frames, Algorithm 1 line 40), cropped
   back to the input size.

Frames of a clip ``[B, N, C, H, W]`` are processed as a batch of B*N images in every 2-D block.
"""

from __future__ import annotations

from typing import Callable

import torch
import torch.nn.functional as F
from torch import nn

from ..blocks import CondenserUnit, LRPyramid, TimestepEmbedding, WaveletDownsample, WaveletUpsample, group_norm
from ..wavelet import crop_to, dwt2, idwt2, pad_to_multiple
from .conditioning import Conditioning, IdentityHook
from .config import ModelConfig, get_config, resshift_sqrt_eta

#: ``factory(index, channels) -> nn.Module`` building one hook; ``index`` counts middle blocks / decoder
#: levels from 0 (decoder: deepest level first), ``channels`` is the width of ``f`` at that point.
HookFactory = Callable[[int, int], nn.Module]


class PixelCondenser(nn.Module):
    """The wavelet attention U-Net; ``forward(x_t, y, t, cond=None) -> x0_hat`` (shape of ``x_t``).

    Args:
        config: a :class:`ModelConfig` or the name of one (``"tiny"``, ``"base"``, ``"paper"``).
        middle_hook_factory, decoder_hook_factory, memory_hook_factory: optional :data:`HookFactory`
            for the semantic modules; None = :class:`IdentityHook` (the baseline).
        clip_token_builder: optional module, ``cond.clip_tokens = builder(cond)`` once per forward.
        extras: optional named modules owned by plugins (e.g. a memory updater), counted by name in
            :meth:`parameter_counts`.
    """

    def __init__(self, config: ModelConfig | str = "tiny", *, middle_hook_factory: HookFactory | None = None,
                 decoder_hook_factory: HookFactory | None = None, memory_hook_factory: HookFactory | None = None,
                 clip_token_builder: nn.Module | None = None, extras: dict | None = None):
        super().__init__()
        cfg = get_config(config) if isinstance(config, str) else config
        if not isinstance(cfg, ModelConfig):
            raise TypeError(f"config must be a ModelConfig or a config name, got {type(config).__name__}.")
        self.config = cfg
        widths, emb_dim, n_lev = cfg.widths, cfg.emb_dim, cfg.levels

        sqrt_eta = resshift_sqrt_eta(cfg.T, cfg.kappa, cfg.eta_power, cfg.min_noise_level, cfg.etas_end)
        scale = 3.0 * cfg.kappa * sqrt_eta + 1.0 if cfg.normalize_input else torch.ones(cfg.T, dtype=torch.float64)
        self.register_buffer("input_scale", scale.float(), persistent=False)  # [T]; t is 1-based

        self.time_embed = TimestepEmbedding(cfg.channels, emb_dim)
        self.conv_in = nn.Conv2d(2 * cfg.band_channels, widths[0], 3, padding=1)
        self.lr_pyramid = LRPyramid(cfg.band_channels, cfg.lr_channels, steps=n_lev - 1)

        unit = lambda cin, cout, i: CondenserUnit(cin, cout, emb_dim, cfg.heads(cout), cfg.window,  # noqa: E731
                                                  shift=bool(i % 2), mlp_ratio=cfg.mlp_ratio, dropout=cfg.dropout)
        self.encoder = nn.ModuleList()
        for i, w in enumerate(widths):
            cin = widths[0] if i == 0 else widths[i - 1] + cfg.lr_channels
            self.encoder.append(unit(cin, w, i))
        self.down = WaveletDownsample()
        self.middle = nn.ModuleList(unit(widths[-1], widths[-1], j) for j in range(cfg.middle_blocks))
        # decoder, deepest level first: level = n_lev - 1 - k
        self.ups = nn.ModuleList(WaveletUpsample(widths[lv + 1], widths[lv]) for lv in reversed(range(n_lev - 1)))
        self.decoder = nn.ModuleList(unit(2 * widths[lv], widths[lv], k)
                                     for k, lv in enumerate(reversed(range(n_lev))))
        self.norm_out = group_norm(widths[0])
        self.conv_out = nn.Conv2d(widths[0], cfg.band_channels, 3, padding=1)
        nn.init.zeros_(self.conv_out.weight)  # x0_hat == y at initialisation
        nn.init.zeros_(self.conv_out.bias)

        def hooks(factory, channels):
            return nn.ModuleList(IdentityHook() if factory is None else factory(i, c) for i, c in enumerate(channels))

        dec_widths = [widths[lv] for lv in reversed(range(n_lev))]
        self.middle_hooks = hooks(middle_hook_factory, [widths[-1]] * cfg.middle_blocks)
        self.decoder_hooks = hooks(decoder_hook_factory, dec_widths)
        self.memory_hooks = hooks(memory_hook_factory, dec_widths)
        self.clip_token_builder = clip_token_builder
        self.extras = nn.ModuleDict(extras or {})

    # ------------------------------------------------------------------------------------------------
    def _check_inputs(self, x_t, y, t):
        cfg = self.config
        for name, v in (("x_t", x_t), ("y", y)):
            if not isinstance(v, torch.Tensor):
                raise TypeError(f"{name} must be a torch.Tensor, got {type(v).__name__}.")
            if v.dim() not in (4, 5):
                raise ValueError(f"{name} must be [B, C, H, W] frames or [B, N, C, H, W] clips, got shape "
                                 f"{tuple(v.shape)}.")
            if v.shape[-3] != cfg.in_channels:
                raise ValueError(f"{name} has {v.shape[-3]} channels but the config {cfg.name!r} expects "
                                 f"in_channels={cfg.in_channels} (dim -3 of [B, (N,) C, H, W]).")
        if x_t.shape != y.shape:
            raise ValueError(f"x_t {tuple(x_t.shape)} and y {tuple(y.shape)} must have the same shape: y is "
                             f"the LR frames upsampled to the HR size.")
        b = x_t.shape[0]
        if not isinstance(t, torch.Tensor):
            t = torch.tensor(t)
        if t.is_floating_point() or t.is_complex():
            raise TypeError(f"t must hold integer diffusion steps 1..{cfg.T} (a LongTensor), got dtype {t.dtype}.")
        t = t.to(x_t.device).long().reshape(-1)
        if t.numel() == 1:
            t = t.expand(b)
        if t.numel() != b:
            raise ValueError(f"t must have one step per clip: {b} values, got {t.numel()}.")
        # the range check reads t's values (a host sync on CUDA); under torch.compile it would split the graph,
        # so compiled calls skip it (the sampler and the training step only ever pass 1..T)
        # (meta tensors, used to count FLOPs, have no values to check)
        if not torch.compiler.is_compiling() and not t.is_meta and (int(t.min()) < 1 or int(t.max()) > cfg.T):
            raise ValueError(f"t must be in 1..{cfg.T} (1-based, as in the paper), got values "
                             f"{int(t.min())}..{int(t.max())}.")
        return t

    def forward(self, x_t: torch.Tensor, y: torch.Tensor, t, cond: Conditioning | None = None,
                trace: list | None = None) -> torch.Tensor:
        """``x_t, y [B, C, H, W] or [B, N, C, H, W]`` (diffusion range), ``t`` LongTensor[B] in 1..T
        -> ``x0_hat`` shaped like ``x_t``. ``trace`` (a list) collects ``(name, shape)`` for teaching."""
        cfg = self.config
        t = self._check_inputs(x_t, y, t)
        shape = x_t.shape
        n = shape[1] if x_t.dim() == 5 else 1
        if cond is None:
            cond = Conditioning(n_frames=n)
        elif cond.n_frames != n:
            raise ValueError(f"cond.n_frames={cond.n_frames} but the input has {n} frames per clip.")
        cond.decoder_feats = []
        log = (lambda name, v: trace.append((name, tuple(v.shape)))) if trace is not None else (lambda *_: None)

        x = x_t.reshape(-1, *shape[-3:])
        yy = y.reshape(-1, *shape[-3:])
        t_frames = t.repeat_interleave(n)                        # one step per frame
        x = x / self.input_scale[t_frames - 1].to(x.dtype)[:, None, None, None]
        x, size = pad_to_multiple(x, cfg.pad_multiple)
        yy, _ = pad_to_multiple(yy, cfg.pad_multiple)
        log("padded input", x)
        y_bands = dwt2(yy, cfg.dwt_levels)
        h = self.conv_in(torch.cat([dwt2(x, cfg.dwt_levels), y_bands], dim=1))
        log("conv_in(cat(DWT(x_t), DWT(y)))", h)
        emb = self.time_embed(t_frames)
        if self.clip_token_builder is not None:
            cond.clip_tokens = self.clip_token_builder(cond)

        pyramid = self.lr_pyramid(y_bands)
        skips, highs = [], []
        for i, unit in enumerate(self.encoder):
            if i > 0:
                h = torch.cat([h, pyramid[i - 1]], dim=1)
            h = unit(h, emb)
            log(f"encoder level {i + 1}", h)
            skips.append(h)
            if i < len(self.encoder) - 1:
                h, hi = self.down(h)
                highs.append(hi)
                log(f"  wavelet downsample {i + 1}: LL", h)
        for j, (hook, block) in enumerate(zip(self.middle_hooks, self.middle)):
            h = block(hook(h, cond), emb)
            log(f"middle block {j + 1}", h)
        n_lev = len(self.decoder)
        for k, (dhook, unit, mhook) in enumerate(zip(self.decoder_hooks, self.decoder, self.memory_hooks)):
            lv = n_lev - 1 - k
            if k > 0:
                h = self.ups[k - 1](h, highs[lv])
                log(f"  wavelet upsample to level {lv + 1}", h)
            h = dhook(h, cond)
            h = mhook(unit(torch.cat([h, skips[lv]], dim=1), emb), cond)
            cond.decoder_feats.append(h)
            log(f"decoder level {lv + 1}", h)
        out = self.conv_out(F.silu(self.norm_out(h)))
        log("conv_out (sub-bands)", out)
        x0 = crop_to(idwt2(out, cfg.dwt_levels) + yy, size)    # Algorithm 1 line 40: IDWT(.) + upsampled LR
        log("IDWT + y, cropped", x0)
        return x0.reshape(shape)

    # ------------------------------------------------------------------------------------------------
    def parameter_counts(self) -> dict:
        """``{"condenser": n, "incam": n, "category": n, <extra name>: n, ...}`` (learnable parameters).

        ``incam`` = middle hooks + decoder hooks + clip-token builder + ``extras["incam"]``;
        ``category`` = memory hooks + ``extras["category"]``; other extras by their name; ``condenser`` = the rest.
        Shared parameters are counted once.
        """
        groups = {"incam": [self.middle_hooks, self.decoder_hooks, self.clip_token_builder],
                  "category": [self.memory_hooks]}
        for name, mod in self.extras.items():
            groups.setdefault(name, []).append(mod)
        seen: set = set()
        counts = {}
        for name, mods in groups.items():
            total = 0
            for m in mods:
                if m is None:
                    continue
                for p in m.parameters():
                    if p.requires_grad and id(p) not in seen:
                        seen.add(id(p))
                        total += p.numel()
            counts[name] = total
        counts["condenser"] = sum(p.numel() for p in self.parameters() if p.requires_grad and id(p) not in seen)
        return {"condenser": counts.pop("condenser"), **counts}
