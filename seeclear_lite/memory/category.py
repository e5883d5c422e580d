"""CaTeGory: the Channel-wise Texture Aggregation Memory (Sec. 3.3, Fig. 3, Eqs. 16–20, Alg. 1 l. 37–45).

SeeClear keeps a small memory of **channel-wise semantics** ``C_j`` and **textures** ``T_j`` for J groups
j. The Pixel Condenser's decoder *reads* it at every level (Eqs. 19–20) and, while a long video is
sampled clip by clip, the memory is *rewritten* after the last diffusion step of each clip from that
clip's multi-scale decoder features (Eqs. 16–18, Alg. 1 lines 42–44), so later clips see what earlier
clips showed.

Shapes and the reading of the equations used here (the paper gives no sizes)
---------------------------------------------------------------------------
* J groups, I items per group, texture width d_t. Clip tokens O_c [B, K, d] (from InCAM, Eq. 14) are
  normalised and projected to J*I channels and "divided into different groups" (Sec. 3.3): group j sees
  I semantic channels o_{k,j} in R^I of every clip token k.
* ``C_j`` in R^{I x I}: column i is item i's *channel-wise semantic* (its key in the group's I channels).
  ``T_j`` in R^{I x d_t}: row i is item i's *texture*. C_j is square because Alg. 1 line 44 feeds M's
  output back into M (``C_{m+1}, T_{m+1} = M(C_m, T_m, feats)``): T̂ = C T must have T's shape.
* **Query, Eq. 19**: ``A_j = Softmax_items(O_c^T C_j / sqrt(I))`` in R^{K x I}: for each clip token, a
  distribution over the group's items, computed along the channel dimension (the paper writes tokens as
  columns, hence the transpose; we add the 1/sqrt(I) temperature of Eq. 13).
  **Eq. 20**: the read tokens ``A_j T_j`` (K per group, J*K in all, width d_t) are the keys/values of a
  multi-head cross-attention whose queries are the pixels of the level's features F̄ (all N frames of the
  clip), ``F̃ = F̄ + gamma * CA(LN(F̄), LN(A T))``; ``gamma`` is a per-channel LayerScale (see below).
* **Construction M, Eqs. 16–18**: ``T̂_j = C̄_j T̄_j`` (Eq. 17, a matrix product) gives, for every
  semantic channel r, the textures of the items that channel belongs to -- Fig. 3's "assembles the
  textures based on the semantic class along the channel dimension"; row r of T̂_j is then item r's
  texture candidate (rows and items share the index, so ``C = identity`` makes T̂ = T̄). Then
  ``T_j = SA(CA(T̂_j, [F̄_1..F̄_L]))`` (Eq. 18) with pre-LayerNorm and FFN after each attention
  ("omitted for brevity" in the paper): the J*I items cross-attend to the concatenated multi-scale decoder
  features of the clip (each level projected to d_t, plus a learned level embedding, each frame's map
  average-pooled to at most ``feat_pool`` x ``feat_pool``), then self-attend within their group. No frame
  or position embedding: the memory stores textures, not layout, so the update does not depend on the
  order of the frames. A final LayerNorm bounds the new textures, so a memory carried over hundreds of
  clips cannot blow up.

Design choices the paper leaves open (stated, with reasons)
----------------------------------------------------------
* **Update of C** (Alg. 1 line 44 writes ``C_{m+1}`` but no rule): a soft k-means step. Each item's key
  moves toward the mean of the clip semantics that read it,
  ``Ĉ_{:,i} = sum_k A_{k,i} o_k / sum_k A_{k,i}``, ``C_{m+1} = (1 - rho_i) C_m + rho_i Ĉ`` with
  ``rho_i = c_momentum * w_i / (w_i + 1)`` and ``w_i = sum_k A_{k,i}`` (a soft count: an item nobody reads
  stays where it is). Why: Sec. 3.3 describes the memory as *clustering* textures by channel-wise
  semantics; this is exactly the clustering update, it keeps C a convex combination of its past and of
  the clip's semantics (bounded, no drift away from what the query projection was trained for), and it
  adds no parameters. ``c_momentum = 0`` keeps C fixed (C then is a purely dataset-level prior).
* **Initialisation**: the paper zero-initialises C̄ and T̄. At (0, 0) the product T̂ = C̄ T̄ is a saddle:
  dT̂ = dC̄ T̄ + C̄ dT̄ = 0, so M passes no gradient to either (training M alone never leaves 0), and the
  query path gives C̄ none either (∂(A T̄)/∂A = 0 when T̄ = 0); only T̄ moves at first, through the
  query's A T̄. We use **C̄_j = identity** (item i starts as semantic channel i, and
  T̂ = T̄: Eq. 17 starts as a no-op bridge that learns to mix) and **T̄ ~ N(0, init_std²)** (small random
  textures break the symmetry between items). Both factors are then non-zero, so both get gradient from
  the first step. ``init="zeros"`` reproduces the paper's init for the demonstration in the tests.
* **LayerScale** ``gamma`` (init ``layer_scale_init``, small but non-zero) on the query's output: the
  paper trains the memory *after* the condenser (Sec. 4.1), so adding it must start close to the identity
  without starving C and T of gradient as a zero gate would.

Integration (the Pixel Condenser's decoder hooks)
--------------------------------------------------
The condenser processes a clip's N frames as B*N images (batch-major: index b*N + n) and at decoder level
``l`` (deepest first) calls ``f = hook(f, cond)``; ``category.query_hook(l)`` is that hook (a
parameter-free :class:`CaTeGoryHook`). ``cond`` needs ``n_frames``, ``clip_tokens`` [B, K, d] and
``memory`` (a :class:`MemoryState`, or None to read the learned parameters, as in single-clip training).
Register the :class:`CaTeGory` itself once in the model (``seeclear_lite.memory.plugin`` does this for
``build_model``). ``category.enabled = False`` makes every hook the exact identity.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, replace
from typing import Iterator, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from .attention import FeedForward, MultiHeadAttention
from .state import MemoryState

#: Named sizes. ``level_channels`` and ``token_dim`` come from the condenser / InCAM configuration.
PRESETS: dict[str, dict] = {
    # CPU smoke tests and notebooks: ~0.04 M parameters with the `tiny` condenser (decoder 40, 20, 20, 10).
    "tiny": dict(groups=4, items=8, texture_dim=32, heads=2, depth=1, ffn_mult=2, feat_pool=8),
    # the model trained on one GPU: ~0.18 M with the `base` condenser (decoder 128, 64, 64, 32), 64-wide
    # tokens; stays <= 0.5 M for decoder widths up to ~256.
    "base": dict(groups=8, items=16, texture_dim=64, heads=4, depth=1, ffn_mult=2, feat_pool=16),
    # the paper's scale (SeeClear has 229.23 M parameters in all, Table 5): ~10.5 M with the `paper`
    # condenser's decoder widths (720, 360, 360, 180) and 256-wide clip tokens.
    "paper": dict(groups=16, items=32, texture_dim=384, heads=8, depth=2, ffn_mult=4, feat_pool=16),
}


@dataclass(frozen=True)
class CaTeGoryConfig:
    """Sizes of the memory. Symbols: J = ``groups``, I = ``items``, d_t = ``texture_dim``.

    Args:
        token_dim: width d of the clip tokens O_c produced by InCAM (Eq. 14).
        level_channels: channels of each decoder level, in the order the condenser calls the hooks
            (Alg. 1 lines 31–39, k = 1..4).
        groups: J, number of channel groups of the clip semantics.
        items: I, items per group (= semantic channels per group; C_j is I x I).
        texture_dim: d_t, width of a texture and of every attention in the module.
        heads: attention heads (must divide ``texture_dim``).
        depth: number of [CA + FFN, SA + FFN] blocks in the construction M (Eq. 18 has one).
        ffn_mult: hidden width of the feed-forward nets, as a multiple of d_t.
        feat_pool: each frame's decoder map is average-pooled to at most this size before M reads it
            (None: no pooling); bounds the cost of the update independently of the frame size.
        c_momentum: rate of the soft k-means update of C (0 keeps C fixed).
        init: ``"identity"`` (C̄ = I, T̄ small random; trains) or ``"zeros"`` (the paper's; see module doc).
        init_std: standard deviation of the random T̄ init.
        layer_scale_init: initial per-channel scale of the memory read added to the features (Eq. 20).
    """

    token_dim: int
    level_channels: tuple[int, ...]
    groups: int = 4
    items: int = 8
    texture_dim: int = 32
    heads: int = 2
    depth: int = 1
    ffn_mult: int = 2
    feat_pool: int | None = 8
    c_momentum: float = 0.1
    init: str = "identity"
    init_std: float = 0.02
    layer_scale_init: float = 0.1

    def __post_init__(self) -> None:
        object.__setattr__(self, "level_channels", tuple(self.level_channels))
        for name in ("token_dim", "groups", "items", "texture_dim", "heads", "depth", "ffn_mult"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ValueError(f"CaTeGoryConfig.{name} must be a positive integer; got {value!r}.")
        if not self.level_channels or any(not isinstance(c, int) or c < 1 for c in self.level_channels):
            raise ValueError("CaTeGoryConfig.level_channels must list the positive channel count of every "
                             f"decoder level (e.g. (128, 64, 64, 32)); got {self.level_channels!r}.")
        if self.texture_dim % self.heads != 0:
            raise ValueError(f"CaTeGoryConfig.texture_dim={self.texture_dim} is not divisible by "
                             f"heads={self.heads}: pick a texture_dim that is a multiple of heads.")
        if self.feat_pool is not None and (not isinstance(self.feat_pool, int) or self.feat_pool < 1):
            raise ValueError(f"CaTeGoryConfig.feat_pool must be None or a positive integer; got {self.feat_pool!r}.")
        if not 0.0 <= self.c_momentum <= 1.0:
            raise ValueError(f"CaTeGoryConfig.c_momentum must lie in [0, 1] (0 = C fixed); got {self.c_momentum}.")
        if self.init not in ("identity", "zeros"):
            raise ValueError(f"CaTeGoryConfig.init must be 'identity' (trains) or 'zeros' (the paper's, "
                             f"see the module docstring); got {self.init!r}.")

    @classmethod
    def preset(cls, name: str, *, token_dim: int, level_channels: Sequence[int], **overrides) -> "CaTeGoryConfig":
        """A named size (``tiny``, ``base``, ``paper``) for the given clip-token width and decoder widths."""
        if name not in PRESETS:
            raise ValueError(f"Unknown CaTeGory preset {name!r}: use one of {sorted(PRESETS)}.")
        return cls(token_dim=token_dim, level_channels=tuple(level_channels), **{**PRESETS[name], **overrides})

    def to_dict(self) -> dict:
        return asdict(self)


def count_parameters(module: nn.Module, trainable_only: bool = False) -> int:
    """Number of parameters of ``module`` (each shared tensor once)."""
    return sum(p.numel() for p in module.parameters() if p.requires_grad or not trainable_only)


class MemoryQueryHook(nn.Module):
    """Eq. 20 at one decoder level: ``F̃ = F̄ + gamma * CA(LN(F̄), LN(A T))``.

    Owns the level's cross-attention: queries from the ``channels``-wide pixel features of all N frames
    of a clip, keys/values from the d_t-wide memory read ``A T`` of Eq. 19 (computed by
    :meth:`CaTeGory.read`). ``forward(f, read, n_frames)``; the condenser does not call it directly but
    through the hook ``category.query_hook(level)``.
    """

    def __init__(self, channels: int, texture_dim: int, heads: int, layer_scale_init: float):
        super().__init__()
        self.channels = channels
        self.norm = nn.LayerNorm(channels)
        self.memory_norm = nn.LayerNorm(texture_dim)
        self.attn = MultiHeadAttention(channels, texture_dim, texture_dim, heads, out_dim=channels)
        self.gamma = nn.Parameter(torch.full((channels,), float(layer_scale_init)))

    def forward(self, f: torch.Tensor, read: torch.Tensor, n_frames: int) -> torch.Tensor:
        """Features ``f`` [B*N, C, h, w] (batch-major frames), memory read [B, J*K, d_t] -> [B*N, C, h, w]."""
        _check_level_features(f, self.channels, read.shape[0], n_frames, "the decoder feature map")
        bn, c, h, w = f.shape
        b = read.shape[0]
        # the pixels of all N frames of a clip query the same clip-level memory read
        x = f.reshape(b, n_frames, c, h * w).permute(0, 1, 3, 2).reshape(b, n_frames * h * w, c)
        out = self.attn(self.norm(x), self.memory_norm(read)) * self.gamma  # CA(F̄, A T)
        out = out.view(b, n_frames, h * w, c).permute(0, 1, 3, 2).reshape(bn, c, h, w)
        return f + out  # Eq. 20 residual


class CaTeGoryHook(nn.Module):
    """The decoder hook ``f = hook(f, cond)`` of one level (from ``category.query_hook(level)``).

    It has no parameters of its own: it calls ``category.query(level, f, cond)``, so it can be put in the
    condenser's hook list without registering the memory's parameters twice. Register the
    :class:`CaTeGory` itself once in the model (e.g. as ``extras["category"]``) so that it moves with
    ``model.to(device)`` and is saved in the state dict.
    """

    def __init__(self, category: "CaTeGory", level: int):
        super().__init__()
        self.level = level
        object.__setattr__(self, "category", category)  # a back-reference, deliberately not a submodule

    def forward(self, f: torch.Tensor, cond) -> torch.Tensor:
        return self.category.query(self.level, f, cond)

    def extra_repr(self) -> str:
        return f"level={self.level}, channels={self.category.config.level_channels[self.level]}"


class _ConstructionBlock(nn.Module):
    """One block of the construction M (Eq. 18): items cross-attend to the clip's multi-scale decoder
    features, then self-attend within their group; pre-LayerNorm and an FFN after each attention."""

    def __init__(self, dim: int, heads: int, ffn_mult: int):
        super().__init__()
        self.norm_items = nn.LayerNorm(dim)
        self.norm_feats = nn.LayerNorm(dim)
        self.cross = MultiHeadAttention(dim, dim, dim, heads)
        self.ffn1 = FeedForward(dim, ffn_mult)
        self.norm_self = nn.LayerNorm(dim)
        self.self_attn = MultiHeadAttention(dim, dim, dim, heads)
        self.ffn2 = FeedForward(dim, ffn_mult)

    def forward(self, x: torch.Tensor, feats: torch.Tensor, groups: int) -> torch.Tensor:
        b, ji, d = x.shape
        x = x + self.cross(self.norm_items(x), self.norm_feats(feats))  # CA(T̂, {F̄_k})
        x = x + self.ffn1(x)
        g = x.reshape(b * groups, ji // groups, d)  # SA within each group j
        g = g + self.self_attn(self.norm_self(g))
        x = g.reshape(b, ji, d)
        return x + self.ffn2(x)


class CaTeGory(nn.Module):
    """Channel-wise Texture Aggregation Memory (Sec. 3.3): learned pairs (C̄_j, T̄_j), the query hooks of
    Eqs. 19–20 and the construction / update M of Eqs. 16–18 (see the module docstring for the design).

    Typical use::

        category = CaTeGory(CaTeGoryConfig.preset("tiny", token_dim=32, level_channels=(64, 64, 32, 32)))
        hooks = [category.query_hook(l) for l in range(category.num_levels)]   # the condenser's memory hooks
        state = category.initial_state(batch)                 # memory of the first clip (Alg. 1)
        for clip in clips:                                    # whole-video sampling
            cond = Conditioning(..., memory=state, decoder_feats=[])
            ...                                               # diffusion steps; hooks read `state`
            state = category.update(state, cond.decoder_feats, cond.clip_tokens)   # Alg. 1 l. 42–44
    """

    def __init__(self, config: CaTeGoryConfig | None = None, **kwargs):
        super().__init__()
        if config is None:
            config = CaTeGoryConfig(**kwargs)
        elif kwargs:
            config = replace(config, **kwargs)
        self.config = config
        J, I, d = config.groups, config.items, config.texture_dim
        #: set False to switch the memory off: every hook is then the exact identity (Table 2 ablation)
        self.enabled = True
        # the memory pairs (Eq. 16: C̄_j, T̄_j)
        if config.init == "identity":
            C0 = torch.eye(I).expand(J, I, I).clone()
            T0 = torch.randn(J, I, d) * config.init_std
        else:
            C0, T0 = torch.zeros(J, I, I), torch.zeros(J, I, d)
        self.C = nn.Parameter(C0)
        self.T = nn.Parameter(T0)
        # clip semantics -> J groups of I channels ("divided into different groups", Sec. 3.3)
        self.token_norm = nn.LayerNorm(config.token_dim)
        self.token_proj = nn.Linear(config.token_dim, J * I)
        # construction M (Eqs. 17–18): per-level projections of the decoder features + level embedding
        self.feat_proj = nn.ModuleList(nn.Linear(c, d) for c in config.level_channels)
        self.level_embed = nn.Parameter(torch.randn(len(config.level_channels), d) * 0.02)
        self.blocks = nn.ModuleList(_ConstructionBlock(d, config.heads, config.ffn_mult) for _ in range(config.depth))
        self.out_norm = nn.LayerNorm(d)
        # query (Eqs. 19–20): one cross-attention per decoder level
        self.level_queries = nn.ModuleList(
            MemoryQueryHook(c, d, config.heads, config.layer_scale_init) for c in config.level_channels)

    # ------------------------------------------------------------------ bookkeeping
    @property
    def num_levels(self) -> int:
        return len(self.config.level_channels)

    def _check_level(self, level) -> None:
        if not isinstance(level, int) or isinstance(level, bool) or not 0 <= level < self.num_levels:
            raise ValueError(f"level must be an integer in [0, {self.num_levels - 1}] (one per decoder level "
                             f"of level_channels={self.config.level_channels}); got {level!r}.")

    def query_hook(self, level: int) -> CaTeGoryHook:
        """The decoder hook ``f = hook(f, cond)`` of level ``level`` (0-based, in the condenser's call
        order, i.e. deepest level first). It holds no parameters (see :class:`CaTeGoryHook`)."""
        self._check_level(level)
        return CaTeGoryHook(self, level)

    def memory_parameters(self) -> Iterator[nn.Parameter]:
        """Every parameter of the memory (pairs, construction M, query hooks): what training stage 2
        (Sec. 4.1, "CaTeGory is independently trained") unfreezes while the condenser stays frozen."""
        return self.parameters()

    def parameter_groups(self) -> dict[str, list[nn.Parameter]]:
        """The parameters split by role: ``pairs`` (C̄, T̄), ``construction`` (M of Eqs. 17–18: feature
        projections, level embedding, attention blocks) and ``query`` (Eqs. 19–20: the clip-token
        projection, which the C update also uses, and the per-level hooks)."""
        construction = [*self.feat_proj.parameters(), self.level_embed, *self.blocks.parameters(),
                        *self.out_norm.parameters()]
        query = [*self.token_norm.parameters(), *self.token_proj.parameters(), *self.level_queries.parameters()]
        return {"pairs": [self.C, self.T], "construction": construction, "query": query}

    def count_parameters(self) -> dict[str, int]:
        """Parameter counts per role and in total."""
        counts = {k: sum(p.numel() for p in v) for k, v in self.parameter_groups().items()}
        counts["total"] = count_parameters(self)
        return counts

    # ------------------------------------------------------------------ memory state
    def initial_state(self, batch: int, detach: bool = True) -> MemoryState:
        """The memory of a video's first clip: the learned pairs (C̄, T̄), one copy per video.

        ``detach=True`` (sampling) gives plain tensors; ``detach=False`` keeps them attached to the
        parameters so that training through :meth:`update` reaches C̄ and T̄."""
        if not isinstance(batch, int) or batch < 1:
            raise ValueError(f"batch must be a positive integer (number of videos); got {batch!r}.")
        C, T = self.C, self.T
        if detach:
            C, T = C.detach(), T.detach()
        return MemoryState(C.unsqueeze(0).expand(batch, *C.shape).clone(),
                           T.unsqueeze(0).expand(batch, *T.shape).clone())

    def _pairs(self, memory: MemoryState | None, batch: int) -> tuple[torch.Tensor, torch.Tensor]:
        """(C, T) with a batch axis: the given state, or the learned parameters when ``memory`` is None."""
        if memory is None:
            return self.C.unsqueeze(0), self.T.unsqueeze(0)  # broadcast over the batch
        if not isinstance(memory, MemoryState):
            raise TypeError(f"cond.memory must be a MemoryState or None (= the learned pairs); got "
                            f"{type(memory).__name__}. Create one with category.initial_state(batch).")
        cfg = self.config
        expected = (cfg.groups, cfg.items)
        if tuple(memory.C.shape[1:3]) != expected or memory.T.shape[-1] != cfg.texture_dim:
            raise ValueError(f"memory state has C {tuple(memory.C.shape)}, T {tuple(memory.T.shape)} but this "
                             f"CaTeGory expects [B, {cfg.groups}, {cfg.items}, {cfg.items}] and "
                             f"[B, {cfg.groups}, {cfg.items}, {cfg.texture_dim}]: build it with this "
                             "module's initial_state().")
        if memory.C.dtype != self.C.dtype or memory.C.device != self.C.device:
            raise ValueError(f"memory state is {memory.C.dtype} on {memory.C.device} but CaTeGory is {self.C.dtype} "
                             f"on {self.C.device}: move it with state.to(device, dtype).")
        if memory.batch != batch:
            raise ValueError(f"memory state holds {memory.batch} videos but the clip tokens hold {batch}: "
                             "use one memory per video (category.initial_state(batch)).")
        return memory.C, memory.T

    # ------------------------------------------------------------------ query (Eqs. 19–20)
    def _check_tokens(self, clip_tokens) -> None:
        if not isinstance(clip_tokens, torch.Tensor) or clip_tokens.dim() != 3 \
                or clip_tokens.shape[-1] != self.config.token_dim:
            shape = tuple(clip_tokens.shape) if isinstance(clip_tokens, torch.Tensor) else type(clip_tokens).__name__
            raise ValueError(f"clip_tokens (O_c) must be a tensor [B, K, {self.config.token_dim}] (token_dim of "
                             f"this CaTeGory); got {shape}. Pass InCAM's clip tokens, or set token_dim to "
                             "their width.")

    def _check_cond(self, cond) -> tuple[int, torch.Tensor]:
        for name in ("n_frames", "clip_tokens"):
            if not hasattr(cond, name):
                raise TypeError(f"the conditioning passed to a CaTeGory hook has no '{name}': pass a "
                                "Conditioning with n_frames, clip_tokens [B, K, d] and memory.")
        if cond.clip_tokens is None:
            raise ValueError("CaTeGory needs the clip tokens O_c (Eq. 19) but cond.clip_tokens is None: switch "
                             "on InCAM's clip tokens (its ClipTokenBuilder fills them), or switch CaTeGory off.")
        n_frames = cond.n_frames
        if not isinstance(n_frames, int) or n_frames < 1:
            raise ValueError(f"cond.n_frames must be a positive integer (frames per clip); got {n_frames!r}.")
        self._check_tokens(cond.clip_tokens)
        return n_frames, cond.clip_tokens

    def semantics(self, clip_tokens: torch.Tensor) -> torch.Tensor:
        """Clip semantics grouped along channels: O_c [B, K, d] -> o [B, J, K, I] (Sec. 3.3)."""
        self._check_tokens(clip_tokens)
        b, k, _ = clip_tokens.shape
        o = self.token_proj(self.token_norm(clip_tokens))
        return o.view(b, k, self.config.groups, self.config.items).transpose(1, 2)

    def attention(self, o: torch.Tensor, C: torch.Tensor) -> torch.Tensor:
        """Eq. 19: A_j = Softmax(O_c^T C_j / sqrt(I)) over the items, [B, J, K, I]."""
        return torch.softmax(o @ C / math.sqrt(self.config.items), dim=-1)

    def read(self, clip_tokens: torch.Tensor, memory: MemoryState | None = None) -> torch.Tensor:
        """Eq. 19–20's memory read A_j T_j for every group, flattened to [B, J*K, d_t]."""
        o = self.semantics(clip_tokens)
        C, T = self._pairs(memory, o.shape[0])
        r = self.attention(o, C) @ T  # [B, J, K, d_t]
        return r.flatten(1, 2)

    def query(self, level: int, f: torch.Tensor, cond) -> torch.Tensor:
        """Eqs. 19–20 at decoder level ``level``: ``f`` [B*N, C_level, h, w] -> enhanced features.

        ``cond`` needs ``n_frames``, ``clip_tokens`` O_c [B, K, d] and ``memory`` (a :class:`MemoryState`,
        or None = the learned pairs). Returns ``f`` itself when the memory is switched off
        (``self.enabled = False``)."""
        if not self.enabled:
            return f  # exact identity: the memory is switched off
        self._check_level(level)
        n_frames, clip_tokens = self._check_cond(cond)
        read = self.read(clip_tokens, getattr(cond, "memory", None))  # Eq. 19: [B, J*K, d_t]
        try:
            return self.level_queries[level](f, read, n_frames)  # Eq. 20
        except ValueError as err:
            raise ValueError(f"CaTeGory decoder level {level}: {err}") from None

    forward = query

    # ------------------------------------------------------------------ construction / update (Eqs. 16–18)
    def feature_tokens(self, decoder_feats: Sequence[torch.Tensor], batch: int) -> torch.Tensor:
        """Concatenate the clip's multi-scale decoder features {F̄_k} into tokens [B, S, d_t] (Eq. 18)."""
        if not isinstance(decoder_feats, (list, tuple)) or len(decoder_feats) != self.num_levels:
            got = len(decoder_feats) if isinstance(decoder_feats, (list, tuple)) else type(decoder_feats).__name__
            raise ValueError(f"decoder_feats must be a list with one feature map per decoder level "
                             f"({self.num_levels}, channels {self.config.level_channels}); got {got}. Pass the "
                             "list the condenser filled during the clip's last diffusion step.")
        tokens = []
        for level, f in enumerate(decoder_feats):
            _check_level_features(f, self.config.level_channels[level], batch, None, f"decoder_feats[{level}]")
            n = f.shape[0] // batch
            p = self.config.feat_pool
            if p is not None and (f.shape[-2] > p or f.shape[-1] > p):
                f = F.adaptive_avg_pool2d(f, (min(p, f.shape[-2]), min(p, f.shape[-1])))
            c = f.shape[1]
            x = f.reshape(batch, n, c, -1).permute(0, 1, 3, 2).reshape(batch, -1, c)
            tokens.append(self.feat_proj[level](x) + self.level_embed[level])
        return torch.cat(tokens, dim=1)

    def construct(self, C: torch.Tensor, T: torch.Tensor, feats: torch.Tensor) -> torch.Tensor:
        """Eqs. 17–18: T̂ = C T, then T_new = LN(SA(CA(T̂, feats))) (with FFNs). C, T with a batch axis."""
        b = feats.shape[0]
        J, I, d = self.config.groups, self.config.items, self.config.texture_dim
        t_hat = C @ T  # Eq. 17: [B', J, I, d_t]
        x = t_hat.expand(b, J, I, d).reshape(b, J * I, d)
        for block in self.blocks:
            x = block(x, feats, J)  # Eq. 18
        return self.out_norm(x).view(b, J, I, d)

    def update_semantics(self, C: torch.Tensor, o: torch.Tensor) -> torch.Tensor:
        """Our update of C (the paper gives none): a soft k-means step toward the clip semantics that read
        each item; see the module docstring. C [B', J, I, I], o [B, J, K, I] -> [B, J, I, I]."""
        rho = self.config.c_momentum
        C = C.expand(o.shape[0], *C.shape[1:])
        if rho == 0.0:
            return C
        A = self.attention(o, C)  # [B, J, K, I]
        w = A.sum(dim=2)  # soft count of clip tokens per item, [B, J, I]
        c_hat = (o.transpose(-1, -2) @ A) / w.clamp_min(1e-12).unsqueeze(-2)  # column i: sum_k A_ki o_k / w_i
        rate = (rho * w / (w + 1.0)).unsqueeze(-2)  # [B, J, 1, I], per item (column)
        return (1.0 - rate) * C + rate * c_hat

    def update(self, state: MemoryState | None, decoder_feats: Sequence[torch.Tensor],
               clip_tokens: torch.Tensor, detach: bool = True) -> MemoryState:
        """Alg. 1 lines 42–44: the memory of the next clip, ``C_{m+1}, T_{m+1} = M(C_m, T_m, feats)``.

        Args:
            state: the current clip's memory (None = the learned pairs, as for a video's first clip).
            decoder_feats: the clip's decoder outputs of the last diffusion step, one [B*N, C_k, h_k, w_k]
                tensor per decoder level (the list the condenser filled).
            clip_tokens: the clip's tokens O_c [B, K, d].
            detach: True (sampling) returns a state cut from the autograd graph, so carrying it across
                clips never grows a graph; False keeps the graph for training the update (stage 2).
        """
        self._check_tokens(clip_tokens)
        batch = clip_tokens.shape[0]
        C, T = self._pairs(state, batch)
        feats = self.feature_tokens(decoder_feats, batch)
        o = self.semantics(clip_tokens)
        new_T = self.construct(C, T, feats)
        new_C = self.update_semantics(C, o)
        seen = 0 if state is None else state.clips_seen
        new = MemoryState(new_C, new_T, seen + 1)
        return new.detach() if detach else new


def _check_level_features(f, channels: int, batch: int, n_frames: int | None, what: str) -> None:
    """Clear errors for feature maps that do not fit the clip ([B*N, C_k, h, w], batch-major frames)."""
    if not isinstance(f, torch.Tensor) or f.dim() != 4:
        shape = tuple(f.shape) if isinstance(f, torch.Tensor) else type(f).__name__
        raise ValueError(f"{what} must be a feature map [B*N, C, h, w] (the clip's N frames as B*N images); "
                         f"got {shape}.")
    if f.shape[1] != channels:
        raise ValueError(f"{what} has {f.shape[1]} channels but CaTeGory was built with {channels} for this "
                         "level: set level_channels to the decoder's widths, in the order the hooks are called.")
    if n_frames is None:
        if f.shape[0] % batch != 0:
            raise ValueError(f"{what} has {f.shape[0]} images, not a multiple of the {batch} videos of the "
                             "clip tokens: features must be [B*N, C, h, w] with the clip tokens' B.")
    elif f.shape[0] != batch * n_frames:
        raise ValueError(f"{what} has {f.shape[0]} images but the clip tokens hold {batch} videos of "
                         f"n_frames={n_frames} frames ({batch * n_frames} images): features must be "
                         "[B*N, C, h, w], batch-major.")


def memory_parameters(model: nn.Module) -> list[nn.Parameter]:
    """All parameters of every :class:`CaTeGory` inside ``model`` (for freezing / unfreezing by stage)."""
    seen: dict[int, nn.Parameter] = {}
    for m in model.modules():
        if isinstance(m, CaTeGory):
            for p in m.parameters():
                seen.setdefault(id(p), p)
    return list(seen.values())


def split_parameters(model: nn.Module) -> tuple[list[nn.Parameter], list[nn.Parameter]]:
    """(memory parameters, all other parameters) of ``model``: the split training stages need
    (Sec. 4.1: condenser first, then the memory alone, then everything jointly)."""
    memory = memory_parameters(model)
    ids = {id(p) for p in memory}
    return memory, [p for p in model.parameters() if id(p) not in ids]
