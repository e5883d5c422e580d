"""Clip datasets: aligned GT/LR crops, augmentation, determinism, and every bad-input error."""

import numpy as np
import pytest
import torch
from PIL import Image

from seeclear_lite.data.datasets import (ClipDataset, FolderClips, augment_frames, basicsr_dataset,
                                         degrade_uint8, resolve_basicsr_root, sample_dataset)
from seeclear_lite.data.samples import VALIDATION_CLIP, sample_root


def _write_clip(folder, frames):
    folder.mkdir(parents=True, exist_ok=True)
    for i, f in enumerate(frames):
        Image.fromarray(f).save(folder / f"{i:08d}.png")


def _make_root(tmp_path, n=6, hw=(32, 48), with_lr=True, clips=("a", "b"), seed=0):
    rng = np.random.default_rng(seed)
    for c in clips:
        gt = rng.integers(0, 256, size=(n, *hw, 3), dtype=np.uint8)
        _write_clip(tmp_path / "GT" / c, gt)
        if with_lr:
            _write_clip(tmp_path / "BIx4" / c, degrade_uint8(gt, 4))
    return tmp_path


def _as_u8(x):
    return (x * 255).round().to(torch.uint8).permute(0, 2, 3, 1).numpy()


def test_sample_clips_windows_and_shapes():
    ds = sample_dataset(clip_length=5)
    # 4 clips of 8 frames -> 4 windows each
    assert len(ds) == 16
    item = ds[0]
    assert item["clip"] == "train_astronaut"  # clips sorted by name; this one is 192 x 160 (H x W)
    assert item["gt"].shape == (5, 3, 192, 160) and item["lr"].shape == (5, 3, 48, 40)
    assert item["gt"].dtype == torch.float32 and 0 <= item["gt"].min() and item["gt"].max() <= 1
    assert VALIDATION_CLIP in {c for c, _ in ds.windows}


@pytest.mark.parametrize("use_lr_files", [True, False])
def test_crops_are_aligned_under_augmentation(use_lr_files):
    """LR crop == BI degradation of the GT crop (<= 1 level) away from the crop border (the x4 kernel
    reaches 2 LR pixels out): any misaligned crop, flip or rotation breaks it."""
    ds = sample_dataset(clips=[VALIDATION_CLIP], use_lr_files=use_lr_files, gt_patch=64, augment=True, seed=3)
    for i in range(len(ds)):
        item = ds[i]
        assert item["gt"].shape == (5, 3, 64, 64) and item["lr"].shape == (5, 3, 16, 16)
        redo = degrade_uint8(_as_u8(item["gt"]), 4).astype(int)
        lr = _as_u8(item["lr"]).astype(int)
        assert np.abs(redo - lr)[:, 2:-2, 2:-2].max() <= 1
        assert np.abs(redo[:, 2:-2, 3:-1] - lr[:, 2:-2, 2:-2]).max() > 8  # a 1-pixel shift is caught


def test_on_the_fly_crop_equals_crop_of_the_degraded_frame():
    """Degrading a crop plus margin gives exactly the crop of the degraded full frame."""
    crops = sample_dataset(clips=["train_bbb"], gt_patch=48, use_lr_files=False, seed=1)
    full = sample_dataset(clips=["train_bbb"], use_lr_files=False)
    checked = 0
    for i in (0, len(crops) - 1):
        gt_full, lr_full = _as_u8(full[i]["gt"]), _as_u8(full[i]["lr"])
        for epoch in range(4):
            crops.set_epoch(epoch)
            g, lr = _as_u8(crops[i]["gt"]), _as_u8(crops[i]["lr"])
            # locate the crop in the full frame (on the LR grid), then compare the LR pixels exactly
            first = np.argwhere(np.all(gt_full[0, ::4, ::4] == g[0, 0, 0], axis=-1)) * 4
            hits = [(y, x) for y, x in first if np.array_equal(gt_full[:, y:y + 48, x:x + 48], g)]
            assert len(hits) == 1
            y, x = hits[0]
            assert np.array_equal(lr_full[:, y // 4:y // 4 + 12, x // 4:x // 4 + 12], lr)
            checked += 1
    assert checked == 8


def test_deterministic_per_seed_epoch_index_and_worker_safe():
    kw = dict(clips=["train_coffee"], gt_patch=32, augment=True)
    a, b = sample_dataset(seed=7, **kw), sample_dataset(seed=7, **kw)
    for i in range(len(a)):
        assert torch.equal(a[i]["gt"], b[i]["gt"]) and torch.equal(a[i]["lr"], b[i]["lr"])
    reversed_order = [a[i]["gt"] for i in reversed(range(len(a)))][::-1]
    assert all(torch.equal(x, a[i]["gt"]) for i, x in enumerate(reversed_order))
    b.set_epoch(1)
    assert any(not torch.equal(a[i]["gt"], b[i]["gt"]) for i in range(len(a)))
    c = sample_dataset(seed=8, **kw)
    assert any(not torch.equal(a[i]["gt"], c[i]["gt"]) for i in range(len(a)))
    loader = torch.utils.data.DataLoader(a, batch_size=2, num_workers=2, shuffle=False)
    batched = torch.cat([batch["gt"] for batch in loader])
    assert torch.equal(batched, torch.stack([a[i]["gt"] for i in range(len(a))]))


def test_augment_frames_ops():
    x = np.arange(2 * 2 * 3 * 1).reshape(2, 2, 3, 1)
    assert np.array_equal(augment_frames(x, True, False, False, False), x[:, :, ::-1])
    assert np.array_equal(augment_frames(x, False, True, False, False), x[:, ::-1])
    assert augment_frames(x, False, False, True, False).shape == (2, 3, 2, 1)
    assert np.array_equal(augment_frames(x, False, False, False, True), x[::-1])
    # every combination occurs over the items of an augmented dataset (generator-driven, p = 1/2 each)
    ds = sample_dataset(clips=[VALIDATION_CLIP], augment=True, seed=0)
    flags = {tuple(ds.rng(i).random(4) < 0.5) for i in range(64)}
    assert len(flags) == 16


def test_stride_and_clip_length():
    root = sample_root()
    ds = basicsr_dataset(root, clip_length=5, stride=5)
    assert len(ds) == 4 and all(s == 0 for _, s in ds.windows)
    ds = basicsr_dataset(root, clip_length=3, stride=2, clips=["val_city"])
    assert [s for _, s in ds.windows] == [0, 2, 4]


def test_resolve_root_accepts_basicsr_root_or_gt_folder(tmp_path):
    root = _make_root(tmp_path)
    assert resolve_basicsr_root(root) == (root / "GT", root / "BIx4")
    assert resolve_basicsr_root(root / "GT") == (root / "GT", None)
    assert resolve_basicsr_root(root / "GT", lr=root / "BIx4") == (root / "GT", root / "BIx4")
    a = basicsr_dataset(root)[0]
    b = basicsr_dataset(root / "GT")[0]  # LR on the fly, equals the stored BIx4 frames
    assert torch.equal(a["lr"], b["lr"]) and torch.equal(a["gt"], b["gt"])


# ---------------------------------------------------------------------------------------- bad input
def test_missing_and_empty_folders(tmp_path):
    with pytest.raises(FileNotFoundError, match="Folder not found"):
        basicsr_dataset(tmp_path / "nope")
    (tmp_path / "GT").mkdir()
    with pytest.raises(ValueError, match=r"No clip folders in .*GT: it is empty"):
        basicsr_dataset(tmp_path)
    (tmp_path / "GT" / "c1").mkdir()
    with pytest.raises(ValueError, match=r"Clip folder .*c1 has no image files"):
        basicsr_dataset(tmp_path)
    with pytest.raises(FileNotFoundError, match="LR folder not found"):
        basicsr_dataset(tmp_path, lr=tmp_path / "LRx4")
    with pytest.raises(FileNotFoundError, match="GT folder not found"):
        FolderClips(tmp_path / "GTX")


def test_loose_frames_in_gt_folder_get_a_hint(tmp_path):
    _write_clip(tmp_path / "GT", np.zeros((2, 8, 8, 3), dtype=np.uint8))
    with pytest.raises(ValueError, match=r"holds image files .*own sub-folder"):
        basicsr_dataset(tmp_path)


def test_gt_lr_frame_count_mismatch(tmp_path):
    root = _make_root(tmp_path, clips=("a",))
    (root / "BIx4" / "a" / "00000005.png").unlink()
    with pytest.raises(ValueError, match=r"Clip 'a': GT has 6 frames but LR has 5"):
        basicsr_dataset(root)


def test_lr_clip_missing(tmp_path):
    root = _make_root(tmp_path, clips=("a", "b"))
    import shutil

    shutil.rmtree(root / "BIx4" / "b")
    with pytest.raises(FileNotFoundError, match=r"LR clip folder .*b is missing"):
        basicsr_dataset(root)


def test_gt_lr_size_mismatch(tmp_path):
    root = _make_root(tmp_path, clips=("a",), with_lr=False)
    _write_clip(root / "BIx4" / "a", np.zeros((6, 8, 11, 3), dtype=np.uint8))
    with pytest.raises(ValueError, match=r"LR frames are 8x11 .* need LR 8x12"):
        basicsr_dataset(root)


def test_size_not_divisible_by_scale(tmp_path):
    _write_clip(tmp_path / "GT" / "odd", np.zeros((5, 30, 48, 3), dtype=np.uint8))
    with pytest.raises(ValueError, match=r"frame size 30x48 .* not divisible by the scale 4.*mod_crop"):
        basicsr_dataset(tmp_path)


def test_frames_of_different_sizes_in_one_clip(tmp_path):
    _write_clip(tmp_path / "GT" / "c", np.zeros((5, 32, 32, 3), dtype=np.uint8))
    Image.fromarray(np.zeros((16, 32, 3), dtype=np.uint8)).save(tmp_path / "GT" / "c" / "00000003.png")
    with pytest.raises(ValueError, match=r"00000003\.png is \(16, 32\).*same size"):
        basicsr_dataset(tmp_path)


def test_clip_shorter_than_clip_length(tmp_path):
    root = _make_root(tmp_path, n=3, clips=("short",))
    with pytest.raises(ValueError, match=r"Clip 'short' has 3 frames, fewer than clip_length=5"):
        basicsr_dataset(root)


def test_bad_patch_size(tmp_path):
    root = _make_root(tmp_path)
    with pytest.raises(ValueError, match="multiple of the scale"):
        basicsr_dataset(root, gt_patch=30)
    with pytest.raises(ValueError, match="larger than clip"):
        basicsr_dataset(root, gt_patch=64)


def test_corrupt_frame_is_named_when_loaded(tmp_path):
    root = _make_root(tmp_path, clips=("a",))
    (root / "GT" / "a" / "00000002.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"\0" * 40)
    with pytest.raises(ValueError, match=r"00000002\.png"):
        basicsr_dataset(root)[0]


def test_rgba_and_grayscale_frames_follow_the_io_policy(tmp_path):
    root = _make_root(tmp_path, clips=("a",), with_lr=False)
    rgba = np.zeros((32, 48, 4), dtype=np.uint8)
    Image.fromarray(rgba, "RGBA").save(root / "GT" / "a" / "00000001.png")
    with pytest.raises(ValueError, match=r"00000001\.png has a transparent alpha channel"):
        basicsr_dataset(root)[0]
    Image.fromarray(np.zeros((32, 48), dtype=np.uint8)).save(root / "GT" / "a" / "00000001.png")
    with pytest.warns(UserWarning, match=r"00000001\.png is a grayscale image"):
        assert basicsr_dataset(root)[0]["gt"].shape == (5, 3, 32, 48)


def test_clip_dataset_argument_checks(tmp_path):
    src = FolderClips(_make_root(tmp_path) / "GT")
    with pytest.raises(ValueError, match="scale 2 differs"):
        ClipDataset(src, scale=2)
    with pytest.raises(ValueError, match="clip_length and stride"):
        ClipDataset(src, clip_length=0)
    with pytest.raises(IndexError):
        ClipDataset(src)[99]
    with pytest.raises(FileNotFoundError, match=r"Clip folder\(s\) \['zz'\] not found"):
        FolderClips(tmp_path / "GT", clips=["zz"])
