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

import nbformat
import numpy as np
import pytest
import torch

from training_helpers import MICRO, micro_config

from seeclear_lite.__main__ import main as cli
from seeclear_lite.data.samples import VALIDATION_CLIP, sample_root
from seeclear_lite.training import train
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


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("run") / "micro"
    train(micro_config("stages.0.steps=2", "val.every=2", "runtime.ckpt_every=1", "runtime.keep_last=5"), out,
          device=torch.device("cpu"), log=lambda *a, **k: None)
    return out


@pytest.fixture
def lr_clip(tmp_path):
    """An LR clip of 6 frames (the sample clip's first six)."""
    dst = tmp_path / "lr"
    dst.mkdir()
    for p in sorted((sample_root() / "BIx4" / VALIDATION_CLIP).iterdir())[:6]:
        shutil.copy(p, dst / p.name)
    return dst


# ------------------------------------------------------------------------------ data loss: checks before writes
@pytest.mark.parametrize("bad", [["val.every=1", "val.gt_patch=4096"], ["model.channels=1"]])
def test_train_overwrite_with_a_config_that_fails_a_later_check_keeps_the_run(run_dir, tmp_path, capsys, bad):
    out = tmp_path / "r2"
    shutil.copytree(run_dir, out)
    before = tree_hash(out)
    code = cli(["train", "--config", "tiny", *MICRO, "stages.0.steps=1", *bad, "--out", str(out), "--overwrite"])
    one_line_error(capsys, code, bad[-1].split("=")[0].split(".")[-1] if "gt_patch" in bad[-1] else "cannot run")
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


def _tiny_notebook(path, body="ctx.record(answer=42)"):
    nb = nbformat.v4.new_notebook()
    nb.metadata = {"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}}
    params = nbformat.v4.new_code_cell("PROFILE = None\nSEED = 0\nRESULTS_DIR = None")
    params.metadata["tags"] = ["parameters"]
    nb.cells = [params, nbformat.v4.new_code_cell(
        "from seeclear_lite.kit.notebook import start\nctx = start(PROFILE, SEED, RESULTS_DIR, name='01_tiny')\n" + body)]
    nbformat.write(nb, str(path))


def test_a_failed_run_keeps_the_earlier_notebook_and_summary(tmp_path):
    from seeclear_lite.kit.runner import run_sequence

    nbdir = tmp_path / "nbs"
    nbdir.mkdir()
    _tiny_notebook(nbdir / "01_tiny.ipynb")
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
