"""Frame I/O: the 8-bit RGB contract of seeclear_lite.data.io and its explicit conversions/rejections."""

import struct
import zlib

import numpy as np
import pytest
import torch
from PIL import Image

from seeclear_lite.data.io import list_frames, quantize, read_image, read_image_uint8, write_image


def _png(path, arr, bitdepth, colortype):
    """A minimal PNG writer (Pillow cannot write 16-bit RGB), to build 16-bit test files."""
    h, w = arr.shape[:2]
    dtype = ">u2" if bitdepth == 16 else "u1"
    raw = b"".join(b"\x00" + arr[i].astype(dtype).tobytes() for i in range(h))

    def chunk(tag, data):
        return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data) & 0xFFFFFFFF)

    ihdr = struct.pack(">IIBBBBB", w, h, bitdepth, colortype, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))
    return path


def test_write_read_roundtrip_is_exact_on_the_8bit_grid(tmp_path):
    rng = np.random.default_rng(0)
    img = rng.integers(0, 256, size=(7, 9, 3), dtype=np.uint8)
    x = torch.from_numpy(img).permute(2, 0, 1).float() / 255.0
    write_image(tmp_path / "a.png", x)
    y = read_image(tmp_path / "a.png")
    assert y.dtype == torch.float32 and y.shape == (3, 7, 9)
    assert torch.equal((y * 255).round().to(torch.uint8), torch.from_numpy(img).permute(2, 0, 1))
    assert list(tmp_path.iterdir()) == [tmp_path / "a.png"]  # atomic: no temp file left behind


def test_write_quantizes_like_quantize_and_clamps(tmp_path):
    x = torch.tensor([-0.3, 0.0, 0.5 / 255, 1.49 / 255, 1.51 / 255, 0.5, 1.0, 1.7]).repeat(3, 1, 1)
    write_image(tmp_path / "q.png", x)
    back = read_image(tmp_path / "q.png")
    assert torch.equal(back, quantize(x))
    # clamp to [0, 1], then round: 0.5/255 is a tie -> 0 (half to even), 1.49 -> 1, 1.51 -> 2
    assert (back[0, 0] * 255).round().tolist() == [0, 0, 0, 1, 2, 128, 255, 255]


def test_write_image_checks_shape(tmp_path):
    with pytest.raises(ValueError, match=r"\[3, H, W\]"):
        write_image(tmp_path / "bad.png", torch.zeros(4, 5, 5))


def test_grayscale_is_converted_with_a_note(tmp_path):
    Image.fromarray(np.arange(12, dtype=np.uint8).reshape(3, 4)).save(tmp_path / "g.png")
    with pytest.warns(UserWarning, match="grayscale.*converted to RGB"):
        img = read_image_uint8(tmp_path / "g.png")
    assert img.shape == (3, 4, 3) and np.array_equal(img[..., 0], img[..., 2])


def test_palette_image_is_read_as_rgb(tmp_path):
    im = Image.new("P", (4, 3))
    im.putpalette([10, 20, 30] * 256)
    im.save(tmp_path / "p.png")
    assert read_image_uint8(tmp_path / "p.png")[0, 0].tolist() == [10, 20, 30]


def test_rgba_opaque_is_accepted_transparent_is_rejected(tmp_path):
    rgba = np.full((4, 5, 4), 255, dtype=np.uint8)
    rgba[..., :3] = 7
    Image.fromarray(rgba, "RGBA").save(tmp_path / "opaque.png")
    assert read_image_uint8(tmp_path / "opaque.png").shape == (4, 5, 3)
    rgba[1, 1, 3] = 0
    Image.fromarray(rgba, "RGBA").save(tmp_path / "transparent.png")
    with pytest.raises(ValueError, match=r"transparent\.png has a transparent alpha channel \(1 pixels"):
        read_image_uint8(tmp_path / "transparent.png")


def test_gray_alpha_opaque_becomes_rgb(tmp_path):
    Image.fromarray(np.full((3, 3, 2), 255, dtype=np.uint8), "LA").save(tmp_path / "la.png")
    with pytest.warns(UserWarning, match="grayscale"):
        assert read_image_uint8(tmp_path / "la.png").shape == (3, 3, 3)


@pytest.mark.parametrize("colortype,channels", [(0, 1), (2, 3), (6, 4)])
def test_16bit_png_is_rejected_with_the_fix(tmp_path, colortype, channels):
    arr = np.full((4, 5, channels), 40000, dtype=np.uint16)
    path = _png(tmp_path / f"deep{colortype}.png", arr[..., 0] if channels == 1 else arr, 16, colortype)
    with pytest.raises(ValueError, match=rf"deep{colortype}\.png is a 16-bit PNG.*convert the file to 8 bits"):
        read_image(path)


def test_8bit_png_written_by_hand_is_read(tmp_path):
    arr = np.arange(60, dtype=np.uint8).reshape(4, 5, 3)
    assert np.array_equal(read_image_uint8(_png(tmp_path / "ok.png", arr, 8, 2)), arr)


def test_corrupt_and_missing_files_are_named(tmp_path):
    bad = tmp_path / "00000003.png"
    bad.write_bytes(b"\x89PNG\r\n\x1a\n this is not a png")
    with pytest.raises(ValueError, match=r"Could not read the image .*00000003\.png"):
        read_image(bad)
    with pytest.raises(FileNotFoundError, match=r"Image file not found: .*nothere\.png"):
        read_image(tmp_path / "nothere.png")


def test_list_frames_sorted_and_filtered(tmp_path):
    for name in ["00000002.png", "00000000.png", "notes.txt", "00000001.PNG"]:
        (tmp_path / name).write_bytes(b"")
    assert [p.name for p in list_frames(tmp_path)] == ["00000000.png", "00000001.PNG", "00000002.png"]
    with pytest.raises(FileNotFoundError, match="Clip folder not found"):
        list_frames(tmp_path / "missing")
