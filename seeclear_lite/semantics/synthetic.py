"""A synthetic clip with a known moving object, to test that a distiller's segments follow objects."""

from __future__ import annotations

import torch


def moving_square_clip(n_frames: int = 5, size: int = 64, square: int = 16, step: tuple[int, int] = (2, 4),
                       colour=(0.85, 0.15, 0.10), seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """A coloured square moving by ``step`` = (rows, cols) pixels per frame over a textured background.

    Returns ``frames`` [1, N, 3, size, size] in [0, 1] and the object's masks [N, size, size] (bool).
    The background is a greenish-grey sine-grating texture with a little seeded noise.
    """
    g = torch.Generator().manual_seed(seed)
    yy, xx = torch.meshgrid(torch.arange(size).float(), torch.arange(size).float(), indexing="ij")
    grey = 0.45 + 0.15 * torch.sin(xx / 3.0) * torch.cos(yy / 5.0) + 0.05 * torch.rand(size, size, generator=g)
    background = torch.stack([0.9 * grey, grey, 0.8 * grey])
    y0 = size // 2 - square // 2 - (n_frames - 1) * step[0] // 2
    x0 = size // 2 - square // 2 - (n_frames - 1) * step[1] // 2
    if min(y0, x0) < 0 or max(y0, x0) + (n_frames - 1) * max(step) + square > size:
        raise ValueError("the square leaves the frame: use a larger size, a smaller square or a smaller step.")
    frames, masks = [], []
    for i in range(n_frames):
        mask = torch.zeros(size, size, dtype=torch.bool)
        mask[y0 + i * step[0]: y0 + i * step[0] + square, x0 + i * step[1]: x0 + i * step[1] + square] = True
        frame = background.clone()
        frame[:, mask] = torch.tensor(colour)[:, None]
        frames.append(frame)
        masks.append(mask)
    return torch.stack(frames)[None].clamp(0, 1), torch.stack(masks)
