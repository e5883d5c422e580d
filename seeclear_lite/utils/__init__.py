"""Small shared helpers: device choice, profiles, seeding, atomic file writes."""

from .device import PROFILES, device_name, get_device, resolve_profile
from .io import atomic_torch_save, atomic_write_bytes, atomic_write_text

__all__ = ["device_name", "get_device", "resolve_profile", "PROFILES", "atomic_write_bytes", "atomic_torch_save",
           "atomic_write_text"]
