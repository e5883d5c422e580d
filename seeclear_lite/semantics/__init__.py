"""Semantic Distiller and InCAM (Sec. 3.2, Eqs. 8-15).

- :mod:`.distiller`         the distiller contract S (Eqs. 8-9), cache, precompute to disk
- :mod:`.kmeans_distiller`  the default offline distiller (joint k-means over a clip; stands in for OpenSeeD)
- :mod:`.precomputed`       a distiller that reads (O, P) from ``.npz`` / ``.pt`` files
- :mod:`.modulation`        G: (γ, β) = G(P), F = (f ⊙ γ + β) + f (Eqs. 10-11)
- :mod:`.cross_attention`   semantic embedding by cross-attention to the tokens (Eqs. 12-13)
- :mod:`.instance_tokens`   instance encoder-decoder -> clip tokens O_c (Eq. 14)
- :mod:`.mfsa`              multi-frame 3-D window self-attention on O_c · F̂ (Eq. 15)
- :mod:`.incam`             InCAM: one block per insertion point of the Pixel Condenser
"""

from .cross_attention import SemanticCrossAttention
from .distiller import SemanticDistiller, check_lr_frames, clip_hash, precompute_distilled, save_distilled
from .incam import InCAM, InCAMBlock
from .instance_tokens import ClipTokenBuilder
from .kmeans_distiller import KMeansDistiller, haar_texture_energy, rgb_to_lab
from .mfsa import MultiFrameSelfAttention, window_partition, window_reverse
from .modulation import SemanticModulation
from .precomputed import PrecomputedDistiller
from .synthetic import moving_square_clip

__all__ = [
    "SemanticDistiller", "KMeansDistiller", "PrecomputedDistiller", "check_lr_frames", "clip_hash",
    "precompute_distilled", "save_distilled", "rgb_to_lab", "haar_texture_energy", "SemanticModulation",
    "SemanticCrossAttention", "ClipTokenBuilder", "MultiFrameSelfAttention", "window_partition", "window_reverse",
    "InCAM", "InCAMBlock", "moving_square_clip",
]
