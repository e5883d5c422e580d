"""CaTeGory, the Channel-wise Texture Aggregation Memory (Sec. 3.3, Fig. 3, Eqs. 16-20, Alg. 1 lines 37-45).

J groups of I items: channel-wise semantics ``C_j`` (I x I) and textures ``T_j`` (I x d_t). The decoder reads
the memory at every level (query, Eqs. 19-20); while a video is sampled clip by clip the memory is rebuilt
after each clip from that clip's decoder features (construction M, Eqs. 16-18; Alg. 1 lines 42-44), so later
clips see what earlier clips showed. C_j is square because line 44 feeds M's output back into M.
The paper gives no sizes, no rule for updating C and a zero initialisation that is a saddle point; notebook 06
derives the kit's choices (identity / small random init, a soft k-means step for C) with numbers.
"""

from __future__ import annotations

import math
from typing import Sequence

import torch
import torch.nn.functional as F
from einops import rearrange
from torch import nn

from ..blocks.attention import FeedForward, MultiHeadAttention
from ..config import MemoryConfig
from .state import MemoryState


class MemoryQuery(nn.Module):
    """Eq. 20 at one decoder level: ``F̃ = F̄ + gamma * CA(LN(F̄), LN(A T))``.

    The pixels of all N frames of a clip query the same clip-level memory read ``A T`` (Eq. 19).
    ``gamma`` is a per-channel LayerScale, small but non-zero at the start: the memory is trained after the
    condenser (Sec. 4.1), so adding it must begin near the identity without starving C and T of gradient.
    """

    def __init__(self, channels: int, texture_dim: int, heads: int, layer_scale_init: float):
        super().__init__()
        self.channels = channels
        self.norm = nn.LayerNorm(channels)
        self.memory_norm = nn.LayerNorm(texture_dim)
        self.attn = MultiHeadAttention(channels, heads, ctx_dim=texture_dim, inner_dim=texture_dim)
        self.gamma = nn.Parameter(torch.full((channels,), float(layer_scale_init)))

    def forward(self, f: torch.Tensor, read: torch.Tensor, n_frames: int) -> torch.Tensor:
        """Features ``f [B·N, C, h, w]`` (batch-major frames), memory read ``[B, J·K, d_t]`` -> like ``f``."""
        _check_level_features(f, self.channels, read.shape[0], n_frames, "the decoder feature map")
        h, w = f.shape[-2:]
        x = rearrange(f, "(b n) c h w -> b (n h w) c", n=n_frames)
        out = self.attn(self.norm(x), self.memory_norm(read)) * self.gamma   # CA(F̄, A T)
        return f + rearrange(out, "b (n h w) c -> (b n) c h w", n=n_frames, h=h, w=w)   # Eq. 20 residual


class _ConstructionBlock(nn.Module):
    """One block of the construction M (Eq. 18): items cross-attend to the clip's multi-scale decoder
    features, then self-attend within their group; pre-LayerNorm and an FFN after each attention."""

    def __init__(self, dim: int, heads: int, ffn_mult: int):
        super().__init__()
        self.norm_items = nn.LayerNorm(dim)
        self.norm_feats = nn.LayerNorm(dim)
        self.cross = MultiHeadAttention(dim, heads)
        self.norm_ffn1 = nn.LayerNorm(dim)
        self.ffn1 = FeedForward(dim, ffn_mult)
        self.norm_self = nn.LayerNorm(dim)
        self.self_attn = MultiHeadAttention(dim, heads)
        self.norm_ffn2 = nn.LayerNorm(dim)
        self.ffn2 = FeedForward(dim, ffn_mult)

    def forward(self, x: torch.Tensor, feats: torch.Tensor, groups: int) -> torch.Tensor:
        x = x + self.cross(self.norm_items(x), self.norm_feats(feats))        # CA(T̂, {F̄_k})
        x = x + self.ffn1(self.norm_ffn1(x))
        g = rearrange(x, "b (j i) d -> (b j) i d", j=groups)                  # SA within each group j
        g = g + self.self_attn(self.norm_self(g))
        x = rearrange(g, "(b j) i d -> b (j i) d", j=groups)
        return x + self.ffn2(self.norm_ffn2(x))


class CaTeGory(nn.Module):
    """The learned pairs (C̄_j, T̄_j), the per-level query (Eqs. 19-20) and the construction / update M
    (Eqs. 16-18).

    Args:
        level_channels: channels of each decoder level, in the order the decoder runs (deepest first).
        token_dim: width d of the clip tokens O_c (Eq. 14).
        sizes: J, I, d_t and the rest (:class:`seeclear_lite.config.MemoryConfig`).

    Use::
        read = category.read(clip_tokens, memory)                  # Eq. 19, once per clip
        f = category.query(level, f, read, n_frames)               # Eq. 20, at each decoder level
        memory = category.update(memory, decoder_feats, clip_tokens)   # Alg. 1 lines 42-44
    """

    def __init__(self, level_channels, token_dim: int, sizes: MemoryConfig | None = None):
        super().__init__()
        sizes = MemoryConfig() if sizes is None else sizes
        self.level_channels, self.token_dim, self.sizes = tuple(int(c) for c in level_channels), int(token_dim), sizes
        if not self.level_channels or min(self.level_channels) < 1:
            raise ValueError(f"level_channels must list the positive channel count of every decoder level, "
                             f"e.g. (128, 64, 64, 32); got {level_channels!r}.")
        if sizes.texture_dim % sizes.heads:
            raise ValueError(f"texture_dim={sizes.texture_dim} is not divisible by heads={sizes.heads}.")
        if not 0.0 <= sizes.c_momentum <= 1.0:
            raise ValueError(f"c_momentum must be in [0, 1] (0 keeps C fixed), got {sizes.c_momentum}.")
        if sizes.init not in ("identity", "zeros"):
            raise ValueError(f"init must be 'identity' (trains) or 'zeros' (the paper's), got {sizes.init!r}.")
        J, I, d = sizes.groups, sizes.items, sizes.texture_dim
        # the memory pairs (Eq. 16: C̄_j, T̄_j); (0, 0) is a saddle of T̂ = C̄ T̄, hence identity / small random
        if sizes.init == "identity":
            C0 = torch.eye(I).expand(J, I, I).clone()
            T0 = torch.randn(J, I, d) * sizes.init_std
        else:
            C0, T0 = torch.zeros(J, I, I), torch.zeros(J, I, d)
        self.C = nn.Parameter(C0)
        self.T = nn.Parameter(T0)
        # clip semantics -> J groups of I channels ("divided into different groups", Sec. 3.3)
        self.token_norm = nn.LayerNorm(self.token_dim)
        self.token_proj = nn.Linear(self.token_dim, J * I)
        # construction M (Eqs. 17-18): per-level projections of the decoder features + level embedding
        self.feat_proj = nn.ModuleList(nn.Linear(c, d) for c in self.level_channels)
        self.level_embed = nn.Parameter(torch.randn(len(self.level_channels), d) * 0.02)
        self.blocks = nn.ModuleList(_ConstructionBlock(d, sizes.heads, sizes.ffn_mult) for _ in range(sizes.depth))
        self.out_norm = nn.LayerNorm(d)
        # query (Eqs. 19-20): one cross-attention per decoder level
        self.level_queries = nn.ModuleList(
            MemoryQuery(c, d, sizes.heads, sizes.layer_scale_init) for c in self.level_channels)

    @property
    def num_levels(self) -> int:
        return len(self.level_channels)

    def _check_level(self, level) -> None:
        if not isinstance(level, int) or isinstance(level, bool) or not 0 <= level < self.num_levels:
            raise ValueError(f"level must be an integer in [0, {self.num_levels - 1}] (one per decoder level "
                             f"of level_channels={self.level_channels}); got {level!r}.")

    def parameter_groups(self) -> dict[str, list[nn.Parameter]]:
        """The parameters by role: ``pairs`` (C̄, T̄), ``construction`` (M of Eqs. 17-18) and ``query``
        (Eqs. 19-20: the clip-token projection, which the C update also uses, and the per-level attention)."""
        construction = [*self.feat_proj.parameters(), self.level_embed, *self.blocks.parameters(),
                        *self.out_norm.parameters()]
        query = [*self.token_norm.parameters(), *self.token_proj.parameters(), *self.level_queries.parameters()]
        return {"pairs": [self.C, self.T], "construction": construction, "query": query}

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
            raise TypeError(f"memory must be a MemoryState or None (= the learned pairs); got "
                            f"{type(memory).__name__}. Create one with category.initial_state(batch).")
        cfg = self.sizes
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
                or clip_tokens.shape[-1] != self.token_dim:
            shape = tuple(clip_tokens.shape) if isinstance(clip_tokens, torch.Tensor) else type(clip_tokens).__name__
            raise ValueError(f"clip_tokens (O_c) must be a tensor [B, K, {self.token_dim}] (token_dim of "
                             f"this CaTeGory); got {shape}. Pass InCAM's clip tokens, or set token_dim to "
                             "their width.")

    def semantics(self, clip_tokens: torch.Tensor) -> torch.Tensor:
        """Clip semantics grouped along channels: O_c [B, K, d] -> o [B, J, K, I] (Sec. 3.3)."""
        self._check_tokens(clip_tokens)
        o = self.token_proj(self.token_norm(clip_tokens))
        return rearrange(o, "b k (j i) -> b j k i", j=self.sizes.groups)

    def attention(self, o: torch.Tensor, C: torch.Tensor) -> torch.Tensor:
        """Eq. 19: A_j = Softmax(O_c^T C_j / sqrt(I)) over the items, [B, J, K, I]."""
        return torch.softmax(o @ C / math.sqrt(self.sizes.items), dim=-1)

    def read(self, clip_tokens: torch.Tensor, memory: MemoryState | None = None) -> torch.Tensor:
        """Eq. 19's memory read A_j T_j for every group, flattened to [B, J*K, d_t]."""
        o = self.semantics(clip_tokens)
        C, T = self._pairs(memory, o.shape[0])
        r = self.attention(o, C) @ T  # [B, J, K, d_t]
        return r.flatten(1, 2)

    def query(self, level: int, f: torch.Tensor, read: torch.Tensor, n_frames: int) -> torch.Tensor:
        """Eq. 20 at decoder level ``level`` (0 = deepest): ``f [B·N, C_level, h, w]`` -> enhanced features,
        given the clip's memory read (:meth:`read`, Eq. 19)."""
        self._check_level(level)
        try:
            return self.level_queries[level](f, read, n_frames)
        except ValueError as err:
            raise ValueError(f"CaTeGory decoder level {level}: {err}") from None

    # ------------------------------------------------------------------ construction / update (Eqs. 16–18)
    def feature_tokens(self, decoder_feats: Sequence[torch.Tensor], batch: int) -> torch.Tensor:
        """Concatenate the clip's multi-scale decoder features {F̄_k} into tokens [B, S, d_t] (Eq. 18)."""
        if not isinstance(decoder_feats, (list, tuple)) or len(decoder_feats) != self.num_levels:
            got = len(decoder_feats) if isinstance(decoder_feats, (list, tuple)) else type(decoder_feats).__name__
            raise ValueError(f"decoder_feats must be a list with one feature map per decoder level "
                             f"({self.num_levels}, channels {self.level_channels}); got {got}. Pass the "
                             "decoder features of the clip's last diffusion step.")
        tokens = []
        for level, f in enumerate(decoder_feats):
            _check_level_features(f, self.level_channels[level], batch, None, f"decoder_feats[{level}]")
            p = self.sizes.feat_pool
            if p is not None and (f.shape[-2] > p or f.shape[-1] > p):
                f = F.adaptive_avg_pool2d(f, (min(p, f.shape[-2]), min(p, f.shape[-1])))
            x = rearrange(f, "(b n) c h w -> b (n h w) c", b=batch)
            tokens.append(self.feat_proj[level](x) + self.level_embed[level])
        return torch.cat(tokens, dim=1)

    def construct(self, C: torch.Tensor, T: torch.Tensor, feats: torch.Tensor) -> torch.Tensor:
        """Eqs. 17–18: T̂ = C T, then T_new = LN(SA(CA(T̂, feats))) (with FFNs). C, T with a batch axis."""
        b = feats.shape[0]
        J, I, d = self.sizes.groups, self.sizes.items, self.sizes.texture_dim
        t_hat = C @ T  # Eq. 17: [B', J, I, d_t]
        x = rearrange(t_hat.expand(b, J, I, d), "b j i d -> b (j i) d")
        for block in self.blocks:
            x = block(x, feats, J)  # Eq. 18
        return rearrange(self.out_norm(x), "b (j i) d -> b j i d", j=J)

    def update_semantics(self, C: torch.Tensor, o: torch.Tensor) -> torch.Tensor:
        """The kit's update of C (the paper gives none): a soft k-means step that moves each item's key toward
        the clip semantics that read it, at rate ``c_momentum * w / (w + 1)`` (w = the item's soft count; an
        item nobody reads stays put), so C stays bounded. C [B', J, I, I], o [B, J, K, I] -> [B, J, I, I]."""
        rho = self.sizes.c_momentum
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
                tensor per decoder level (what ``SeeClear.forward(..., return_features=True)`` returns).
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
                         "level: set level_channels to the decoder's widths, deepest level first.")
    if n_frames is None:
        if f.shape[0] % batch != 0:
            raise ValueError(f"{what} has {f.shape[0]} images, not a multiple of the {batch} videos of the "
                             "clip tokens: features must be [B*N, C, h, w] with the clip tokens' B.")
    elif f.shape[0] != batch * n_frames:
        raise ValueError(f"{what} has {f.shape[0]} images but the clip tokens hold {batch} videos of "
                         f"n_frames={n_frames} frames ({batch * n_frames} images): features must be "
                         "[B*N, C, h, w], batch-major.")
