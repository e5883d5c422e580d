"""The one place that chooses a device and a run profile.

Everything else in the kit (notebooks, CLI, tests) calls :func:`get_device` or :func:`resolve_profile`
instead of writing ``.cuda()`` or a device string, so the same code runs on a laptop CPU and on a GPU.
"""

from __future__ import annotations

import os

import torch

#: The run profiles. ``smoke``: seconds, for CI; ``cpu``: minutes on a 2-core CPU; ``cuda``: the real run.
PROFILES = ("smoke", "cpu", "cuda")

#: Environment variable that picks the profile when a notebook's ``PROFILE`` parameter is ``None``.
PROFILE_ENV = "SEECLEAR_PROFILE"


def resolve_profile(profile: str | None = None) -> str:
    """Return the run profile: the argument, else ``$SEECLEAR_PROFILE``, else ``cuda`` if a CUDA device
    is available, else ``cpu``. ``"auto"`` means the same as ``None``."""
    if profile is None or profile == "auto":
        profile = os.environ.get(PROFILE_ENV) or ("cuda" if torch.cuda.is_available() else "cpu")
    if not isinstance(profile, str) or profile not in PROFILES:
        raise ValueError(
            f"Unknown profile {profile!r}: use one of {PROFILES} (or None / 'auto' to choose "
            f"automatically; the environment variable {PROFILE_ENV} can also set it)."
        )
    if profile == "cuda" and not torch.cuda.is_available():
        raise RuntimeError(
            "Profile 'cuda' was asked for but torch sees no CUDA device "
            f"(torch {torch.__version__}). Use PROFILE='cpu' or 'smoke', or install a CUDA build of torch."
        )
    return profile


def get_device(profile: str | None = None, device: str | torch.device | None = None) -> torch.device:
    """Pick the device: an explicit ``device`` wins; otherwise CUDA for the ``cuda`` profile (or when a
    GPU is present and no profile is given), else CPU. The ``smoke`` and ``cpu`` profiles stay on the
    CPU even on a GPU machine, so their numbers are comparable everywhere."""
    if device is not None:
        return check_device(device)
    if profile is None:
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device("cuda" if resolve_profile(profile) == "cuda" else "cpu")


def check_device(device: str | torch.device) -> torch.device:
    """``device`` as a torch.device, or a one-line ValueError that names the fix (an unknown type such as "gpu",
    CUDA asked for on a build or machine without it)."""
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError):
        raise ValueError(f"unknown device {device!r}: use cpu, cuda or cuda:N.") from None
    if dev.type not in ("cpu", "cuda"):
        raise ValueError(f"device {device!r} is not supported by the kit: use cpu, cuda or cuda:N.")
    if dev.type == "cuda" and not torch.cuda.is_available():
        build = "a CPU build" if torch.version.cuda is None else f"CUDA {torch.version.cuda}, but no GPU is visible"
        raise ValueError(f"device {device!r}: CUDA is not available (torch {torch.__version__}, {build}); use "
                         f"--device cpu.")
    if dev.type == "cuda" and dev.index is not None and dev.index >= torch.cuda.device_count():
        raise ValueError(f"device {device!r}: only {torch.cuda.device_count()} GPU(s) visible; use cuda:0..")
    return dev


def device_name(device: str | torch.device) -> str:
    """A readable name for records (checkpoints, benchmark tables): the GPU's name for CUDA, else the CPU's
    model and core count, e.g. ``"NVIDIA H100 80GB HBM3"`` or ``"cpu: AMD EPYC 7B13 (2 cores)"``."""
    device = torch.device(device)
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    model = ""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            model = next((line.split(":", 1)[1].strip() for line in f if line.startswith("model name")), "")
    except OSError:
        import platform

        model = platform.processor() or platform.machine()
    return f"{device.type}: {model or 'unknown model'} ({os.cpu_count()} cores)"


def set_channels_last(model: torch.nn.Module, enabled: bool = True) -> torch.nn.Module:
    """The one place the kit switches a model's memory format: channels-last convolution weights (what oneDNN
    runs fastest on a CPU; ``bench`` measures it) or back to contiguous. Returns the model."""
    return model.to(memory_format=torch.channels_last if enabled else torch.contiguous_format)
