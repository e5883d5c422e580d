"""SeeClear (Sec. 3) in one module: the Pixel Condenser with the Semantic Distiller, InCAM and CaTeGory."""

from .condenser import PixelCondenser
from .seeclear import Condition, SeeClear, build_model, default_distiller

__all__ = ["PixelCondenser", "Condition", "SeeClear", "build_model", "default_distiller"]
