"""Image I/O for video frames: one PNG per frame, RGB, 8 bits, values in [0, 1] in memory.

The VSR benchmarks (REDS4, Vid4) store each frame as an 8-bit RGB PNG, and the metrics of the
literature are computed on 8-bit frames. Every frame the kit reads goes through :func:`read_image`,
which enforces that contract and says what to do when a file breaks it:
============================  ===========================================================================
file                          what :func:`read_image` does
============================  ===========================================================================
8-bit RGB                     returned as is (divided by 255)
8-bit grayscale (L, 1-bit)    **converted** to RGB by repeating the channel, with a ``UserWarning``
                              (a note, so the conversion is never silent)
palette (P)                   converted to RGB by the decoder (no loss: a palette holds 8-bit RGB)
RGBA / gray + alpha           accepted only if the alpha channel is fully opaque (alpha dropped);
                              otherwise **rejected**: what should a transparent pixel look like?
16-bit (any mode)             **rejected**: the decoder (Pillow) silently truncates 16-bit RGB to 8 bits,
                              and the benchmarks are 8-bit; convert the file to 8 bits first
anything else / corrupt file  rejected; the error names the file
============================  ===========================================================================

:func:`write_image` quantises to 8 bits (round half to even of ``x * 255`` after clamping to [0, 1]) and
writes the PNG atomically, so metrics computed on a frame re-read from disk equal metrics on
:func:`quantize` of the in-memory frame.
"""

from __future__ import annotations

import io
import os
import re
import struct
import warnings
from pathlib import Path

import numpy as np
import torch

from ..utils.io import atomic_write_bytes

#: File extensions treated as frames when listing a clip folder.
IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff")

_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def _png_bit_depth(path: Path) -> int | None:
    """Bit depth from the PNG header (IHDR byte 24), or None if the file is not a PNG."""
    with open(path, "rb") as fh:
        head = fh.read(29)
    if len(head) < 29 or head[:8] != _PNG_SIGNATURE or head[12:16] != b"IHDR":
        return None
    return struct.unpack(">B", head[24:25])[0]


def read_image_uint8(path: str | os.PathLike) -> np.ndarray:
    """Read one frame as a uint8 ``[H, W, 3]`` numpy array (the policy in the module docstring)."""
    import imageio.v3 as iio

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"Image file not found: {path}")
    if _png_bit_depth(path) == 16:
        raise ValueError(
            f"{path} is a 16-bit PNG. The kit works with 8-bit RGB frames, like REDS4 and Vid4; convert "
            f"the file to 8 bits first (for example with numpy: (x16 / 257).round().astype('uint8'))."
        )
    try:
        img = np.asarray(iio.imread(path))
    except Exception as err:  # imageio raises OSError, ValueError, SyntaxError... for bad files
        raise ValueError(f"Could not read the image {path}: the file is corrupt or not an image "
                         f"({type(err).__name__}: {str(err).splitlines()[0] if str(err) else ''}). "
                         f"Re-create or re-download it.") from err
    if img.dtype == np.bool_:
        img = img.astype(np.uint8) * 255
    if img.dtype == np.uint16:
        raise ValueError(f"{path} is a 16-bit image. The kit works with 8-bit RGB frames; convert the file "
                         f"to 8 bits first (for example (x16 / 257).round().astype('uint8')).")
    if img.dtype != np.uint8:
        raise ValueError(f"{path} has pixel type {img.dtype}; the kit reads 8-bit RGB images only. "
                         f"Save the frame as an 8-bit RGB PNG.")
    if img.ndim == 3 and img.shape[-1] == 1:
        img = img[..., 0]
    if img.ndim == 3 and img.shape[-1] == 4 and _pil_mode(path) == "CMYK":
        raise ValueError(f"{path} is a CMYK image (print colours: cyan, magenta, yellow, black), not RGB. Convert it "
                         f"to an 8-bit RGB PNG with its colour profile (e.g. an image editor's 'convert to sRGB'), then "
                         f"use that file.")
    if img.ndim == 3 and img.shape[-1] in (2, 4):  # gray+alpha or RGBA
        alpha = img[..., -1]
        if alpha.min() < 255:
            raise ValueError(
                f"{path} has a transparent alpha channel ({int((alpha < 255).sum())} pixels are not opaque). "
                f"Video frames have no transparency: flatten the image onto a background and save it as RGB."
            )
        img = img[..., :-1]
        if img.shape[-1] == 1:
            img = img[..., 0]
    if img.ndim == 2:
        warnings.warn(f"{path} is a grayscale image; converted to RGB by repeating the channel.",
                      UserWarning, stacklevel=3)
        img = np.repeat(img[..., None], 3, axis=-1)
    if img.ndim != 3 or img.shape[-1] != 3:
        raise ValueError(f"{path} has shape {img.shape}; expected an RGB image [H, W, 3] (an animated or "
                         f"multi-page file is not a frame: split it into one PNG per frame).")
    return np.ascontiguousarray(img)


def _pil_mode(path: Path) -> str | None:
    """The image mode Pillow reads from the file's header (``RGB``, ``CMYK``, ...), or None."""
    try:
        from PIL import Image

        with Image.open(path) as im:
            return im.mode
    except Exception:
        return None


def read_image(path: str | os.PathLike) -> torch.Tensor:
    """Read one frame as float32 ``[3, H, W]`` in [0, 1]."""
    return uint8_to_float(read_image_uint8(path))


def uint8_to_float(img: np.ndarray) -> torch.Tensor:
    """uint8 ``[..., H, W, 3]`` numpy -> float32 ``[..., 3, H, W]`` torch tensor in [0, 1]."""
    t = torch.from_numpy(np.ascontiguousarray(img))
    return t.movedim(-1, -3).to(torch.float32).div_(255.0)


def quantize(x: torch.Tensor) -> torch.Tensor:
    """The frame as it is saved: clamp to [0, 1], round to the 8-bit grid, back to [0, 1] (float32)."""
    return to_uint8(x).to(torch.float32).div_(255.0)


def to_uint8(x: torch.Tensor) -> torch.Tensor:
    """float ``[..., 3, H, W]`` in [0, 1] -> uint8 tensor (same layout); clamps, rounds half to even."""
    if not torch.is_tensor(x):
        raise TypeError(f"expected a torch tensor, got {type(x).__name__}")
    if not x.is_floating_point():
        raise TypeError(f"expected a floating tensor in [0, 1], got dtype {x.dtype}")
    return (x.detach().clamp(0.0, 1.0) * 255.0).round().to(torch.uint8)  # in x's precision


def encode_png(img: np.ndarray, compress_level: int = 6) -> bytes:
    """PNG bytes of a uint8 ``[H, W, 3]`` array."""
    import imageio.v3 as iio

    if img.dtype != np.uint8 or img.ndim != 3 or img.shape[-1] != 3:
        raise ValueError(f"encode_png expects uint8 [H, W, 3], got {img.dtype} {tuple(img.shape)}")
    buf = io.BytesIO()
    iio.imwrite(buf, img, extension=".png", compress_level=compress_level)
    return buf.getvalue()


def write_image(path: str | os.PathLike, x, compress_level: int = 6) -> Path:
    """Write a frame as an 8-bit RGB PNG, atomically. ``x``: float tensor ``[3, H, W]`` in [0, 1]
    (clamped and rounded, see :func:`to_uint8`) or a uint8 numpy ``[H, W, 3]`` array."""
    if torch.is_tensor(x):
        if x.ndim != 3 or x.shape[0] != 3:
            raise ValueError(f"write_image expects a [3, H, W] tensor, got shape {tuple(x.shape)}")
        img = to_uint8(x).permute(1, 2, 0).cpu().numpy()
    else:
        img = np.asarray(x)
    return atomic_write_bytes(path, encode_png(img, compress_level))


#: A frame name: anything, then the frame number, then no more digits (``frame12.png``, ``00000012.png``).
_NUMBERED = re.compile(r"^(.*?)(\d+)(\D*)$")


def list_frames(folder: str | os.PathLike) -> list[Path]:
    """The frame files of a clip folder in time order: by the number in their names (natural order, so ``frame2``
    comes before ``frame10``), or by name when no name holds a number. Hidden files (macOS ``._*`` debris) and
    folders (``.ipynb_checkpoints``) are skipped; a clip whose names mix patterns, or that has two files for one
    frame number, is refused (its time order would be a guess)."""
    folder = Path(folder)
    if not folder.is_dir():
        raise FileNotFoundError(f"Clip folder not found: {folder}")
    files = [p for p in folder.iterdir()
             if p.is_file() and p.suffix.lower() in IMAGE_EXTENSIONS and not p.name.startswith(".")]
    return order_frames(files, folder)


def order_frames(files, folder) -> list[Path]:
    """``files`` (frames of one clip) in time order; see :func:`list_frames`."""
    files = sorted(Path(p) for p in files)
    parsed = [(p, _NUMBERED.match(p.stem)) for p in files]
    numbered = [(p, m) for p, m in parsed if m]
    if not numbered:
        return files
    if len(numbered) != len(files):
        other = next(p for p, m in parsed if not m)
        raise ValueError(f"{folder}: frame names mix numbered and unnumbered files ({numbered[0][0].name}, "
                         f"{other.name}), so their time order is unknown: name every frame by its number "
                         f"(00000000.png, 00000001.png, ...) or move the other files out.")
    patterns: dict = {}
    for p, m in numbered:
        patterns.setdefault((m.group(1), m.group(3).lower()), p)
    if len(patterns) > 1:
        a, b = list(patterns.values())[:2]
        raise ValueError(f"{folder}: frame names follow two patterns ({a.name}, {b.name}) in one clip, so their time "
                         f"order is unknown: give every frame one pattern (00000000.png, 00000001.png, ...) or move "
                         f"the other clip's files out.")
    by_number: dict[int, Path] = {}
    for p, m in numbered:
        n = int(m.group(2))
        if n in by_number:
            raise ValueError(f"{folder}: {by_number[n].name} and {p.name} are both frame {n}: keep one of them "
                             f"(move the other out of the folder).")
        by_number[n] = p
    return [by_number[n] for n in sorted(by_number)]
