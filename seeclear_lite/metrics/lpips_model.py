"""LPIPS (Zhang et al., CVPR 2018, v0.1) in plain torch: AlexNet or VGG16 features, no torchvision.

SeeClear reports LPIPS with the VGG backbone (Table 1). For two images ``x0, x1`` in [-1, 1]:
1. shift/scale each channel: ``(x - shift) / scale`` (the LPIPS ``ScalingLayer``);
2. take the ReLU activations ``f^l`` at 5 depths of the ImageNet backbone (VGG16: relu1_2, relu2_2,
   relu3_3, relu4_3, relu5_3; AlexNet: relu1..relu5);
3. unit-normalise each feature vector over channels: ``f / (||f||_2 + 1e-10)``;
4. ``d = sum_l mean_{h,w} w_l . (f0^l - f1^l)^2`` with learned non-negative 1x1 "lin" weights ``w_l``.

Inputs here are frames in [0, 1] (the kit's convention); the conversion to [-1, 1] happens inside.
Weights: :mod:`seeclear_lite.metrics.lpips_weights`.
"""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from ..utils.ranges import to_diffusion_range

from .inputs import check_frames
from .lpips_weights import NETS, N_CONVS, TAP_CHANNELS, check_net, load_state_dict

#: LPIPS ScalingLayer constants (inputs in [-1, 1]).
SHIFT = (-0.030, -0.088, -0.188)
SCALE = (0.458, 0.448, 0.450)


class VGG16Features(nn.Module):
    """The 13 convolutions of VGG16 ``features``; returns relu1_2, relu2_2, relu3_3, relu4_3, relu5_3."""

    CHANNELS = (64, 64, 128, 128, 256, 256, 256, 512, 512, 512, 512, 512, 512)
    TAPS = (1, 3, 6, 9, 12)  # conv index whose ReLU output is a tap; a 2x2 max-pool follows taps 0..3

    def __init__(self):
        super().__init__()
        ins = (3,) + self.CHANNELS[:-1]
        self.convs = nn.ModuleList(nn.Conv2d(i, o, 3, padding=1) for i, o in zip(ins, self.CHANNELS))

    def forward(self, x):
        taps = []
        for i, conv in enumerate(self.convs):
            x = F.relu(conv(x))
            if i in self.TAPS:
                taps.append(x)
                if i != self.TAPS[-1]:
                    x = F.max_pool2d(x, 2, 2)
        return taps


class AlexNetFeatures(nn.Module):
    """The 5 convolutions of AlexNet ``features``; returns relu1..relu5 (3x3/2 max-pools after 1 and 2)."""

    def __init__(self):
        super().__init__()
        self.convs = nn.ModuleList([
            nn.Conv2d(3, 64, 11, stride=4, padding=2), nn.Conv2d(64, 192, 5, padding=2),
            nn.Conv2d(192, 384, 3, padding=1), nn.Conv2d(384, 256, 3, padding=1), nn.Conv2d(256, 256, 3, padding=1),
        ])

    def forward(self, x):
        taps = []
        for i, conv in enumerate(self.convs):
            x = F.relu(conv(x))
            taps.append(x)
            if i < 2:
                x = F.max_pool2d(x, 3, 2)
        return taps


def normalize_channels(f: torch.Tensor, eps: float = 1e-10) -> torch.Tensor:
    """Unit-normalise feature vectors over the channel dim (LPIPS ``normalize_tensor``)."""
    return f / (f.pow(2).sum(dim=1, keepdim=True).sqrt() + eps)


class LPIPS(nn.Module):
    """LPIPS v0.1 distance; ``LPIPS("vgg")(a, b)`` for frames ``[..., 3, H, W]`` in [0, 1] -> ``[...]``.

    The module is frozen (eval mode, no parameter gradients); gradients still flow to the inputs, so it
    can serve as a perceptual loss. Weights are loaded from the cache (see
    :mod:`~seeclear_lite.metrics.lpips_weights`); ``download=True`` fetches them when missing,
    ``pretrained=False`` builds an untrained module (shape tests only).
    """

    def __init__(self, net: str = "vgg", download: bool = False, pretrained: bool = True):
        super().__init__()
        check_net(net)
        self.net = net
        self.register_buffer("shift", torch.tensor(SHIFT).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("scale", torch.tensor(SCALE).view(1, 3, 1, 1), persistent=False)
        self.backbone = VGG16Features() if net == "vgg" else AlexNetFeatures()
        assert len(self.backbone.convs) == N_CONVS[net]
        self.lins = nn.ModuleList(nn.Conv2d(c, 1, 1, bias=False) for c in TAP_CHANNELS[net])
        if pretrained:
            self.load_state_dict(load_state_dict(net, download=download))
        self.eval()
        self.requires_grad_(False)

    def train(self, mode: bool = True):  # always a fixed metric (dropout of the heads is off)
        return super().train(False)

    def forward(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        return paired_distance(self, a, b)

    def features(self, x: torch.Tensor) -> list[torch.Tensor]:
        """The unit-normalised backbone taps of frames ``x [B, 3, H, W]`` in [0, 1]: what :meth:`distance` compares.
        Computing them once per frame lets several distances share them (tLP compares each frame with two
        neighbours)."""
        check_frames(x, "x", channels3=True)
        x = x.reshape(-1, *x.shape[-3:]).to(self.shift.device, self.shift.dtype)
        x = (to_diffusion_range(x) - self.shift) / self.scale  # [0,1] -> [-1,1] -> ScalingLayer
        return [normalize_channels(f) for f in self.backbone(x)]

    def distance(self, fa: list[torch.Tensor], fb: list[torch.Tensor]) -> torch.Tensor:
        """LPIPS between two sets of :meth:`features` (same shapes) -> ``[B]``."""
        dist = 0.0
        for lin, a, b in zip(self.lins, fa, fb):
            dist = dist + lin((a - b) ** 2).mean(dim=(-3, -2, -1))
        return dist


def paired_distance(metric: nn.Module, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """``metric.distance`` of frames ``a`` and ``b`` ``[..., 3, H, W]`` -> ``[...]``, both through one batched
    ``metric.features`` call (LPIPS and DISTS share this forward)."""
    check_frames(a, "a", channels3=True)
    check_frames(b, "b", channels3=True)
    if a.shape != b.shape:
        raise ValueError(f"shape mismatch: a has shape {tuple(a.shape)} but b has {tuple(b.shape)}.")
    lead = a.shape[:-3]
    n = a.reshape(-1, *a.shape[-3:]).shape[0]
    feats = metric.features(torch.cat([a.reshape(-1, *a.shape[-3:]), b.reshape(-1, *b.shape[-3:])]))
    return metric.distance([f[:n] for f in feats], [f[n:] for f in feats]).reshape(lead)


_CACHE: dict[tuple[str, str], LPIPS] = {}


def get_lpips(net: str = "vgg", device=None, download: bool = False) -> LPIPS:
    """A cached, frozen :class:`LPIPS` module for ``net`` on ``device`` (built once per process)."""
    device = torch.device(device) if device is not None else torch.device("cpu")
    key = (net, str(device))
    if key not in _CACHE:
        _CACHE[key] = LPIPS(net, download=download).to(device)
    return _CACHE[key]


def lpips(a: torch.Tensor, b: torch.Tensor, net: str = "vgg", download: bool = False) -> torch.Tensor:
    """LPIPS distance per image between frames ``[..., 3, H, W]`` in [0, 1] (on ``a``'s device)."""
    if not isinstance(a, torch.Tensor):
        check_frames(a, "a")
    with torch.no_grad():
        return get_lpips(net, a.device, download=download)(a, b)
