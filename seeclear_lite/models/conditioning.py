"""What the semantic modules pass through the Pixel Condenser (Algorithm 1 lines 6-7, 24-44).

The condenser calls every hook as ``f = hook(f, cond)`` with ``f`` a ``[B*N, C, h, w]`` feature map (the
N frames of each clip folded into the batch) and ``cond`` a :class:`Conditioning`. The default hook,
:class:`IdentityHook`, returns ``f`` unchanged, so with every semantic switch off the condenser is
exactly the baseline of Table 2, row 1.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
from torch import nn


@dataclass
class Conditioning:
    """Per-clip semantic context.

    Attributes:
        n_frames: N, the frames per clip (``f`` holds B*N maps; reshape with ``f.view(B, N, ...)``).
        tokens: semantic tokens O ``[B, N, k, d]`` (Eqs. 8-9), or None.
        seg: segmentation features P ``[B, N, c, h', w']`` (Eqs. 8-9), or None.
        clip_tokens: clip-wise tokens O_c ``[B, K, d]`` (Eq. 14), filled once per forward by the
            condenser's optional ``clip_token_builder(cond)``; None when disabled.
        memory: the CaTeGory memory state (Sec. 3.3), opaque to the condenser; None when disabled.
        decoder_feats: the condenser clears it at the start of each forward and appends each decoder
            level's output (deepest first) for CaTeGory's update (Eq. 16-18, Algorithm 1 line 38).
    """

    n_frames: int = 1
    tokens: torch.Tensor | None = None
    seg: torch.Tensor | None = None
    clip_tokens: torch.Tensor | None = None
    memory: object | None = None
    decoder_feats: list = field(default_factory=list)


class IdentityHook(nn.Module):
    """The disabled hook: ``hook(f, cond) -> f``."""

    def forward(self, f: torch.Tensor, cond: Conditioning | None = None) -> torch.Tensor:
        return f
