"""Build a Pixel Condenser from a configuration, plugging in the semantic modules its switches ask for.

Later modules register a *plugin*: ``register_plugin(name, builder)``, where ``builder(config)`` returns a
dict with any of ``middle_hook_factory``, ``decoder_hook_factory``, ``memory_hook_factory``,
``clip_token_builder`` and ``extras`` (a dict of named modules), i.e. :class:`PixelCondenser`'s keyword
arguments. The switches map to plugins as follows (each plugin reads the switches it cares about):

* ``semantic_condition`` / ``mfsa`` / ``incam`` -> plugin ``"incam"``, registered by importing
  ``seeclear_lite.semantics`` (Sec. 3.2);
* ``category`` -> plugin ``"category"``, registered by importing ``seeclear_lite.memory`` (Sec. 3.3).

With every switch off, ``build_model(cfg)`` is exactly ``PixelCondenser(cfg)``: the baseline (Table 2, row 1).
"""

from __future__ import annotations

import importlib
from typing import Callable

from .condenser import PixelCondenser
from .config import ModelConfig, get_config

#: plugin name -> builder(config) -> dict of PixelCondenser keyword arguments
PLUGINS: dict[str, Callable[[ModelConfig], dict]] = {}
#: plugin name -> module whose import registers it
PLUGIN_MODULES = {"incam": "seeclear_lite.semantics", "category": "seeclear_lite.memory"}
_KEYS = ("middle_hook_factory", "decoder_hook_factory", "memory_hook_factory", "clip_token_builder", "extras")


def register_plugin(name: str, builder: Callable[[ModelConfig], dict]) -> None:
    """Register the builder of a semantic plugin (call it at import time of the plugin's package)."""
    PLUGINS[name] = builder


def required_plugins(cfg: ModelConfig) -> list[str]:
    """The plugins the configuration's switches turn on, in build order."""
    names = []
    if cfg.semantic_condition or cfg.mfsa or cfg.incam:
        names.append("incam")
    if cfg.category:
        names.append("category")
    return names


def build_model(config: ModelConfig | str, **overrides) -> PixelCondenser:
    """``PixelCondenser`` for a config (or config name + field overrides) with its plugins plugged in."""
    cfg = get_config(config, **overrides) if isinstance(config, str) else config
    if overrides and not isinstance(config, str):
        raise ValueError("field overrides are only accepted with a config name; use dataclasses.replace(cfg, ...).")
    kwargs: dict = {}
    for name in required_plugins(cfg):
        if name not in PLUGINS:
            try:
                importlib.import_module(PLUGIN_MODULES[name])
            except ModuleNotFoundError as err:
                raise ValueError(f"The config {cfg.name!r} switches on {name!r}, but {PLUGIN_MODULES[name]} is not "
                                 f"available in this version of the kit ({err}); turn the switch off.") from err
        if name not in PLUGINS:
            raise ValueError(f"The config {cfg.name!r} switches on {name!r}, but no plugin {name!r} is registered "
                             f"(importing {PLUGIN_MODULES[name]} should call register_plugin).")
        parts = PLUGINS[name](cfg)
        bad = set(parts) - set(_KEYS)
        if bad:
            raise ValueError(f"plugin {name!r} returned unknown parts {sorted(bad)}; allowed: {_KEYS}.")
        for key, value in parts.items():
            if value is None:
                continue
            if key == "extras":
                kwargs.setdefault("extras", {}).update(value)
            elif key in kwargs:
                raise ValueError(f"two plugins both provide {key!r}; combine them in one factory.")
            else:
                kwargs[key] = value
    return PixelCondenser(cfg, **kwargs)
