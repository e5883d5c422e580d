"""The Pixel Condenser U-Net (Sec. 3.1, App. C), its named configurations and its semantic hooks."""

from .build import PLUGINS, build_model, register_plugin, required_plugins
from .condenser import PixelCondenser
from .conditioning import Conditioning, IdentityHook
from .config import CONFIGS, ModelConfig, config_names, get_config, resshift_sqrt_eta

__all__ = ["PLUGINS", "build_model", "register_plugin", "required_plugins", "PixelCondenser", "Conditioning",
           "IdentityHook", "CONFIGS", "ModelConfig", "config_names", "get_config", "resshift_sqrt_eta"]
