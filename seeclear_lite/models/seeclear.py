"""SeeClear (Sec. 3): the Pixel Condenser, the frozen Semantic Distiller, InCAM and CaTeGory, in Algorithm 1's
order.

One clip of m LR frames is super-resolved by T reverse steps of Blurring ResShift::
    cond = model.condition(lr, y, memory)          # lines 5-7, 24: distil, clip tokens, memory read, LR pyramid
    for t = T .. 1:                                # lines 8-41
        x0_hat = model(diffusion.scale_model_input(x_t, t), y, t, cond)
        x_t = diffusion posterior step (x_t, x0_hat)
    memory = model.update_memory(memory, feats, cond)   # lines 42-44, after the clip's last step

``seeclear_lite.training.sampling`` runs this loop over whole videos and ``seeclear_lite.training.losses``
trains it. With every Table 2 switch off, ``incam`` and ``memory`` are None and SeeClear is the baseline
(row 1): the Pixel Condenser alone, conditioned on the LR frames only.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from einops import rearrange
from torch import nn

from ..config import ModelConfig, get_model_config
from ..memory import CaTeGory, MemoryState
from ..semantics import InCAM, KMeansDistiller, SemanticDistiller
from ..utils.params import count_parameters
from ..wavelet import crop_to, dwt2, idwt2, pad_to_multiple
from .condenser import PixelCondenser


@dataclass
class Condition:
    """What SeeClear computes once per clip and reuses at every diffusion step (Alg. 1 lines 5-7, 16, 24).

    Attributes:
        n_frames: N, frames per clip (the network sees B·N images).
        size: (H, W) of the HR frames before padding.
        y: the upsampled LR frames, padded, ``[B·N, 3, H', W']`` (the residual of line 40).
        y_bands: DWT(y) ``[B·N, 12, H'/2, W'/2]``; ``pyramid``: the LR pyramid maps of encoder levels 2.. (line 16).
        tokens, seg: the distiller's O ``[B, N, k, d]`` and P ``[B, N, c, h', w']`` (Eqs. 8-9), or None.
        clip_tokens: O_c ``[B, K, d]`` (Eq. 14, line 24), or None.
        memory: the CaTeGory memory this clip reads (None = the learned pairs); ``memory_read``: its read
            A_j T_j ``[B, J·K, d_t]`` (Eq. 19), or None.
    """

    n_frames: int
    size: tuple
    y: torch.Tensor
    y_bands: torch.Tensor
    pyramid: list
    tokens: torch.Tensor | None = None
    seg: torch.Tensor | None = None
    clip_tokens: torch.Tensor | None = None
    memory: MemoryState | None = None
    memory_read: torch.Tensor | None = None


def default_distiller(cfg: ModelConfig) -> KMeansDistiller:
    """The kit's offline Semantic Distiller sized for ``cfg`` (k = tokens_k, d = token_dim; P has k + 4 channels)."""
    s = cfg.incam_sizes
    if s.seg_c != s.tokens_k + 4:
        raise ValueError(f"model.incam_sizes.seg_channels={s.seg_c}, but the k-means distiller with tokens_k="
                         f"{s.tokens_k} gives P with {s.tokens_k + 4} channels: set seg_channels to null (or plug "
                         f"in a distiller with c={s.seg_c}).")
    return KMeansDistiller(k=s.tokens_k, d=s.token_dim, n_segments=max(s.tokens_k + 4, int(1.5 * s.tokens_k)))


class SeeClear(nn.Module):
    """``condition`` (once per clip), ``forward`` (one denoising step -> x0_hat), ``update_memory`` (after a clip).

    Children: ``condenser`` (:class:`PixelCondenser`), ``distiller`` (frozen, not trained, not saved; None for
    the baseline), ``incam`` (:class:`~seeclear_lite.semantics.InCAM` or None), ``memory``
    (:class:`~seeclear_lite.memory.CaTeGory` or None).
    """

    def __init__(self, cfg: ModelConfig, distiller: SemanticDistiller | None = None):
        super().__init__()
        if not isinstance(cfg, ModelConfig):
            raise TypeError(f"cfg must be a ModelConfig (or use build_model(name)), got {type(cfg).__name__}.")
        self.config = cfg
        self.condenser = PixelCondenser(cfg)
        incam = cfg.uses_semantic or cfg.uses_mfsa or cfg.uses_clip_tokens
        self.distiller = (distiller or default_distiller(cfg)).freeze() if cfg.needs_semantics else None
        self.incam = InCAM(cfg) if incam else None
        self.memory = CaTeGory(self.condenser.decoder_widths, cfg.incam_sizes.token_dim, cfg.memory_sizes) \
            if cfg.category else None

    # ---------------------------------------------------------------------------- Alg. 1 lines 5-7, 16, 24
    def condition(self, lr: torch.Tensor | None, y: torch.Tensor, memory: MemoryState | None = None,
                  distilled: tuple | None = None) -> Condition:
        """The per-clip context: ``lr [B, N, 3, h, w]`` in [0, 1] (for the distiller; may be None for the
        baseline), ``y [B, N, 3, H, W]`` the upsampled LR frames in [-1, 1], ``memory`` the CaTeGory state.
        ``distilled`` = (O, P) computed elsewhere (cached or precomputed) replaces the distiller call."""
        cfg = self.config
        if y.dim() != 5:
            raise ValueError(f"y must be clips [B, N, 3, H, W], got shape {tuple(y.shape)}.")
        n, size = y.shape[1], tuple(y.shape[-2:])
        yy, _ = pad_to_multiple(rearrange(y, "b n c h w -> (b n) c h w"), cfg.pad_multiple)
        y_bands = dwt2(yy, cfg.dwt_levels)
        cond = Condition(n_frames=n, size=size, y=yy, y_bands=y_bands,
                         pyramid=self.condenser.lr_pyramid(y_bands), memory=memory)
        if self.distiller is None:
            return cond
        if distilled is not None:
            cond.tokens, cond.seg = distilled
        elif lr is None or lr.dim() != 5 or lr.shape[:2] != y.shape[:2]:
            got = None if lr is None else tuple(lr.shape)
            raise ValueError(f"this SeeClear has semantic modules and needs the LR clip [B, N, 3, h, w] for its "
                             f"Semantic Distiller (same B, N as y {tuple(y.shape[:2])}), got {got}.")
        else:
            cond.tokens, cond.seg = self.distiller(lr)                        # Eqs. 8-9, line 7
        if self.incam is not None and self.incam.clip_tokens is not None:
            cond.clip_tokens = self.incam.clip_tokens(cond.tokens)            # Eq. 14, line 24
        if self.memory is not None:
            cond.memory_read = self.memory.read(cond.clip_tokens, memory)     # Eq. 19
        return cond

    # ---------------------------------------------------------------------------------- Alg. 1 lines 8-41
    def forward(self, x_t: torch.Tensor, y: torch.Tensor, t, cond: Condition | None = None,
                return_features: bool = False, trace: list | None = None):
        """One denoising step: ``x_t`` (already scaled by ``diffusion.scale_model_input``) and ``y`` shaped
        ``[B, N, 3, H, W]`` (or ``[B, 3, H, W]``), ``t`` LongTensor[B] in 1..T -> x0_hat shaped like ``x_t``
        (and the decoder features of each level, deepest first, with ``return_features``). ``cond`` comes from
        :meth:`condition`; the baseline builds it from ``y`` when it is None. ``trace`` collects (name, shape)."""
        for name, v in (("x_t", x_t), ("y", y)):
            if not isinstance(v, torch.Tensor):
                raise TypeError(f"{name} must be a torch.Tensor, got {type(v).__name__}.")
        frames = x_t.dim() == 4
        if frames:
            x_t, y = x_t[:, None], y[:, None]
        t = self._check(x_t, y, t)
        if cond is None:
            if self.distiller is not None:
                raise ValueError("this SeeClear has semantic modules: pass cond = model.condition(lr, y, memory).")
            cond = self.condition(None, y)
        n = cond.n_frames
        if x_t.shape[1] != n or tuple(x_t.shape[-2:]) != tuple(cond.size):
            raise ValueError(f"cond was made for clips of {n} frames of {cond.size}, x_t is {tuple(x_t.shape)}.")
        log = (lambda name, v: trace.append((name, tuple(v.shape)))) if trace is not None else (lambda *_: None)
        c, cfg = self.condenser, self.config
        x, _ = pad_to_multiple(rearrange(x_t, "b n c h w -> (b n) c h w"), cfg.pad_multiple)
        emb = c.time_embed(t.repeat_interleave(n))                           # one step per frame
        h = c.conv_in(torch.cat([dwt2(x, cfg.dwt_levels), cond.y_bands], dim=1))   # lines 11-14: [DWT(x_t), DWT(y)]
        log("conv_in(cat(DWT(x_t), DWT(y)))", h)
        skips, highs = [], []
        for i, unit in enumerate(c.encoder):                                 # lines 12-23: encoder E_i
            if i > 0:
                h = torch.cat([h, cond.pyramid[i - 1]], dim=1)               # line 16: [WD(I^LR), f]
            h = unit(h, emb)
            skips.append(h)
            log(f"encoder level {i + 1}", h)
            if i < len(c.encoder) - 1:
                h, hi = c.down(h)                                            # line 19: L, H = WD(f)
                highs.append(hi)
        for j, block in enumerate(c.middle):                                 # lines 25-29: middle blocks B_j
            if self.incam is not None and self.incam.middle:
                h = self.incam.middle[j](h, cond)                            # lines 26-28: G, CA, MFSA
            h = block(h, emb)
            log(f"middle block {j + 1}", h)
        feats = []
        for k, unit in enumerate(c.decoder):                                 # lines 31-39: decoder D_k
            lv = len(c.decoder) - 1 - k
            if k > 0:
                h = c.ups[k - 1](h, highs[lv])                               # line 32: WU with the high bands
            if self.incam is not None and self.incam.decoder:
                h = self.incam.decoder[k](h, cond)                           # lines 33-35: G, CA, MFSA
            h = unit(torch.cat([h, skips[lv]], dim=1), emb)                  # D_k (with the encoder's skip)
            if self.memory is not None:
                h = self.memory.query(k, h, cond.memory_read, n)             # line 37: CA(f, C_m, T_m), Eq. 20
            feats.append(h)
            log(f"decoder level {lv + 1}", h)
        x0 = crop_to(idwt2(c.head(h), cfg.dwt_levels) + cond.y, cond.size)  # line 40: IDWT(f) + I^LR
        x0 = rearrange(x0, "(b n) c h w -> b n c h w", n=n)
        if frames:
            x0 = x0[:, 0]
        return (x0, feats) if return_features else x0

    # ---------------------------------------------------------------------------------- Alg. 1 lines 42-44
    def update_memory(self, memory: MemoryState | None, feats: list, cond: Condition,
                      detach: bool = True) -> MemoryState | None:
        """The memory of the next clip, ``C_{m+1}, T_{m+1} = M(C_m, T_m, feats)`` from the decoder features of
        this clip's last step; None when the model has no CaTeGory. ``detach=False`` keeps the graph (training
        the update across clips)."""
        if self.memory is None:
            return None
        return self.memory.update(memory, feats, cond.clip_tokens, detach=detach)

    # ---------------------------------------------------------------------------------------- bookkeeping
    def _check(self, x_t, y, t) -> torch.Tensor:
        cfg = self.config
        for name, v in (("x_t", x_t), ("y", y)):
            if v.dim() != 5 or v.shape[2] != cfg.in_channels:
                raise ValueError(f"{name} must be [B, C, H, W] frames or [B, N, C, H, W] clips with C = "
                                 f"{cfg.in_channels}, got shape {tuple(v.shape)}.")
        if x_t.shape != y.shape:
            raise ValueError(f"x_t {tuple(x_t.shape)} and y {tuple(y.shape)} must have the same shape: y is "
                             f"the LR frames upsampled to the HR size.")
        t = torch.as_tensor(t, device=x_t.device)
        if t.is_floating_point() or t.is_complex():
            raise TypeError(f"t must hold integer diffusion steps (a LongTensor, 1-based), got dtype {t.dtype}.")
        t = t.long().reshape(-1)
        if t.numel() == 1:
            t = t.expand(x_t.shape[0])
        if t.numel() != x_t.shape[0]:
            raise ValueError(f"t must have one step per clip: {x_t.shape[0]} values, got {t.numel()}.")
        return t

    def trainable(self, part: str) -> list[nn.Parameter]:
        """The parameters a training stage trains (Sec. 4.1): ``condenser`` (everything but CaTeGory: the
        U-Net and InCAM), ``memory`` (CaTeGory) or ``all``. The distiller is frozen and never listed."""
        memory = list(self.memory.parameters()) if self.memory is not None else []
        ids = {id(p) for p in memory}
        rest = [p for n, p in self.named_parameters() if id(p) not in ids and not n.startswith("distiller.")]
        if part not in ("condenser", "memory", "all"):
            raise ValueError(f"part must be 'condenser', 'memory' or 'all', got {part!r}.")
        if part == "memory" and not memory:
            raise ValueError("a stage trains 'memory' but the model has no CaTeGory (model.category is false).")
        return {"condenser": rest, "memory": memory, "all": memory + rest}[part]

    def parameter_counts(self) -> dict:
        """``{"condenser": n, "incam": n, "category": n}``: learnable parameters per part (0 when off)."""
        return {"condenser": count_parameters(self.condenser), "incam": count_parameters(self.incam),
                "category": count_parameters(self.memory)}


def build_model(config: ModelConfig | str = "tiny", **fields) -> SeeClear:
    """A :class:`SeeClear` from a configuration name (any preset of :data:`seeclear_lite.config.PRESETS`, with
    optional :class:`ModelConfig` field overrides) or a :class:`ModelConfig`."""
    if isinstance(config, str):
        return SeeClear(get_model_config(config, **fields))
    if fields:
        raise ValueError("field overrides are only accepted with a configuration name; use "
                         "dataclasses.replace(cfg, ...) on a ModelConfig.")
    return SeeClear(config)
