"""Plugging CaTeGory into the Pixel Condenser (``seeclear_lite.models.build``, switch ``category``).

``build_model(cfg)`` with ``cfg.category = True`` imports this package, which registers
:func:`category_plugin` under the name ``"category"``. The plugin builds one :class:`CaTeGory` sized by the
preset of the same name as the model configuration (``tiny`` / ``base`` / ``paper``; others get ``tiny``),
registers it as ``extras["category"]`` (counted as ``category`` by ``info --json``) and gives the
condenser one parameter-free hook per decoder level (``memory_hooks[k]``, Alg. 1 line 38).

The memory reads the clip tokens O_c (Eq. 19), which InCAM's clip-token builder puts in
``cond.clip_tokens``; their width is ``cfg.clip_dim`` if the configuration has one, else ``cfg.token_dim``.
"""

from __future__ import annotations

from .category import PRESETS, CaTeGory, CaTeGoryConfig


def category_config_for(model_config, **overrides) -> CaTeGoryConfig:
    """The :class:`CaTeGoryConfig` matching a Pixel Condenser configuration (decoder widths deepest first)."""
    preset = model_config.name if model_config.name in PRESETS else "tiny"
    token_dim = getattr(model_config, "clip_dim", None) or model_config.token_dim
    level_channels = tuple(reversed(model_config.widths))  # the decoder runs deepest level first
    return CaTeGoryConfig.preset(preset, token_dim=token_dim, level_channels=level_channels, **overrides)


def category_plugin(model_config, **overrides) -> dict:
    """``build_model`` plugin: ``{"memory_hook_factory": ..., "extras": {"category": CaTeGory}}``."""
    category = CaTeGory(category_config_for(model_config, **overrides))
    widths = category.config.level_channels

    def memory_hook_factory(index: int, channels: int):
        if index >= len(widths) or channels != widths[index]:
            raise ValueError(f"the condenser asks for a memory hook at decoder level {index} with {channels} "
                             f"channels, but CaTeGory was sized for decoder widths {widths} (deepest first).")
        return category.query_hook(index)

    return {"memory_hook_factory": memory_hook_factory, "extras": {"category": category}}
