"""Window-based spatial self-attention, Swin-style (Sec. 3.1: "window-based self-attention ... intra-sub-band
correlation"; App. C; Algorithm 1 lines 15-22).

The feature map is cut into non-overlapping ``ws x ws`` windows and multi-head self-attention runs inside
each window, with a learnable relative position bias ``B[dy, dx]`` per head (Swin, Liu et al. 2021):
``Attention(Q, K, V) = Softmax(Q K^T / sqrt(d) + B) V``. With ``shift=True`` the map is first rolled by
``ws // 2`` so windows straddle the previous windows' borders; a mask then stops tokens that were brought
together only by the cyclic roll (opposite image borders) from attending to each other.
The attention itself is ``F.scaled_dot_product_attention`` (fused kernels where available).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from einops import rearrange
from torch import nn


def _window_patterns(n: int) -> tuple[str, str]:
    """einops patterns of ``n`` windowed axes: ``b (n0 w0) (n1 w1) ... c`` and ``(b n0 n1 ...) (w0 w1 ...) c``."""
    grid, inside = [f"n{i}" for i in range(n)], [f"w{i}" for i in range(n)]
    cut = " ".join(f"({g} {w})" for g, w in zip(grid, inside))
    return f"b {cut} c", f"(b {' '.join(grid)}) ({' '.join(inside)}) c"


def window_partition(x: torch.Tensor, ws) -> torch.Tensor:
    """``[B, H, W, C] -> [B * nW, ws * ws, C]`` (windows in row-major order, tokens row-major inside).

    ``ws`` is an int (the same size on every axis between B and C) or one size per axis: MFSA cuts a clip
    ``[B, T, H, W, C]`` into 3-D windows ``(wt, wh, ww)`` with the same function."""
    sizes = x.shape[1:-1]
    win = (ws,) * len(sizes) if isinstance(ws, int) else tuple(ws)
    if any(n % k for n, k in zip(sizes, win)):
        raise ValueError(f"window_partition: a {'x'.join(map(str, sizes))} map is not divisible by the window size "
                         f"{ws}; pad it to a multiple of {ws} first.")
    before, after = _window_patterns(len(win))
    return rearrange(x, f"{before} -> {after}", **{f"w{i}": k for i, k in enumerate(win)})


def window_reverse(windows: torch.Tensor, ws, *size: int) -> torch.Tensor:
    """Inverse of :func:`window_partition`: ``[B * nW, ws * ws, C] -> [B, H, W, C]`` for ``size = (H, W)``
    (``ws`` and ``size`` with one entry per axis: ``(T, H, W)`` for a clip)."""
    win = (ws,) * len(size) if isinstance(ws, int) else tuple(ws)
    before, after = _window_patterns(len(win))
    axes = {f"n{i}": n // k for i, (n, k) in enumerate(zip(size, win))}
    return rearrange(windows, f"{after} -> {before}", **axes, **{f"w{i}": k for i, k in enumerate(win)})


def relative_position_index(ws: int) -> torch.Tensor:
    """``[ws*ws, ws*ws]`` LongTensor: for tokens i = (r1, c1), j = (r2, c2) of a window, the row of the bias
    table for the offset ``(r1 - r2, c1 - c2)``: ``(r1 - r2 + ws - 1) * (2 ws - 1) + (c1 - c2 + ws - 1)``."""
    coords = torch.stack(torch.meshgrid(torch.arange(ws), torch.arange(ws), indexing="ij")).flatten(1)  # [2, N]
    rel = coords[:, :, None] - coords[:, None, :] + (ws - 1)  # [2, N, N], each in [0, 2ws-2]
    return rel[0] * (2 * ws - 1) + rel[1]


def shifted_window_mask(h: int, w: int, ws: int, shift: int, device=None) -> torch.Tensor:
    """Boolean ``[nW, ws*ws, ws*ws]`` mask for the rolled map (True = may attend).

    After ``torch.roll(x, (-shift, -shift))`` the last window row/column mixes pixels from the bottom/right
    and the top/left border. Label the rolled map by region (3 bands per axis, as in Swin); two tokens of a
    window may attend only if they have the same label, i.e. they were neighbours before the roll.
    """
    img = torch.zeros(1, h, w, 1, device=device)
    label = 0
    for hs in (slice(0, h - ws), slice(h - ws, h - shift), slice(h - shift, h)):
        for wsl in (slice(0, w - ws), slice(w - ws, w - shift), slice(w - shift, w)):
            img[:, hs, wsl, :] = label
            label += 1
    win = window_partition(img, ws).squeeze(-1)  # [nW, N]
    return win[:, :, None] == win[:, None, :]


class WindowAttention(nn.Module):
    """Multi-head self-attention inside windows, with relative position bias.

    ``forward(windows [B*nW, N, C], mask [nW, N, N] bool or None) -> [B*nW, N, C]``.
    """

    def __init__(self, dim: int, heads: int, ws: int):
        super().__init__()
        if dim % heads:
            raise ValueError(f"WindowAttention: dim {dim} is not divisible by heads {heads}.")
        self.dim, self.heads, self.ws = dim, heads, ws
        self.qkv = nn.Linear(dim, 3 * dim)
        self.proj = nn.Linear(dim, dim)
        self.bias_table = nn.Parameter(torch.zeros((2 * ws - 1) ** 2, heads))
        nn.init.trunc_normal_(self.bias_table, std=0.02)
        self.register_buffer("bias_index", relative_position_index(ws), persistent=False)

    def position_bias(self) -> torch.Tensor:
        """``[heads, N, N]`` relative position bias B."""
        n = self.ws * self.ws
        return self.bias_table[self.bias_index.reshape(-1)].reshape(n, n, self.heads).permute(2, 0, 1)

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        bw, n, c = x.shape
        q, k, v = rearrange(self.qkv(x), "b n (three h d) -> three b h n d", three=3, h=self.heads)
        bias = self.position_bias().to(q.dtype)[None]  # [1, heads, N, N]
        if mask is not None:
            nw = mask.shape[0]
            neg = torch.zeros(mask.shape, dtype=q.dtype, device=q.device).masked_fill(~mask, float("-inf"))
            bias = (bias.unsqueeze(0) + neg[None, :, None]).expand(bw // nw, nw, self.heads, n, n)
            bias = bias.reshape(bw, self.heads, n, n)
        out = F.scaled_dot_product_attention(q, k, v, attn_mask=bias)
        return self.proj(rearrange(out, "b h n d -> b n (h d)"))


class WindowAttentionBlock(nn.Module):
    """Swin transformer block on a ``[B, C, H, W]`` map: ``x + WMSA(LN(x))``, then ``x + MLP(LN(x))``.

    ``shift=True`` uses shifted windows (roll by ``ws // 2``); the shift is skipped when the map is a single
    window (nothing to connect). H and W must be multiples of ``ws`` (the Pixel Condenser pads its input).
    """

    def __init__(self, dim: int, heads: int, ws: int, shift: bool = False, mlp_ratio: float = 2.0):
        super().__init__()
        self.ws, self.shift = ws, shift
        self.norm1 = nn.LayerNorm(dim)
        self.attn = WindowAttention(dim, heads, ws)
        self.norm2 = nn.LayerNorm(dim)
        hidden = int(dim * mlp_ratio)
        self.mlp = nn.Sequential(nn.Linear(dim, hidden), nn.GELU(), nn.Linear(hidden, dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, c, h, w = x.shape
        ws = self.ws
        if h % ws or w % ws:
            raise ValueError(f"WindowAttentionBlock: a {h}x{w} feature map is not divisible by the window "
                             f"size {ws}; pad the input (PixelCondenser does it for you).")
        tokens = rearrange(x, "b c h w -> b h w c")
        shift = ws // 2 if (self.shift and min(h, w) > ws) else 0
        y = self.norm1(tokens)
        mask = None
        if shift:
            y = torch.roll(y, shifts=(-shift, -shift), dims=(1, 2))
            mask = shifted_window_mask(h, w, ws, shift, device=x.device)
        y = window_reverse(self.attn(window_partition(y, ws), mask), ws, h, w)
        if shift:
            y = torch.roll(y, shifts=(shift, shift), dims=(1, 2))
        tokens = tokens + y
        tokens = tokens + self.mlp(self.norm2(tokens))
        return rearrange(tokens, "b h w c -> b c h w")
