"""Multi-frame self-attention on semantics-weighted features: F̄_i = MFSA(O_c · F̂_i) (Eq. 15).

**MFSA** is PSRT's multi-frame self-attention (Shi et al., "Rethinking alignment in video
super-resolution transformers", NeurIPS 2022; SeeClear ref. [30]): the B clips' features
[B, N, h, w, C] are cut into 3-D windows of ``wt × wh × ww`` (frames × rows × columns), and each token
attends to every token of its window, in the same frame and in the neighbouring frames, with a learned
3-D relative position bias (a table of (2Wt−1)(2Wh−1)(2Ww−1) × heads entries, as in Video Swin / PSRT).
This aligns and fuses frames in one step, without optical flow. Defaults: the temporal window spans the
whole clip (``window=(5, 8, 8)``, clamped to the clip's N and the feature map's h, w), no shift;
``shift=True`` rolls the windows by half a window (Swin), with the usual mask so that tokens that were
not neighbours before the roll do not attend to each other. Padding (h or w not a multiple of the
window) is masked out. The block is pre-norm with a residual and, optionally, an MLP (PSRT's Swin block
has one; SeeClear leaves it out because the condenser unit B_j that follows has its own):
``Y = F̂ + W^O·Attn(LN(X))``, ``F̄ = Y + MLP(LN(Y))``, where X is the semantics-weighted input below.

**How ``O_c · F̂`` is formed** (the paper only says the product "is akin to class activation mapping,
which highlights the most similar pixels in the instance-centric semantic space among frames"):
1. *Activation maps* — the product proper. Every pixel's feature is compared with every clip token:
   ``A[p, j] = softmax_j( ⟨W_a LN(F̂[p]), O_c[j]⟩ / √d_c )``, K maps per frame ([B, N, h, w, K]; one per
   clip-level instance, shared by all N frames), like CAM's per-class maps ⟨w_class, F[p]⟩.
2. *Semantic re-weighting* — each pixel's activation picks a semantic vector ``s[p] = Σ_j A[p, j] O_c[j]``,
   which scales and shifts F̂'s channels: ``X = F̂ ⊙ (1 + W_γ s) + W_β s``.

Why this and not the K maps alone: the attention still has to move *content* between frames, which K
numbers per pixel cannot carry. Re-weighting F̂ keeps the content and makes the queries and keys of all
pixels that activate the same clip token — the same instance, in any frame of the clip — move together in
feature space, so the window attention links them: the alignment happens "in the semantic space".
With ``clip_dim=None`` there is no semantic weighting (X = F̂): plain MFSA, Table 2's "MFSA" row.

**Permutations of the frames.** Everything but the relative position bias treats the frames of a window
as a set: with a zero bias table (or ``rel_bias=False``) the block is equivariant to permuting the frames
(when the temporal window spans the clip); a non-zero bias over the time offset makes it order-aware.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from einops import rearrange
from torch import nn

from ..blocks.attention import FeedForward, MultiHeadAttention
from ..blocks.window_attention import window_partition, window_reverse
from ._cond import clip_shape, require


def _region_ids(padded: int, w: int, s: int) -> torch.Tensor:
    """Swin's region id along one axis, in the *rolled* coordinates: 0 for whole windows and, when
    shifted, 1 / 2 for the two pieces of the last window that the roll glued together."""
    ids = torch.zeros(padded, dtype=torch.long)
    if s:
        ids[padded - w: padded - s] = 1
        ids[padded - s:] = 2
    return ids


class MultiFrameSelfAttention(nn.Module):
    """PSRT-style 3-D window self-attention over a clip, guided by clip tokens (module docstring).

    Args:
        channels: C of the features.
        heads: attention heads (must divide C).
        window: (Wt, Wh, Ww), clamped at run time to (N, h, w).
        shift: shifted windows (Swin), by half a window in each axis that has more than one window.
        clip_dim: width of the clip tokens O_c for the semantic weighting; None = plain MFSA.
        mlp_ratio: hidden width of the MLP / C (0 = no MLP).
        rel_bias: learn the 3-D relative position bias.
    """

    def __init__(self, channels: int, heads: int = 4, window=(5, 8, 8), shift: bool = False,
                 clip_dim: int | None = None, mlp_ratio: float = 2.0, rel_bias: bool = True):
        super().__init__()
        if len(window) != 3 or min(window) < 1:
            raise ValueError(f"window must be (frames, rows, cols) of positive ints, got {window!r}.")
        self.channels, self.heads, self.window, self.shift = channels, heads, tuple(int(v) for v in window), shift
        self.clip_dim = clip_dim
        self._index_cache: dict = {}
        self.norm1 = nn.LayerNorm(channels)
        self.attn = MultiHeadAttention(channels, heads)
        Wt, Wh, Ww = self.window
        if rel_bias:
            self.bias_table = nn.Parameter(torch.zeros((2 * Wt - 1) * (2 * Wh - 1) * (2 * Ww - 1), heads))
            nn.init.trunc_normal_(self.bias_table, std=0.02)
        else:
            self.bias_table = None
        self.mlp = nn.Sequential(nn.LayerNorm(channels), FeedForward(channels, mlp_ratio)) if mlp_ratio > 0 else None
        if clip_dim is not None:
            self.sem_norm = nn.LayerNorm(channels)
            self.sem_query = nn.Linear(channels, clip_dim)               # W_a
            self.sem_mod = nn.Linear(clip_dim, 2 * channels)             # W_γ, W_β

    # --- O_c · F̂ ----------------------------------------------------------------------------------------
    def activation_maps(self, x: torch.Tensor, clip_tokens: torch.Tensor) -> torch.Tensor:
        """A = softmax_K(⟨W_a LN(F̂), O_c⟩ / √d_c): x [B, N, h, w, C], O_c [B, K, d_c] -> [B, N, h, w, K]."""
        q = self.sem_query(self.sem_norm(x))
        logits = torch.einsum("bnhwd,bkd->bnhwk", q, clip_tokens.to(x)) / clip_tokens.shape[-1] ** 0.5
        return logits.softmax(-1)

    def semantic_weighting(self, x: torch.Tensor, clip_tokens: torch.Tensor) -> torch.Tensor:
        """X = F̂ ⊙ (1 + W_γ s) + W_β s with s = A O_c (the "O_c · F̂" of Eq. 15).

        s = A O_c is single-head attention with the pixels as queries and the clip tokens as keys and values,
        so it runs as ``scaled_dot_product_attention``: fused kernels on CUDA, and the [B, N, h, w, K] maps are
        never stored (equal to ``activation_maps(x, O_c) @ O_c``, tested; ``activation_maps`` stays for
        teaching and inspection)."""
        b, n, h, w, _ = x.shape
        q = self.sem_query(self.sem_norm(x)).reshape(b, n * h * w, -1)
        tokens = clip_tokens.to(x)
        s = F.scaled_dot_product_attention(q, tokens, tokens).reshape(b, n, h, w, -1)   # default scale 1/√d_c
        gamma, beta = self.sem_mod(s).chunk(2, dim=-1)
        return x * (1 + gamma) + beta

    # --- window geometry ----------------------------------------------------------------------------------
    def geometry(self, N: int, h: int, w: int):
        """(effective window, shifts, padded size) for a clip of N frames of h × w."""
        win = (min(self.window[0], N), min(self.window[1], h), min(self.window[2], w))
        size = tuple(-(-n // k) * k for n, k in zip((N, h, w), win))
        shifts = tuple(k // 2 if self.shift and n > k else 0 for n, k in zip((N, h, w), win))
        return win, shifts, size

    def relative_index(self, win) -> torch.Tensor:
        """Row of the bias table for every pair of positions in an (effective) window: [L, L] (cached)."""
        if win not in self._index_cache:
            Wt, Wh, Ww = self.window
            coords = torch.stack(torch.meshgrid(*(torch.arange(k) for k in win), indexing="ij")).flatten(1)
            rel = coords[:, :, None] - coords[:, None, :]                # [3, L, L]: (Δt, Δy, Δx)
            self._index_cache[win] = ((rel[0] + Wt - 1) * (2 * Wh - 1) + rel[1] + Wh - 1) * (2 * Ww - 1) \
                + rel[2] + Ww - 1
        return self._index_cache[win]

    def relative_bias(self, win) -> torch.Tensor:
        """The 3-D relative position bias [heads, L, L] for an (effective) window ``win``."""
        index = self.relative_index(tuple(win)).to(self.bias_table.device)
        return self.bias_table[index].permute(2, 0, 1)

    def attention_mask(self, N: int, h: int, w: int, device, dtype):
        """Additive mask: bias [heads, L, L] (+ -inf between tokens of different shift regions or to
        padding, then [nW, heads, L, L]), or None."""
        win, shifts, size = self.geometry(N, h, w)
        bias = self.relative_bias(win).to(dtype) if self.bias_table is not None else None
        if not any(shifts) and size == (N, h, w):
            return bias
        it, ih, iw = (_region_ids(p, k, s) for p, k, s in zip(size, win, shifts))
        ids = it[:, None, None] * 9 + ih[None, :, None] * 3 + iw[None, None, :]
        pad = [torch.arange(p) >= v for p, v in zip(size, (N, h, w))]          # padding, original coords
        pad = pad[0][:, None, None] | pad[1][None, :, None] | pad[2][None, None, :]
        pad = torch.roll(pad, shifts=tuple(-s for s in shifts), dims=(0, 1, 2))
        ids = ids.masked_fill(pad, -1)
        ids = window_partition(ids[None, ..., None], win)[..., 0]       # [nW, L]
        q, k = ids[:, :, None], ids[:, None, :]
        allowed = (k >= 0) & ((q == k) | (q < 0))                        # padded queries: any valid key
        mask = torch.zeros(allowed.shape, dtype=dtype).masked_fill(~allowed, float("-inf")).to(device)
        return mask[:, None] if bias is None else mask[:, None] + bias[None]

    # --- forward ------------------------------------------------------------------------------------------
    def _windows(self, f: torch.Tensor, cond):
        B, N = clip_shape(f, cond)
        C, h, w = f.shape[1:]
        if C != self.channels:
            raise ValueError(f"MFSA was built for {self.channels} channels, got features with {C}.")
        x = rearrange(f, "(b n) c h w -> b n h w c", n=N)
        X = x
        if self.clip_dim is not None:
            oc = require(cond, "clip_tokens", B, None, 3, "MFSA with clip tokens (Eq. 15)")
            X = self.semantic_weighting(x, oc)
        win, shifts, size = self.geometry(N, h, w)
        xn = F.pad(self.norm1(X), (0, 0, 0, size[2] - w, 0, size[1] - h, 0, size[0] - N))
        xn = torch.roll(xn, shifts=tuple(-s for s in shifts), dims=(1, 2, 3))
        mask = self.attention_mask(N, h, w, f.device, f.dtype)
        windows = window_partition(xn, win).unflatten(0, (B, -1))        # [B, nW, L, C]
        return x, windows, mask, (B, N, C, h, w, win, shifts, size)

    def forward(self, f: torch.Tensor, cond) -> torch.Tensor:
        x, windows, mask, (B, N, C, h, w, win, shifts, size) = self._windows(f, cond)
        y = window_reverse(self.attn(windows, attn_mask=mask).flatten(0, 1), win, *size)
        y = torch.roll(y, shifts=shifts, dims=(1, 2, 3))[:, :N, :h, :w]
        y = x + y                                                        # residual on F̂
        if self.mlp is not None:
            y = y + self.mlp(y)
        return rearrange(y, "b n h w c -> (b n) c h w")                 # F̄ (Eq. 15)

    def attention_map(self, f: torch.Tensor, cond, frame: int, row: int, col: int) -> torch.Tensor:
        """Where pixel (frame, row, col) looks: attention probabilities [B, heads, N, h, w] over the clip
        (zero outside its 3-D window)."""
        return self.attention_maps(f, cond, [(frame, row, col)])[0]

    def attention_maps(self, f: torch.Tensor, cond, queries) -> torch.Tensor:
        """:meth:`attention_map` for a list of (frame, row, col) queries at once: [Q, B, heads, N, h, w]."""
        x, windows, mask, (B, N, C, h, w, win, shifts, size) = self._windows(f, cond)
        probs = self.attn.weights(windows, attn_mask=mask)               # [B, nW, heads, L, L]
        nwin = [n // k for n, k in zip(size, win)]
        maps = []
        for frame, row, col in queries:
            if not (0 <= frame < N and 0 <= row < h and 0 <= col < w):
                raise ValueError(f"query ({frame}, {row}, {col}) is outside the clip of {N} frames of {h}×{w}.")
            pos = [(p - s) % n for p, s, n in zip((frame, row, col), shifts, size)]   # after the roll
            wi = (pos[0] // win[0] * nwin[1] + pos[1] // win[1]) * nwin[2] + pos[2] // win[2]
            li = ((pos[0] % win[0]) * win[1] + pos[1] % win[1]) * win[2] + pos[2] % win[2]
            full = probs.new_zeros(B, probs.shape[1], probs.shape[-1], self.heads)
            full[:, wi] = probs[:, wi, :, li, :].transpose(1, 2)
            full = window_reverse(full.flatten(0, 1), win, *size)
            full = torch.roll(full, shifts=shifts, dims=(1, 2, 3))[:, :N, :h, :w]
            maps.append(full.permute(0, 4, 1, 2, 3))
        return torch.stack(maps)
