"""CaTeGory, the Channel-wise Texture Aggregation Memory (Sec. 3.3, Eqs. 16-20, Algorithm 1 lines 37-45).

- :class:`CaTeGory`    the learned pairs (C̄_j, T̄_j), the per-level query (Eqs. 19-20) and the construction /
  clip-to-clip update M (Eqs. 16-18).
- :class:`MemoryState` the memory (C_m, T_m) carried from one clip of a video to the next.
"""

from .category import CaTeGory, MemoryQuery
from .state import MemoryState

__all__ = ["CaTeGory", "MemoryQuery", "MemoryState"]
