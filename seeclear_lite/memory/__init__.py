"""CaTeGory, the Channel-wise Texture Aggregation Memory (Sec. 3.3, Eqs. 16–20, Algorithm 1 lines 37–45).

- :class:`CaTeGory` the learned pairs (C̄_j, T̄_j), the per-level query hooks (Eqs. 19–20) and the
  construction / clip-to-clip update M (Eqs. 16–18).
- :class:`MemoryState` the memory (C_m, T_m) carried from one clip of a video to the next.
- :class:`CaTeGoryConfig` sizes (presets ``tiny``, ``base``, ``paper``).
- :func:`category_plugin` plugs it into the Pixel Condenser; importing this package registers it with
  ``seeclear_lite.models.build`` (switch ``ModelConfig.category``).
"""

from .category import (PRESETS, CaTeGory, CaTeGoryConfig, CaTeGoryHook, MemoryQueryHook, count_parameters,
                       memory_parameters, split_parameters)
from .plugin import category_config_for, category_plugin
from .state import MemoryState

from ..models.build import register_plugin

register_plugin("category", category_plugin)

__all__ = ["CaTeGory", "CaTeGoryConfig", "CaTeGoryHook", "MemoryQueryHook", "MemoryState", "PRESETS",
           "category_config_for", "category_plugin", "count_parameters", "memory_parameters", "split_parameters"]
