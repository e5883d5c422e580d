"""Issue 28: a new user's bad inputs and situations. One writer per folder (locks, with two real processes), checks
before any write, --overwrite as a swap, no output on an input, frames in true order, one-line messages, --init,
tiling; data loss is checked with file hashes before and after."""

import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from training_helpers import MICRO, tiny_notebook

from seeclear_lite.__main__ import main as cli
from seeclear_lite.data.samples import VALIDATION_CLIP, sample_root
from seeclear_lite.data.io import read_image as read
from seeclear_lite.training.checkpoint import SHIPPED_CHECKPOINT as SHIPPED
from seeclear_lite.utils.io import clean_stale
from seeclear_lite.utils.lock import LOCK_NAME, FolderLock, LockedError

ROOT = Path(__file__).resolve().parents[1]
ENV = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)}


def tree_hash(folder: Path) -> dict:
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(Path(folder).rglob("*")) if p.is_file()}


def one_line_error(capsys, code, *parts):
    err = capsys.readouterr().err.strip()
    assert code == 2, err
    assert err.count("\n") == 0 and err.startswith("error:"), err
    for p in parts:
        assert p in err, err
    return err


def spawn(*args):
    return subprocess.Popen([sys.executable, "-m", "seeclear_lite", *args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=ENV, cwd=ROOT)


def wait_for(pred, timeout=120.0):
    deadline = time.time() + timeout
    while not pred():
        assert time.time() < deadline, "timed out"
        time.sleep(0.1)



@pytest.fixture
def lr_clip(tmp_path):
    """An LR clip of 6 frames (the sample clip's first six)."""
    dst = tmp_path / "lr"
    dst.mkdir()
    for p in sorted((sample_root() / "BIx4" / VALIDATION_CLIP).iterdir())[:6]:
        shutil.copy(p, dst / p.name)
    return dst


# ------------------------------------------------------------------------------ data loss: checks before writes
@pytest.mark.parametrize("bad", [["val.every=1", "val.clips=[nope]"], ["model.channels=1"]])
def test_train_overwrite_with_a_config_that_fails_a_later_check_keeps_the_run(run_dir, tmp_path, capsys, bad):
    out = tmp_path / "r2"
    shutil.copytree(run_dir, out)
    before = tree_hash(out)
    code = cli(["train", "--config", "tiny", *MICRO, "stages.0.steps=1", *bad, "--out", str(out), "--overwrite"])
    one_line_error(capsys, code, "nope" if "clips" in bad[-1] else "cannot run")
    assert tree_hash(out) == before and sorted(p.name for p in out.iterdir()) == sorted(
        p.name for p in run_dir.iterdir())


def test_train_overwrite_that_fails_before_its_first_checkpoint_puts_the_old_run_back(run_dir, tmp_path, capsys,
                                                                                       monkeypatch):
    from seeclear_lite.training import engine

    out = tmp_path / "r2"
    shutil.copytree(run_dir, out)
    before = tree_hash(out)

    def boom(self, batch):
        raise OSError(28, "No space left on device", str(out / "checkpoints"))

    monkeypatch.setattr(engine.Trainer, "_train_step", boom)
    code = cli(["train", "--config", "tiny", *MICRO, "stages.0.steps=1", "--out", str(out), "--overwrite"])
    assert code == 2
    assert tree_hash(out) == before and not list(out.glob(".replaced-*"))


def test_new_run_with_a_model_that_cannot_run_leaves_no_config_yaml(tmp_path, capsys):
    out = tmp_path / "new"
    one_line_error(capsys, cli(["train", "--config", "tiny", *MICRO, "model.channels=1", "--out", str(out)]),
                   "cannot run")
    assert not out.exists()


# ------------------------------------------------------------------------------ locks: two real processes
def _lr_long(tmp_path, n=40):
    """A long LR clip (the sample frames repeated), so that a sampler runs for a few seconds."""
    src = sorted((sample_root() / "BIx4" / VALIDATION_CLIP).iterdir())
    dst = tmp_path / "long"
    dst.mkdir()
    for i in range(n):
        shutil.copy(src[i % len(src)], dst / f"{i:08d}.png")
    return dst


def test_two_samples_into_one_output_the_second_refuses_and_the_first_is_whole(run_dir, tmp_path):
    ckpt = str(run_dir / "checkpoints" / "best.pt")
    lr = _lr_long(tmp_path)
    out = tmp_path / "sr"
    first = spawn("sample", "--checkpoint", ckpt, "--input", str(lr), "--output", str(out), "--no-progress")
    wait_for(lambda: (out / LOCK_NAME).exists() or first.poll() is not None)
    second = spawn("sample", "--checkpoint", ckpt, "--input", str(lr), "--output", str(out), "--no-progress",
                   "--overwrite")
    _, err2 = second.communicate(timeout=120)
    _, err1 = first.communicate(timeout=300)
    assert first.returncode == 0, err1
    assert second.returncode == 2 and err2.strip().count("\n") == 0, err2
    assert f"pid {first.pid}" in err2 and "in use" in err2
    record = json.loads((out / "sample.json").read_text())
    frames = sorted(p.name for p in (out / "SR").iterdir())
    assert record["frames"] == len(frames) == 40 and frames[0] == "00000000.png" and frames[-1] == "00000039.png"
    assert not (out / LOCK_NAME).exists() and not list(out.glob(".staging-*"))


def test_two_trains_into_one_new_out_the_second_refuses(tmp_path):
    out = tmp_path / "run"
    a = spawn("train", "--config", "tiny", *MICRO, "stages.0.steps=100000", "runtime.ckpt_every=1", "seed=1",
              "--out", str(out))
    wait_for(lambda: (out / "config.yaml").exists() or a.poll() is not None)
    b = spawn("train", "--config", "tiny", *MICRO, "stages.0.steps=3", "seed=2", "--out", str(out))
    _, err_b = b.communicate(timeout=120)
    a.send_signal(signal.SIGINT)
    _, err_a = a.communicate(timeout=120)
    assert b.returncode == 2 and f"pid {a.pid}" in err_b and err_b.strip().count("\n") == 0, err_b
    assert "seed: 1" in (out / "config.yaml").read_text()
    ck = torch.load(sorted((out / "checkpoints").glob("step_*.pt"))[-1], weights_only=True)
    assert ck["config"]["seed"] == 1


def test_a_lock_goes_with_a_killed_process_and_a_stale_lock_file_is_taken_over(tmp_path):
    folder = tmp_path / "out"
    code = ("import sys, time; from seeclear_lite.utils.lock import FolderLock; "
            f"FolderLock({str(folder)!r}, '--out', 'test').acquire(); print('locked', flush=True); time.sleep(600)")
    p = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True, env=ENV, cwd=ROOT)
    assert p.stdout.readline().strip() == "locked"
    with pytest.raises(LockedError, match=f"pid {p.pid}"):
        FolderLock(folder, "--out", "me").acquire()
    p.kill()                                                     # a crash: no clean-up ran
    p.wait()
    assert (folder / LOCK_NAME).read_text().split()[0] == str(p.pid)   # the file is still there ...
    with FolderLock(folder, "--out", "me"):                      # ... but its lock went with the process
        assert (folder / LOCK_NAME).read_text().split()[0] == str(os.getpid())
    assert not (folder / LOCK_NAME).exists()


def test_stale_cleanup_keeps_what_a_live_process_owns(tmp_path):
    live = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    try:
        keep = [tmp_path / f".staging-{live.pid}-abc", tmp_path / f".staging-old-{live.pid}-x"]
        gone = [tmp_path / f".staging-{dead.pid}-abc", tmp_path / ".staging-old-xyz"]
        for p in keep + gone:
            p.mkdir()
            (p / "f").write_text("x")
        tmp_files = [tmp_path / f".metrics.json.{live.pid}-k2j3.tmp", tmp_path / f".metrics.json.{dead.pid}-k2j3.tmp"]
        for p in tmp_files:
            p.write_text("x")
        clean_stale(tmp_path, ".staging-*")
        clean_stale(tmp_path, ".*.tmp")
        assert all(p.exists() for p in keep + tmp_files[:1]) and not any(p.exists() for p in gone + tmp_files[1:])
    finally:
        live.kill()
        live.wait()





def test_a_failed_run_keeps_the_earlier_notebook_and_summary(tmp_path):
    from seeclear_lite.kit.runner import run_sequence

    nbdir = tmp_path / "nbs"
    nbdir.mkdir()
    tiny_notebook(nbdir / "01_tiny.ipynb")
    out = tmp_path / "out"
    assert run_sequence("smoke", out, notebook_dir=nbdir)["ok"]
    before = tree_hash(out)
    assert str(out) in (out / "01_tiny.ipynb").read_text() and ".staging-" not in (out / "01_tiny.ipynb").read_text()
    summary = run_sequence("smoke", out, notebook_dir=nbdir, extra={"SEED": "abc"})
    assert not summary["ok"]
    failed = [p for p in out.iterdir() if p.name.startswith("failed-")]
    assert len(failed) == 1
    after = {k: v for k, v in tree_hash(out).items() if not k.startswith("failed-")}
    assert after == before                                            # the earlier run, byte for byte
    own = json.loads((failed[0] / "summary.json").read_text())
    assert [e["status"] for e in own["notebooks"]] == ["failed"] and "SEED must be an integer" in \
        (failed[0] / "01_tiny.ipynb").read_text()
    assert "| failed |" in (failed[0] / "summary.md").read_text() and "| ok |" not in (failed[0] / "summary.md").read_text()
    assert not list(out.glob(".staging-*")) and not (out / LOCK_NAME).exists()


# ------------------------------------------------------------------------------ outputs never land on inputs
def test_outputs_on_inputs_are_refused(run_dir, lr_clip, tmp_path, capsys):
    ckpt = run_dir / "checkpoints" / "best.pt"
    before_lr, before_run = tree_hash(lr_clip), tree_hash(run_dir)
    s = ["sample", "--checkpoint", str(ckpt), "--input", str(lr_clip), "--no-progress", "--output"]
    one_line_error(capsys, cli(s + [str(lr_clip)]), "is --input")
    one_line_error(capsys, cli(s + [str(lr_clip / "sub")]), "is inside --input")
    one_line_error(capsys, cli(s + [str(tmp_path)]), "contains --input")
    one_line_error(capsys, cli(s + [str(run_dir)]), "contains --checkpoint")
    root = tmp_path / "ds"
    shutil.copytree(lr_clip, root / "GT" / "clip")
    one_line_error(capsys, cli(["evaluate", "--gt", str(root), "--out", str(root / "GT"), "--no-lpips"]),
                   "is inside --gt")
    one_line_error(capsys, cli(["train", "--config", "tiny", *MICRO, "--out", str(sample_root().parent)]),
                   "contains the sample clips")
    one_line_error(capsys, cli(["train", "--config", "tiny", *MICRO, "data.source=basicsr", f"data.root={root}",
                                "--out", str(root / "run")]), "is inside data.root")
    one_line_error(capsys, cli(["train", "--config", "tiny", *MICRO, "--init", str(ckpt), "--out", str(run_dir)]),
                   "contains --init")
    one_line_error(capsys, cli(["export", "--run", str(ckpt), "--out", str(ckpt)]), "is --run")
    one_line_error(capsys, cli(["export", "--run", str(run_dir), "--out", str(run_dir / "x.pt")]), "inside --run")
    one_line_error(capsys, cli(["run", "--profile", "smoke", "--out", str(ROOT / "notebooks")]), "notebooks folder")
    assert tree_hash(lr_clip) == before_lr and tree_hash(run_dir) == before_run
    assert not (lr_clip / "sub").exists() and not (root / "GT" / "SR").exists()


@pytest.mark.parametrize("argv", [["train", "--config", "tiny", *MICRO], ["evaluate", "--gt", "data/samples"],
                                  ["run", "--profile", "smoke"], ["ablate", "blur"], ["export", "--run", "x"],
                                  ["sample", "--input", "data/samples/BIx4/val_city"]])
def test_an_empty_output_path_is_refused(argv, capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    option = "--output" if argv[0] == "sample" else "--out"
    before = sorted(os.listdir(tmp_path))
    argv = [a if not a.startswith("data/") else str(ROOT / a) for a in argv]
    code = cli(argv + [option, ""])
    err = capsys.readouterr().err.strip()
    assert code == 2 and err.count("\n") == 0 and ("is empty" in err or "give --run" in err), err
    assert sorted(os.listdir(tmp_path)) == before


# ------------------------------------------------------------------------------ frames in true order
def _frames(folder, names, size=8):
    folder.mkdir(parents=True, exist_ok=True)
    from seeclear_lite.data.io import write_image

    for i, n in enumerate(names):
        write_image(folder / n, torch.full((3, size, size), (i + 1) / 40.0))
    return folder


def test_frames_are_read_in_natural_order_and_debris_is_skipped(tmp_path):
    from seeclear_lite.data.io import list_frames, read_image

    names = [f"frame{i}.png" for i in range(1, 13)]
    clip = _frames(tmp_path / "clip", names)
    (clip / "._frame1.png").write_bytes(b"\x00\x05\x16\x07 AppleDouble")     # macOS debris
    (clip / ".ipynb_checkpoints").mkdir()
    got = list_frames(clip)
    assert [p.name for p in got] == names
    assert [round(float(read_image(p).mean()) * 40) for p in got] == list(range(1, 13))


@pytest.mark.parametrize("names, words", [(["00000000.png", "00000001.png", "cover.png"], "mix numbered"),
                                          (["a1.png", "a2.png", "b3.png"], "two patterns"),
                                          (["frame1.png", "frame01.png"], "are both frame 1")])
def test_a_clip_with_mixed_or_duplicate_frame_names_is_refused(tmp_path, capsys, run_dir, names, words):
    clip = _frames(tmp_path / "clip", names)
    one_line_error(capsys, cli(["sample", "--checkpoint", str(run_dir / "checkpoints" / "best.pt"), "--input",
                                str(clip), "--output", str(tmp_path / "o"), "--no-progress"]), words)
    assert not (tmp_path / "o").exists()


def test_sample_writes_frames_in_time_order(run_dir, tmp_path):
    names = [f"frame{i}.png" for i in range(1, 13)]
    clip = _frames(tmp_path / "clip", names)
    out = tmp_path / "o"
    assert cli(["sample", "--checkpoint", str(run_dir / "checkpoints" / "best.pt"), "--input", str(clip), "--output",
                str(out), "--no-progress", "--gif-frames", "0"]) == 0
    from seeclear_lite.data.io import read_image

    means = [round(float(read_image(out / "bicubic" / f"{i:08d}.png").mean()) * 40) for i in range(12)]
    assert means == list(range(1, 13))                                  # bicubic/00000001.png is frame2


# ------------------------------------------------------------------------------ tracebacks become one line
def _export(run_dir, tmp_path):
    from seeclear_lite.evaluation.export import export_run

    out = tmp_path / "exp.pt"
    export_run(run_dir, out, score=False, log=lambda *a, **k: None)
    return out


def test_checkpoint_files_that_are_not_the_kits(run_dir, lr_clip, tmp_path, capsys):
    ck = torch.load(run_dir / "checkpoints" / "best.pt", weights_only=True)
    s = ["sample", "--input", str(lr_clip), "--output", str(tmp_path / "o"), "--no-progress", "--checkpoint"]
    no_config = tmp_path / "noconfig.pt"
    torch.save({k: v for k, v in ck.items() if k != "config"}, no_config)
    one_line_error(capsys, cli(s + [str(no_config)]), "noconfig.pt", "no 'config' entry")
    bad_value = tmp_path / "badvalue.pt"
    torch.save({**ck, "config": {**ck["config"], "seed": -5}}, bad_value)
    one_line_error(capsys, cli(s + [str(bad_value)]), "badvalue.pt", "seed must be >= 0")
    pickled = tmp_path / "pickled.pt"
    torch.save({"obj": Path("x")}, pickled)
    err = one_line_error(capsys, cli(s + [str(pickled)]), "pickled.pt", "pickled Python objects")
    assert "\x1b[" not in err
    assert not (tmp_path / "o").exists()


def test_resume_of_an_export_points_to_init_and_init_fine_tunes_it(run_dir, tmp_path, capsys):
    exp = _export(run_dir, tmp_path)
    one_line_error(capsys, cli(["train", "--config", "tiny", *MICRO, "--out", str(tmp_path / "ft"), "--resume",
                                str(exp)]), "an export", f"--init {exp}")
    assert not (tmp_path / "ft").exists()
    out = tmp_path / "ft"
    assert cli(["train", "--config", "tiny", *MICRO, "stages.0.steps=1", "--init", str(exp), "--out", str(out)]) == 0
    record = json.loads((out / "init.json").read_text())
    assert record["weights"] == "EMA" and record["init_from"] == str(exp)
    ck = torch.load(out / "checkpoints" / "step_00000001.pt", weights_only=True)
    assert ck["step"] == 1 and ck["optimizer"]["state"]                # a fresh run: one step of a new optimiser
    src = torch.load(exp, weights_only=True)["ema"]
    moved = [k for k, v in ck["model"].items() if v.is_floating_point() and not torch.allclose(v, src[k].float(), atol=0.05)]
    assert len(moved) < len(src) // 2                                  # one step from the export's weights
    one_line_error(capsys, cli(["train", "--config", "tiny", *MICRO, "model.channels=16", "--init", str(exp), "--out",
                                str(tmp_path / "ft2")]), "its model differs", "model.channels")


def test_exporting_a_fine_tune_over_its_parent_keeps_the_parents_history(run_dir, tmp_path):
    """A shipped model fine-tuned and exported to its own path (data/checkpoints/small.pt) must not lose the record
    of the training it started from: the export reads the run's init.json and the parent's record first."""
    from seeclear_lite.evaluation.export import export_run, generation_history, generations

    exp = _export(run_dir, tmp_path)
    parent = json.loads(exp.with_suffix(".json").read_text())
    parent_history = (tmp_path / "exp_history.csv").read_bytes()
    out = tmp_path / "ft"
    assert cli(["train", "--config", "tiny", *MICRO, "stages.0.steps=1", "--init", str(exp), "--out", str(out)]) == 0
    rec = export_run(out, exp, overwrite=True, score=False, log=lambda *a, **k: None)
    assert json.loads(exp.with_suffix(".json").read_text()) == rec and rec["step"] == 1
    assert rec["init"]["init_from"] == str(exp) and rec["init"]["step"] == parent["step"] > 1
    kept = rec["init"]["parent_record"]
    assert kept["step"] == parent["step"] and kept["stages"] == parent["stages"]
    assert kept["training_wall_s"] == parent["training_wall_s"] and "init" not in kept   # the parent was from scratch
    # its history and curves are kept beside the fine-tune's own (which replaced them)
    assert (tmp_path / "exp_init_history.csv").read_bytes() == parent_history
    assert (tmp_path / "exp_history.csv").read_bytes() != parent_history
    assert (tmp_path / "exp_init_curves.png").read_bytes()[:4] == b"\x89PNG"
    # a fine-tune of that fine-tune, exported over it again: each generation's history moves one "_init" back
    own_history = (tmp_path / "exp_history.csv").read_bytes()
    out2 = tmp_path / "ft_again"
    assert cli(["train", "--config", "tiny", *MICRO, "stages.0.steps=1", "--init", str(exp), "--out", str(out2)]) == 0
    rec2 = export_run(out2, exp, overwrite=True, score=False, log=lambda *a, **k: None)
    assert rec2["init"]["parent_record"]["init"]["init_from"] == str(exp)          # the nested lineage
    assert (tmp_path / "exp_init_history.csv").read_bytes() == own_history
    assert (tmp_path / "exp_init_init_history.csv").read_bytes() == parent_history
    assert (tmp_path / "exp_init_init_curves.png").read_bytes()[:4] == b"\x89PNG"
    chain = generations(rec2)                                        # oldest first, each with its history file
    assert [g["step"] for g in chain] == [parent["step"], 1, 1] and chain[-1] is rec2
    assert [generation_history(exp, back).read_bytes() for back in (2, 1)] == [parent_history, own_history]
    assert generations(parent) == [parent]                            # trained from scratch: itself alone
    # exported again, the parent file is now the fine-tune itself: said, not mistaken for the parent
    again = export_run(out, tmp_path / "again.pt", score=False, log=lambda *a, **k: None)
    assert again["init"]["parent_record"] is None and "changed" in again["init"]["note"]


def test_sample_records_the_weights_it_used(run_dir, lr_clip, tmp_path, capsys):
    exp = _export(run_dir, tmp_path)
    assert cli(["sample", "--checkpoint", str(exp), "--input", str(lr_clip), "--output", str(tmp_path / "o"),
                "--no-ema", "--no-progress", "--gif-frames", "0"]) == 0
    assert "EMA weights only" in capsys.readouterr().err
    rec = json.loads((tmp_path / "o" / "sample.json").read_text())
    assert rec["ema"] is True and rec["weights"] == "EMA" and rec["ema_requested"] is False
    assert cli(["sample", "--checkpoint", str(run_dir / "checkpoints" / "best.pt"), "--input", str(lr_clip),
                "--output", str(tmp_path / "o2"), "--no-ema", "--no-progress", "--gif-frames", "0"]) == 0
    assert json.loads((tmp_path / "o2" / "sample.json").read_text())["weights"] == "raw"


def test_run_without_papermill_names_the_extra(monkeypatch, capsys, tmp_path):
    import builtins

    real = builtins.__import__

    def no_papermill(name, *a, **k):
        if name == "papermill":
            raise ImportError("No module named 'papermill'")
        return real(name, *a, **k)

    monkeypatch.setattr(builtins, "__import__", no_papermill)
    one_line_error(capsys, cli(["run", "--profile", "smoke", "--out", str(tmp_path / "r")]), "[notebooks]")
    assert not (tmp_path / "r").exists()


def test_a_read_only_cache_fails_before_any_download(monkeypatch, tmp_path, capsys):
    import errno as _errno
    from seeclear_lite.data import cli as data_cli
    from seeclear_lite.utils import cache

    def read_only(*a, **k):
        raise OSError(_errno.EROFS, "Read-only file system")

    monkeypatch.setattr(cache.tempfile, "TemporaryFile", read_only)
    monkeypatch.setattr(data_cli, "build_corpus", lambda *a, **k: pytest.fail("downloaded"))
    monkeypatch.setenv("SEECLEAR_CACHE", str(tmp_path / "ro"))
    one_line_error(capsys, cli(["data", "build"]), "cannot be written", "Read-only", "SEECLEAR_CACHE")
    afile = tmp_path / "afile"
    afile.write_text("keep")
    one_line_error(capsys, cli(["data", "build", "--cache", str(afile)]), "is a file")
    one_line_error(capsys, cli(["data", "samples", "--cache", str(tmp_path / "none"), "--out", str(tmp_path / "s")]),
                   "has no clip")
    assert afile.read_text() == "keep" and not (tmp_path / "s").exists()


# ------------------------------------------------------------------------------ settings and messages
def test_values_that_would_be_ignored_or_wrap_are_refused(run_dir, lr_clip, tmp_path, capsys):
    one_line_error(capsys, cli(["train", "--config", "tiny", *MICRO, f"data.root={tmp_path}", "--out",
                                str(tmp_path / "t")]), "data.root", "is not read", "data.source=basicsr")
    ck = str(run_dir / "checkpoints" / "best.pt")
    for seed in ("-1", str(2**63)):
        one_line_error(capsys, cli(["sample", "--checkpoint", ck, "--input", str(lr_clip), "--output",
                                    str(tmp_path / "o"), "--seed", seed]), "--seed must be an integer from 0")
    one_line_error(capsys, cli(["info", "--config", "tiny", "--flops", "--steps", "-1"]), "--steps must be")
    binary = tmp_path / "f.yaml"
    binary.write_bytes(bytes(range(256)))
    one_line_error(capsys, cli(["train", "--config", "tiny", "--config-file", str(binary), "--out",
                                str(tmp_path / "t")]), "f.yaml", "not a text file")
    assert not (tmp_path / "t").exists() and not (tmp_path / "o").exists()


def test_image_and_video_files_that_are_not_what_their_names_say(run_dir, tmp_path, capsys):
    from PIL import Image

    clip = tmp_path / "cmyk"
    clip.mkdir()
    Image.fromarray(np.zeros((8, 8, 3), np.uint8)).convert("CMYK").save(clip / "00000000.jpg")
    s = ["sample", "--checkpoint", str(run_dir / "checkpoints" / "best.pt"), "--output", str(tmp_path / "o"), "--input"]
    one_line_error(capsys, cli(s + [str(clip)]), "00000000.jpg", "CMYK", "RGB")
    fake = tmp_path / "video.mp4"
    fake.write_text("not a video")
    one_line_error(capsys, cli(s + [str(fake)]), "video.mp4", "cannot be decoded as a video")


def test_interrupted_training_from_a_config_file_prints_a_resume_command_that_works(tmp_path):
    cfg_file = tmp_path / "my.yaml"
    cfg_file.write_text("optim:\n  lr: 0.002\n")
    out = tmp_path / "run"
    p = spawn("train", "--config", "tiny", *MICRO, "stages.0.steps=100000", "runtime.ckpt_every=1",
              "--config-file", str(cfg_file), "--out", str(out))
    wait_for(lambda: list((out / "checkpoints").glob("step_*.pt")) or p.poll() is not None)
    p.send_signal(signal.SIGINT)
    _, err = p.communicate(timeout=120)
    assert p.returncode == 2 and f"--config-file {cfg_file}" in err, err
    again = err.strip().split("Continue with: ")[1].replace("python -m seeclear_lite ", "").replace("stages.0.steps=100000",
                                                                                                 "stages.0.steps=1")
    import shlex

    argv = shlex.split(again)
    assert cli(argv[:argv.index("--resume")] + ["--resume", "auto", "--print-config"]) == 0


# ------------------------------------------------------------------------------ size and memory: tiling
def test_a_frame_too_large_for_memory_is_refused_with_the_size_that_fits(run_dir):
    from seeclear_lite.training.checkpoint import load_model
    from seeclear_lite.training.tiling import measure_cost, plan_tiles

    model, cfg, _ = load_model(run_dir / "checkpoints" / "best.pt")
    cost = measure_cost(model, cfg.data.clip_length, torch.device("cpu"))
    with pytest.raises(MemoryError, match=r"frames up to about \d+x\d+ fit"):
        plan_tiles(model, cfg, (3000, 4000), torch.device("cpu"), budget=2**30, cost=cost)
    plan = plan_tiles(model, cfg, (96, 128), torch.device("cpu"), budget=cost.total(64, 64), cost=cost)
    assert plan.tile is not None and 16 <= plan.tile < 128 and "tiles of" in plan.reason
    assert plan_tiles(model, cfg, (32, 32), torch.device("cpu"), budget=2**40, cost=cost).tile is None


def test_tiled_sampling_matches_untiled(run_dir):
    from seeclear_lite.diffusion import BlurringResShift
    from seeclear_lite.metrics import psnr
    from seeclear_lite.training.checkpoint import load_model
    from seeclear_lite.training.sampling import VideoSampler
    from seeclear_lite.training.tiling import TiledSampler

    model, cfg, _ = load_model(SHIPPED)
    lr = torch.stack([read(p) for p in sorted((sample_root() / "BIx4" / VALIDATION_CLIP).iterdir())[:5]])[..., :40, :40]

    def run(seed, tile=None):
        s = VideoSampler(model, BlurringResShift.from_config(cfg.diffusion), clip_length=5, form=cfg.diffusion.form,
                         seed=seed)
        s = TiledSampler(s, tile, 8) if tile else s
        return torch.stack([f for _, f in s.stream(lr)])

    whole, other_seed = run(0), run(1)
    assert torch.equal(run(0, tile=64), whole)                       # one tile covering the frame: the same output
    tiled = run(0, tile=24)                                         # 2 x 2 tiles, 8 LR px overlap
    def psnr(a, b):
        return float(10 * torch.log10(1 / ((a - b) ** 2).mean()))

    seed_noise, tiling = psnr(other_seed, whole), psnr(tiled, whole)
    print(f"PSNR tiled vs whole {tiling:.2f} dB; seed 1 vs seed 0 {seed_noise:.2f} dB")
    assert tiling > seed_noise - 1.0, (tiling, seed_noise)           # tiles differ no more than another seed does
    seam = (tiled - whole)[..., 60:100, :].abs().mean()              # rows around the tiles' overlap (HR 64..96)
    assert seam < 2 * (other_seed - whole).abs().mean()


def test_sample_tiles_a_frame_that_does_not_fit(run_dir, lr_clip, tmp_path, monkeypatch, capsys):
    from seeclear_lite.training import tiling

    monkeypatch.setattr(tiling, "available_bytes", lambda device: 60 * 2**20)
    out = tmp_path / "o"
    assert cli(["sample", "--checkpoint", str(run_dir / "checkpoints" / "best.pt"), "--input", str(lr_clip),
                "--output", str(out), "--no-progress", "--gif-frames", "0"]) == 0
    rec = json.loads((out / "sample.json").read_text())
    assert rec["tile"] is not None and rec["frames"] == 6
    monkeypatch.setattr(tiling, "available_bytes", lambda device: 2**20)
    one_line_error(capsys, cli(["sample", "--checkpoint", str(run_dir / "checkpoints" / "best.pt"), "--input",
                                str(lr_clip), "--output", str(tmp_path / "o2")]), "frames up to about")
    assert not (tmp_path / "o2").exists()


# ------------------------------------------------------------------------------ property: random bad inputs
def test_random_bad_inputs_end_in_exit_0_or_2_and_change_nothing_outside_the_output(run_dir, lr_clip, tmp_path,
                                                                                    capsys):
    """Seeded random combinations of bad paths, names and values for every command: exit 0 or 2, never a traceback,
    and no file outside the output folder changes (hashes of everything the commands could read)."""
    import random

    rng = random.Random(28)
    a_file = tmp_path / "file.txt"
    a_file.write_text("keep")
    junk = tmp_path / "junk.pt"
    junk.write_bytes(b"\x00junk")
    paths = [str(lr_clip), str(a_file), str(junk), str(tmp_path / "missing"), "", str(run_dir),
             str(run_dir / "checkpoints" / "best.pt"), str(lr_clip / "00000000.png"), str(tmp_path)]
    values = ["-1", "0", "abc", "1e309", "nan", str(2**64), "3", ""]
    watched = [lr_clip, run_dir, a_file, junk]
    before = {str(w): tree_hash(w) if w.is_dir() else hashlib.sha256(w.read_bytes()).hexdigest() for w in watched}
    t0 = time.time()
    for i in range(40):
        out = tmp_path / f"out{i}"
        cmd = rng.choice(["sample", "evaluate", "train", "export", "info"])
        if cmd == "sample":
            argv = ["sample", "--checkpoint", rng.choice(paths), "--input", rng.choice(paths), "--output",
                    rng.choice([str(out), rng.choice(paths)]), "--no-progress", "--gif-frames", "0"]
            argv += rng.choice([[], ["--seed", rng.choice(values)], ["--max-frames", rng.choice(values)],
                                ["--fps", rng.choice(values)], ["--tile", rng.choice(values)]])
        elif cmd == "evaluate":
            argv = ["evaluate", "--gt", rng.choice(paths), "--out", rng.choice([str(out), rng.choice(paths)]),
                    "--no-lpips", "--no-progress"] + rng.choice([[], ["--scale", rng.choice(values)],
                                                                 ["--crop-border", rng.choice(values)],
                                                                 ["--seed", rng.choice(values)]])
        elif cmd == "train":
            key = rng.choice(["seed", "model.channels", "val.gt_patch", "data.root", "optim.lr", "stages.0.steps"])
            argv = ["train", "--config", "tiny", *MICRO, "stages.0.steps=1", f"{key}={rng.choice(values)}", "--out",
                    rng.choice([str(out), rng.choice(paths)])] + rng.choice(
                [[], ["--resume", rng.choice(paths)], ["--init", rng.choice(paths)], ["--overwrite"]])
        elif cmd == "export":
            argv = ["export", "--run", rng.choice(paths), "--out", rng.choice([str(out) + ".pt", rng.choice(paths)]),
                    "--no-score"]
        else:
            argv = ["info", "--config", "tiny", "--flops", "--steps", rng.choice(values), "--size",
                    rng.choice(values + ["64"])]
        try:
            code = cli(argv)
        except SystemExit as exc:            # argparse: a value of the wrong type
            code = exc.code
        err = capsys.readouterr().err
        assert code in (0, 2), (argv, code, err)
        assert "Traceback" not in err, (argv, err)
        now = {str(w): tree_hash(w) if w.is_dir() else hashlib.sha256(w.read_bytes()).hexdigest() for w in watched}
        if code == 0:   # a success may add its own output folder inside tmp_path; never change what it read
            for w in watched:
                if w.is_dir():
                    now[str(w)] = {k: v for k, v in now[str(w)].items() if k in before[str(w)]}
        assert now == before, argv
    assert time.time() - t0 < 90
