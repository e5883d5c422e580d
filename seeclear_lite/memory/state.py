"""The CaTeGory memory of one clip: the pairs (C_m, T_m) that Algorithm 1 carries from clip m to clip m+1.

During training the memory is the learned parameters (C̄, T̄) themselves. During sampling of a long video,
Algorithm 1 (lines 42–44) rebuilds it after the last diffusion step of every clip,
``C_{m+1}, T_{m+1} = M(C_m, T_m, feats)``, and the next clip is queried against the new pairs. A
:class:`MemoryState` is that per-video memory: two small tensors, one copy per video of the batch.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch


@dataclass
class MemoryState:
    """Channel-wise semantics ``C`` and textures ``T`` of the current clip, one memory per video.

    Attributes:
        C: [B, J, I, I] channel-wise semantics per group j. Column i of ``C[b, j]`` is item i's semantic
            key in the group's I semantic channels; ``C[b, j, r, i]`` says how much semantic channel r
            belongs to item i (Eq. 17, 19).
        T: [B, J, I, d_t] textures per group: row i of ``T[b, j]`` is item i's texture (Eq. 18, 20).
        clips_seen: how many clips have been written into this memory by ``CaTeGory.update``.

    Its size is fixed by the configuration (``B * J * I * (I + d_t)`` numbers), never by the length of the
    video, and states made by ``CaTeGory.initial_state`` / ``CaTeGory.update`` (default ``detach=True``)
    hold no autograd graph, so carrying one across hundreds of clips costs constant memory.
    """

    C: torch.Tensor
    T: torch.Tensor
    clips_seen: int = 0

    def __post_init__(self) -> None:
        if not (isinstance(self.C, torch.Tensor) and isinstance(self.T, torch.Tensor)):
            raise TypeError("MemoryState needs tensors C [B, J, I, I] and T [B, J, I, d_t]; "
                            f"got {type(self.C).__name__} and {type(self.T).__name__}.")
        if self.C.dim() != 4 or self.C.shape[-1] != self.C.shape[-2]:
            raise ValueError(f"MemoryState.C must have shape [B, J, I, I]; got {tuple(self.C.shape)}. "
                             "Build states with CaTeGory.initial_state(batch).")
        if self.T.dim() != 4 or self.T.shape[:3] != self.C.shape[:3]:
            raise ValueError(f"MemoryState.T must have shape [B, J, I, d_t] matching C {tuple(self.C.shape)}; "
                             f"got {tuple(self.T.shape)}. Build states with CaTeGory.initial_state(batch).")

    @property
    def batch(self) -> int:
        """Number of videos B that this memory serves."""
        return self.C.shape[0]

    @property
    def requires_grad(self) -> bool:
        """True if the pairs are still attached to an autograd graph (training through the update)."""
        return self.C.requires_grad or self.T.requires_grad

    def detach(self) -> "MemoryState":
        """The same memory cut from the autograd graph (what whole-video sampling carries between clips)."""
        return MemoryState(self.C.detach(), self.T.detach(), self.clips_seen)

    def to(self, *args, **kwargs) -> "MemoryState":
        """Move / cast both tensors, like ``Tensor.to`` (e.g. ``state.to(device)``)."""
        return MemoryState(self.C.to(*args, **kwargs), self.T.to(*args, **kwargs), self.clips_seen)

    def numel(self) -> int:
        """Number of stored numbers (independent of the video's length)."""
        return self.C.numel() + self.T.numel()

    def nbytes(self) -> int:
        """Bytes held by the two tensors."""
        return self.C.numel() * self.C.element_size() + self.T.numel() * self.T.element_size()
