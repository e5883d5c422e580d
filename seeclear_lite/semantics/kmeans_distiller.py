"""The default, offline Semantic Distiller: joint k-means over all frames of a clip (stands in for OpenSeeD).

No pretrained open-vocabulary segmenter can be installed on the kit's machines, so the default distiller
needs no weights at all. It still gives InCAM what it needs from S (Eqs. 8–9): a few segments per clip
that are **the same objects in every frame**, a token per segment and frame, and pixel-level maps.

Algorithm (all frames of one clip at once, deterministic):
1. **Pixel features** (one row per pixel of every frame): CIE-Lab colour / 100, normalised position
   (x, y) × ``pos_weight``, and a local texture energy × ``tex_weight``: the magnitude of the three
   one-level Haar detail bands (LH, HL, HH) of the lightness, box-smoothed and squashed by
   ``tanh(energy / tex_scale)`` (Eq. 7's wavelet, used here as a texture detector).
2. **Joint k-means** on the pixels of *all N frames* with ``n_segments`` centres, k-means++ init from a
   fixed-seed generator, ``iters`` Lloyd steps. Because the clustering is shared, segment ``j`` is one
   centre in feature space for the whole clip: an object that moves keeps its colour and texture, so its
   pixels keep the label ``j`` in every frame (the position term is kept small so motion does not split it).
3. **Top-k (the analogue of Eq. 9).** OpenSeeD keeps the k queries most similar to the vocabulary; here
   each segment gets the score ``area × (contrast + 0.1)`` — ``area`` the fraction of the clip's pixels it
   holds, ``contrast`` the Lab/100 distance of its mean colour from the clip's mean colour (the 0.1 keeps
   large, plain backgrounds in) — and the k best are kept, in score order.
4. **Tokens O [B, N, k, d]**: per frame and kept segment, an 11-number descriptor — mean Lab/100 (3),
   centroid (2), spatial spread (2), texture (1), area fraction in the frame (1), centroid motion since
   the previous frame (2) — times a fixed random projection [11, d] drawn from ``seed`` (frozen, so the
   same descriptor always gives the same token).
5. **Segmentation features P [B, N, k + 4, h, w]**: the soft assignment of every pixel to the k kept
   segments, ``softmax(-‖x − μ_j‖² / temperature)`` over all ``n_segments`` centres (channels of dropped
   segments removed, like OpenSeeD's top-k masks), followed by the pixel's Lab/100 (3) and texture (1).

What it costs compared with OpenSeeD: no semantics beyond appearance — two objects of the same colour and
texture share a segment, a multi-coloured object is split, and there is no vocabulary (no "person",
"car"). What it keeps: segments consistent across the clip, a token per segment, pixel maps, and the
exact tensor contract, so a real segmenter plugs in without touching InCAM.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from .distiller import SemanticDistiller

#: Number of numbers in a segment descriptor (before the projection to d).
N_DESCRIPTORS = 11
#: Per-pixel descriptor channels appended to the soft assignments in P (Lab/100 and texture).
N_PIXEL_DESCRIPTORS = 4


def rgb_to_lab(rgb: torch.Tensor) -> torch.Tensor:
    """sRGB in [0, 1] (channel axis -3) -> CIE-Lab (D65): L in [0, 100], a, b roughly in [-128, 127]."""
    rgb = rgb.clamp(0, 1)
    lin = torch.where(rgb <= 0.04045, rgb / 12.92, ((rgb + 0.055) / 1.055) ** 2.4)
    m = torch.tensor([[0.412453, 0.357580, 0.180423],
                      [0.212671, 0.715160, 0.072169],
                      [0.019334, 0.119193, 0.950227]], dtype=rgb.dtype, device=rgb.device)
    xyz = torch.einsum("ij,...jhw->...ihw", m, lin)
    white = torch.tensor([0.950456, 1.0, 1.088754], dtype=rgb.dtype, device=rgb.device)
    t = xyz / white[:, None, None]
    eps = (6 / 29) ** 3
    f = torch.where(t > eps, t.clamp_min(eps) ** (1 / 3), t / (3 * (6 / 29) ** 2) + 4 / 29)
    L = 116 * f[..., 1, :, :] - 16
    a = 500 * (f[..., 0, :, :] - f[..., 1, :, :])
    b = 200 * (f[..., 1, :, :] - f[..., 2, :, :])
    return torch.stack([L, a, b], dim=-3)


def haar_texture_energy(gray: torch.Tensor, smooth: int = 3) -> torch.Tensor:
    """Local texture energy of images [..., h, w]: sqrt(LH² + HL² + HH²) of a one-level orthonormal Haar
    DWT (on 2×2 blocks), spread back to full resolution and box-smoothed over ``smooth``×``smooth``."""
    lead, (h, w) = gray.shape[:-2], gray.shape[-2:]
    x = gray.reshape(-1, 1, h, w)
    x = F.pad(x, (0, w % 2, 0, h % 2), mode="replicate")
    a, b = x[..., 0::2, 0::2], x[..., 0::2, 1::2]
    c, d = x[..., 1::2, 0::2], x[..., 1::2, 1::2]
    lh, hl, hh = (a + b - c - d) / 2, (a - b + c - d) / 2, (a - b - c + d) / 2
    e = torch.sqrt(lh ** 2 + hl ** 2 + hh ** 2)
    e = e.repeat_interleave(2, -2).repeat_interleave(2, -1)[..., :h, :w]
    if smooth > 1:
        e = F.avg_pool2d(F.pad(e, (smooth // 2,) * 4, mode="replicate"), smooth, stride=1)
    return e.reshape(*lead, h, w)


def _grid(h: int, w: int, device) -> torch.Tensor:
    """Pixel-centre coordinates [2, h, w] = (x, y), each in (0, 1)."""
    ys = (torch.arange(h, device=device, dtype=torch.float32) + 0.5) / h
    xs = (torch.arange(w, device=device, dtype=torch.float32) + 0.5) / w
    yy, xx = torch.meshgrid(ys, xs, indexing="ij")
    return torch.stack([xx, yy])


class KMeansDistiller(SemanticDistiller):
    """Joint-k-means Semantic Distiller (module docstring has the algorithm).

    Args:
        k: tokens kept per frame (top-k of the ``n_segments`` segments; Eq. 9's k).
        d: token width.
        n_segments: k-means centres per clip (>= k).
        iters: Lloyd iterations.
        pos_weight, tex_weight: weights of the position and texture features (colour has weight 1).
        temperature: softness of the assignments in P (squared feature distance units).
        tex_scale: texture energy that maps to tanh(1) ≈ 0.76.
        seed: seeds the k-means++ init and the token projection.
        cache_size: clips kept in the in-memory cache (see :class:`SemanticDistiller`).
    """

    def __init__(self, k: int = 8, d: int = 64, n_segments: int = 12, iters: int = 15,
                 pos_weight: float = 0.3, tex_weight: float = 0.3, temperature: float = 0.02,
                 tex_scale: float = 0.05, seed: int = 0, cache_size: int = 0):
        super().__init__(k=k, d=d, c=k + N_PIXEL_DESCRIPTORS, cache_size=cache_size)
        if n_segments < k:
            raise ValueError(f"n_segments ({n_segments}) must be >= k ({k}): the top-k keeps k of them.")
        if temperature <= 0 or tex_scale <= 0:
            raise ValueError("temperature and tex_scale must be > 0.")
        self.n_segments, self.iters = int(n_segments), int(iters)
        self.pos_weight, self.tex_weight = float(pos_weight), float(tex_weight)
        self.temperature, self.tex_scale, self.seed = float(temperature), float(tex_scale), int(seed)
        g = torch.Generator().manual_seed(seed)
        # fixed, frozen projection of the 11 descriptors to d dims (a buffer: no gradient, moves with .to())
        self.register_buffer("projection", torch.randn(N_DESCRIPTORS, d, generator=g) / N_DESCRIPTORS ** 0.5,
                             persistent=False)   # derived from the seed: not part of a checkpoint

    def signature(self) -> str:
        return (f"KMeansDistiller(k={self.k}, d={self.d}, n_segments={self.n_segments}, iters={self.iters}, "
                f"pos={self.pos_weight}, tex={self.tex_weight}, T={self.temperature}, "
                f"tex_scale={self.tex_scale}, seed={self.seed})")

    # --- step 1 ---------------------------------------------------------------------------------------
    def pixel_features(self, clip: torch.Tensor) -> torch.Tensor:
        """Features [N, 6, h, w] of one clip [N, 3, h, w]: Lab/100, weighted (x, y), weighted texture."""
        N, _, h, w = clip.shape
        lab = rgb_to_lab(clip.float()) / 100.0
        tex = torch.tanh(haar_texture_energy(lab[:, 0]) / self.tex_scale)
        pos = _grid(h, w, clip.device).expand(N, 2, h, w) * self.pos_weight
        return torch.cat([lab, pos, self.tex_weight * tex[:, None]], dim=1)

    # --- step 2 ---------------------------------------------------------------------------------------
    def kmeans(self, x: torch.Tensor) -> torch.Tensor:
        """Deterministic k-means on points x [M, D]: k-means++ init (fixed seed), Lloyd steps. -> centres."""
        g = torch.Generator(device="cpu").manual_seed(self.seed)
        M = x.shape[0]
        centres = x[torch.randint(M, (1,), generator=g).item()][None]
        d2 = ((x - centres[0]) ** 2).sum(1)
        for _ in range(1, self.n_segments):
            probs = (d2 / d2.sum()).cpu() if float(d2.sum()) > 0 else torch.full((M,), 1.0 / M)
            i = torch.multinomial(probs, 1, generator=g).item()
            centres = torch.cat([centres, x[i][None]])
            d2 = torch.minimum(d2, ((x - x[i]) ** 2).sum(1))
        for _ in range(self.iters):
            labels = torch.cdist(x, centres).argmin(1)
            sums = torch.zeros_like(centres).index_add_(0, labels, x)
            counts = torch.bincount(labels, minlength=self.n_segments).to(x.dtype)
            empty = counts == 0
            new = sums / counts.clamp_min(1)[:, None]
            if empty.any():  # re-seed an empty centre at the point farthest from its centre
                far = ((x - centres[labels]) ** 2).sum(1)
                for j in torch.nonzero(empty).flatten().tolist():
                    i = int(far.argmax())
                    new[j], far[i] = x[i], -1.0
            if torch.equal(new, centres):
                break
            centres = new
        return centres

    # --- steps 3–5 ------------------------------------------------------------------------------------
    def distill(self, lr_frames: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        tokens, segs = zip(*(self._distill_clip(clip) for clip in lr_frames))
        return torch.stack(tokens), torch.stack(segs)

    def _distill_clip(self, clip: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        N, _, h, w = clip.shape
        feats = self.pixel_features(clip)                                   # [N, 6, h, w]
        x = feats.permute(0, 2, 3, 1).reshape(-1, feats.shape[1])           # [N*h*w, 6]
        centres = self.kmeans(x)
        d2 = torch.cdist(x, centres) ** 2                                   # [M, S]
        labels = d2.argmin(1)
        soft = torch.softmax(-d2 / self.temperature, dim=1)                # [M, S]

        # step 3: top-k segments by area × (contrast + 0.1)  (Eq. 9 analogue)
        lab = feats[:, :3].permute(0, 2, 3, 1).reshape(-1, 3)
        counts = torch.bincount(labels, minlength=self.n_segments).float()
        area = counts / labels.numel()
        mean_lab = torch.zeros(self.n_segments, 3, device=x.device).index_add_(0, labels, lab)
        mean_lab = mean_lab / counts.clamp_min(1)[:, None]
        contrast = (mean_lab - lab.mean(0)).norm(dim=1)
        score = area * (contrast + 0.1)
        keep = torch.argsort(score, descending=True, stable=True)[: self.k]  # [k]

        # step 4: tokens from per-frame, per-segment descriptors
        onehot = F.one_hot(labels, self.n_segments).float().reshape(N, h * w, self.n_segments)[..., keep]
        n_pix = onehot.sum(1)                                               # [N, k]
        wts = onehot / n_pix.clamp_min(1)[:, None, :]                       # per-frame averaging weights
        lab_f = lab.reshape(N, h * w, 3)
        pos = _grid(h, w, x.device).reshape(2, h * w).T.expand(N, -1, -1)         # [N, hw, 2] (x, y)
        tex = torch.tanh(haar_texture_energy(feats[:, 0]) / self.tex_scale).reshape(N, h * w, 1)
        present = (n_pix > 0).float()[..., None]
        m_lab = wts.transpose(1, 2) @ lab_f                                 # [N, k, 3]
        m_lab = present * m_lab + (1 - present) * mean_lab[keep][None]      # absent: the clip-level colour
        centroid = wts.transpose(1, 2) @ pos                                # [N, k, 2]
        spread = (wts.transpose(1, 2) @ pos ** 2 - centroid ** 2).clamp_min(0).sqrt()
        m_tex = wts.transpose(1, 2) @ tex                                   # [N, k, 1]
        frac = (n_pix / (h * w))[..., None]
        motion = torch.zeros_like(centroid)
        both = (present[1:] * present[:-1])
        motion[1:] = (centroid[1:] - centroid[:-1]) * both
        desc = torch.cat([m_lab, centroid, spread, m_tex, frac, 5.0 * motion], dim=-1)  # [N, k, 11]
        tokens = desc @ self.projection.to(desc)

        # step 5: P = soft assignments to the kept segments + per-pixel descriptors
        assign = soft[:, keep].reshape(N, h, w, self.k).permute(0, 3, 1, 2)
        pix = torch.cat([feats[:, :3], tex.reshape(N, 1, h, w)], dim=1)
        seg = torch.cat([assign, pix], dim=1)
        return tokens.to(clip.dtype), seg.to(clip.dtype)

    @staticmethod
    def labels(seg: torch.Tensor, k: int) -> torch.Tensor:
        """Hard segment ids [..., h, w] in 0..k-1 (the argmax of P's k assignment channels)."""
        return seg[..., :k, :, :].argmax(dim=-3)
