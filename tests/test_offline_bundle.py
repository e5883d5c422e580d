"""``python -m seeclear_lite bundle``: the offline bundle for a class without internet (issue 27, deliverable 6).

Most tests assemble bundles without pip (``build_wheels`` replaced by one that writes stand-in wheels) and check the
manifest, the installer's checks and the error paths. One test does it for real: a core bundle (the kit, torch and
the core packages, no extras, no corpus) built with pip, then installed by the bundle's own install.py, run by the
plain interpreter (no kit on its path) inside a network namespace with no network at all (``unshare -n``, where
this user may make one; else with the index pointed at a closed port), into a fresh venv, and used there.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from seeclear_lite.__main__ import main as cli
from seeclear_lite.kit import bundle, bundle_install
from seeclear_lite.kit.bundle import BundleBuildError, build_bundle, file_entries, kit_files, manifest_of
from seeclear_lite.kit.bundle_install import BundleError, verify_bundle
from seeclear_lite.utils.io import atomic_torch_save

REPO = Path(__file__).resolve().parents[1]
QUIET = dict(log=lambda *a, **k: None)
#: The interpreter the venv was made from: what a class machine has (no kit, no torch).
BASE_PYTHON = getattr(sys, "_base_executable", None) or sys.executable
#: An index nobody answers: with it, a pip that tried to download would fail at once.
UNREACHABLE = {"PIP_INDEX_URL": "http://127.0.0.1:9/simple", "PIP_NO_INDEX": "1", "PIP_FIND_LINKS": ""}


@pytest.fixture
def cache(tmp_path, monkeypatch):
    """A kit cache with stand-ins for the LPIPS / DISTS weights in the kit's own formats (what the self-check
    loads) and a one-clip corpus pack."""
    root = tmp_path / "cache"
    monkeypatch.setenv("SEECLEAR_CACHE", str(root))
    for net in ("vgg", "alex"):
        atomic_torch_save({"format": 1, "net": net, "source": "test", "state_dict": {"w": torch.ones(2)}},
                          root / "lpips" / f"lpips_{net}_v0.1.pt")
    atomic_torch_save({"format": 1, "alpha": torch.ones(3), "beta": torch.ones(3)}, root / "dists" /
                      "dists_alpha_beta.pt")
    (root / "dists" / "DISTS_pytorch-0.1-py3-none-any.whl").write_bytes(b"stand-in wheel")
    manifest = {"format": "seeclear-lite-pack/1", "scale": 4, "clips": {"c": {"split": "train"}}}
    (root / "corpus").mkdir()
    np.savez(root / "corpus" / "pack.npz", manifest=np.frombuffer(json.dumps(manifest).encode(), dtype=np.uint8),
             **{"gt/c": np.zeros((1, 8, 8, 3), np.uint8), "lr/c": np.zeros((1, 2, 2, 3), np.uint8)})
    return root


def fake_wheels(kit_dir, wheel_dir, extras, torch_spec, build_requires, log=print):
    """Stand-in for :func:`bundle.build_wheels` (no pip): two small files with the names pip would write."""
    (wheel_dir / "torch-2.13.0+cpu-cp311-cp311-manylinux_2_28_x86_64.whl").write_bytes(b"torch" * 100)
    (wheel_dir / "seeclear_lite-0.1.0-py3-none-any.whl").write_bytes(b"kit" * 100)


@pytest.fixture
def quick(monkeypatch, cache):
    """Bundles built without pip (stand-in wheels), the kit's folder limited to a few files."""
    monkeypatch.setattr(bundle, "build_wheels", fake_wheels)
    monkeypatch.setattr(bundle, "kit_files", lambda root=REPO, exclude=(): ["pyproject.toml", "notebooks/00_tour.ipynb",
                                                                            "data/checkpoints/small.json"])
    return cache


def no_staging_left(folder: Path) -> bool:
    return not [p for p in folder.iterdir() if p.name.startswith(".staging-") or p.name.endswith(".lock")]


# ------------------------------------------------------------------------------------------- build
def test_torch_spec_is_the_makefiles():
    spec = re.search(r"^TORCH_SPEC \?= (.+)$", (REPO / "Makefile").read_text(), re.M).group(1).strip()
    assert bundle.TORCH_SPEC == spec


def test_a_bundle_holds_the_kit_wheels_weights_pack_installer_and_a_manifest_of_them(quick, tmp_path):
    out = tmp_path / "b"
    m = build_bundle(out, corpus=True, extras="notebooks", **QUIET)
    assert m["format"] == bundle_install.BUNDLE_FORMAT and m["extras"] == ["notebooks"] and m["corpus"]
    assert m["python"]["version"] == "%d.%d" % sys.version_info[:2] and m["torch"] == bundle.TORCH_SPEC
    on_disk = {p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file()}
    assert on_disk - set(m["files"]) == {"manifest.json"}, "every file but the manifest is listed"
    assert {"install.py", "install.sh", "README.txt", "kit/pyproject.toml", "kit/data/checkpoints/small.json",
            "cache/lpips/lpips_vgg_v0.1.pt", "cache/lpips/lpips_alex_v0.1.pt", "cache/dists/dists_alpha_beta.pt",
            "cache/corpus/pack.npz"} <= on_disk
    assert (out / "install.py").read_text() == Path(bundle_install.__file__).read_text()
    assert os.access(out / "install.py", os.X_OK) and os.access(out / "install.sh", os.X_OK)
    assert m["total_bytes"] == sum(e["size"] for e in m["files"].values())
    assert json.loads((out / "manifest.json").read_text()) == m
    readme = (out / "README.txt").read_text()
    assert m["id"] in readme and "--no-index --find-links" in readme and "install.py --dest" in readme
    assert verify_bundle(out, **QUIET) == m
    assert no_staging_left(tmp_path)


def test_no_corpus_and_the_core_only(quick, tmp_path):
    m = build_bundle(tmp_path / "b", corpus=False, extras="", **QUIET)
    assert m["extras"] == [] and not m["corpus"] and "cache/corpus/pack.npz" not in m["files"]
    assert "-e <dest>\n" in (tmp_path / "b" / "README.txt").read_text()


@pytest.mark.parametrize("case, match", [
    ("file", r"--out .* is a file"),
    ("other", r"holds other files and is not a SeeClear-lite bundle"),
    ("bundle", r"already holds a bundle: pass --overwrite"),
    ("repo", r"is or contains the kit's folder"),
    ("extra", r"--extras nope is not an extra of the kit: choose from notebooks, test"),
    ("pack", r"the corpus pack is not in the cache .*data pack.*--no-corpus"),
    ("weights", r"the metric weights are not in the cache .*python -m seeclear_lite.metrics"),
    ("empty", r"--out is empty"),
])
def test_build_refuses_in_one_line_before_writing_anything(quick, tmp_path, case, match):
    out, extras = tmp_path / "b", "notebooks"
    if case == "file":
        out.write_text("x")
    elif case == "other":
        out.mkdir()
        (out / "notes.txt").write_text("mine")
    elif case == "bundle":
        build_bundle(out, corpus=False, **QUIET)
    elif case == "repo":
        out = REPO.parent
    elif case == "extra":
        extras = "notebooks,nope"
    elif case == "pack":
        (quick / "corpus" / "pack.npz").unlink()
    elif case == "weights":
        (quick / "lpips" / "lpips_alex_v0.1.pt").unlink()
    elif case == "empty":
        out = " "
    before = sorted(p.as_posix() for p in tmp_path.rglob("*"))
    with pytest.raises(BundleBuildError if case != "empty" else ValueError, match=match) as err:
        build_bundle(out, corpus=True, extras=extras, **QUIET)
    assert "\n" not in str(err.value)
    assert sorted(p.as_posix() for p in tmp_path.rglob("*")) == before, "nothing written"


def test_cli_error_is_one_line_naming_the_fix(quick, tmp_path, capsys):
    (tmp_path / "b").mkdir()
    (tmp_path / "b" / "notes.txt").write_text("mine")
    assert cli(["bundle", "build", "--out", str(tmp_path / "b"), "--no-corpus"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: --out") and "choose a new or empty folder" in err and "\n" not in err


def test_a_failed_build_keeps_the_old_bundle_and_leaves_no_staging(quick, tmp_path, monkeypatch):
    out = tmp_path / "b"
    old = build_bundle(out, corpus=False, **QUIET)

    def broken(*a, **k):
        raise BundleBuildError("pip could not collect the wheels (ERROR: no network)")

    monkeypatch.setattr(bundle, "build_wheels", broken)
    with pytest.raises(BundleBuildError, match="pip could not collect"):
        build_bundle(out, corpus=True, overwrite=True, **QUIET)
    assert json.loads((out / "manifest.json").read_text()) == old and verify_bundle(out, **QUIET)
    assert no_staging_left(tmp_path)
    monkeypatch.setattr(bundle, "build_wheels", fake_wheels)
    new = build_bundle(out, corpus=True, overwrite=True, **QUIET)        # --overwrite: the new one replaces it
    assert new["corpus"] and verify_bundle(out, **QUIET)["id"] == new["id"] != old["id"]
    assert no_staging_left(tmp_path)


def test_kit_files_are_the_working_tree_without_ignored_or_excluded_paths(tmp_path):
    names = kit_files(exclude=[REPO / "notebooks" / "executed"])
    assert {"pyproject.toml", "Makefile", "seeclear_lite/__init__.py", "notebooks/00_tour.ipynb",
            "data/checkpoints/small.pt", "seeclear_lite/kit/bundle_install.py"} <= set(names)
    assert not [n for n in names if n.startswith((".venv/", ".git/", "build/", "results/", "notebooks/executed/"))
                or "__pycache__" in n or ".egg-info" in n]


# ------------------------------------------------------------------------------ the installer's checks
def small_bundle(root: Path, python: dict | None = None) -> Path:
    """A bundle made by hand (no kit build): what verify_bundle and the installer's early checks read."""
    (root / "wheels").mkdir(parents=True)
    (root / "wheels" / "a-1.0-py3-none-any.whl").write_bytes(b"a" * 1000)
    (root / "kit").mkdir()
    (root / "kit" / "pyproject.toml").write_text("[project]\n")
    (root / "cache" / "lpips").mkdir(parents=True)
    (root / "cache" / "lpips" / "w.pt").write_bytes(os.urandom(4096))
    shutil.copyfile(bundle_install.__file__, root / "install.py")
    py = python or {"implementation": sys.implementation.name, "version": "%d.%d" % sys.version_info[:2],
                    "platform": f"{sys.platform}-{os.uname().machine}"}
    m = manifest_of(file_entries(root), {"python": py, "extras": [], "corpus": False, "torch": "torch==2.13.0"})
    (root / "manifest.json").write_text(json.dumps(m))
    return root


@pytest.mark.parametrize("damage, match", [
    ("flip", r"cache/lpips/w.pt is damaged \(its sha256 differs from the manifest's\): copy the bundle again"),
    ("truncate", r"wheels/a-1.0-py3-none-any.whl is damaged \(999 bytes, the manifest says 1,000\)"),
    ("delete", r"kit/pyproject.toml is missing from the bundle"),
    ("extra", r"wheels/ holds files the manifest does not list \(torch-9.9-py3-none-any.whl\)"),
    ("format", r"is not a manifest this installer reads \(format 'other'"),
    ("no-manifest", r"has no manifest.json: it is not a SeeClear-lite bundle"),
])
def test_verify_names_the_damaged_file(tmp_path, damage, match):
    b = small_bundle(tmp_path / "b")
    assert verify_bundle(b, **QUIET)["files"]
    if damage == "flip":
        data = bytearray((b / "cache/lpips/w.pt").read_bytes())
        data[100] ^= 1
        (b / "cache/lpips/w.pt").write_bytes(bytes(data))
    elif damage == "truncate":
        (b / "wheels/a-1.0-py3-none-any.whl").write_bytes(b"a" * 999)
    elif damage == "delete":
        (b / "kit/pyproject.toml").unlink()
    elif damage == "extra":
        (b / "wheels/torch-9.9-py3-none-any.whl").write_bytes(b"x")
    elif damage == "format":
        m = json.loads((b / "manifest.json").read_text())
        (b / "manifest.json").write_text(json.dumps({**m, "format": "other"}))
    elif damage == "no-manifest":
        (b / "manifest.json").unlink()
    with pytest.raises(BundleError, match=match):
        verify_bundle(b, **QUIET)


def test_install_py_runs_alone_and_refuses_a_damaged_copy_before_making_anything(tmp_path):
    """The bundle's install.py with the plain interpreter (-I: no kit, no site-packages on its path)."""
    b = small_bundle(tmp_path / "b")
    run = lambda *args: subprocess.run([BASE_PYTHON, "-I", str(b / "install.py"), *args], capture_output=True,
                                       text=True, cwd=tmp_path, timeout=120)
    ok = run("--verify-only")
    assert ok.returncode == 0 and "sizes and sha256 match manifest.json" in ok.stdout, ok.stderr
    (b / "cache/lpips/w.pt").write_bytes(b"\0" * 4096)
    bad = run("--dest", str(tmp_path / "kit"), "--cache", str(tmp_path / "c"))
    assert bad.returncode == 2 and not (tmp_path / "kit").exists() and not (tmp_path / "c").exists()
    assert bad.stderr.strip().splitlines() == ["error: cache/lpips/w.pt is damaged (its sha256 differs from the "
                                               "manifest's): copy the bundle again from the instructor's copy."]


def test_bundle_verify_and_install_commands_run_the_bundles_installer(tmp_path, capsys):
    b = small_bundle(tmp_path / "b")
    assert cli(["bundle", "verify", str(b)]) == 0
    (b / "kit/pyproject.toml").unlink()
    assert cli(["bundle", "verify", str(b)]) == 2
    assert cli(["bundle", "verify", str(tmp_path)]) == 2          # no install.py: not a bundle
    assert "has no install.py" in capsys.readouterr().err
    assert cli(["bundle", "install", str(b), "--dest", str(tmp_path / "kit")]) == 2   # refused before anything
    assert not (tmp_path / "kit").exists()


@pytest.mark.parametrize("case, match", [
    ("python", r"this bundle's wheels are for cpython 2\.7 on .*: run install\.py with that Python"),
    ("dest", r"--dest .* already exists and is not empty: choose a new folder"),
    ("installed", r"--dest .* already holds a SeeClear-lite install"),
    ("inside", r"--dest .* overlaps the bundle"),
])
def test_install_refuses_the_wrong_python_or_a_used_dest(tmp_path, case, match):
    py = {"implementation": "cpython", "version": "2.7", "platform": "linux-x86_64"} if case == "python" else None
    b = small_bundle(tmp_path / "b", python=py)
    dest = tmp_path / "kit"
    if case in ("dest", "installed"):
        dest.mkdir()
        (dest / ("notes.txt" if case == "dest" else bundle_install.INSTALL_MARKER)).write_text("x")
    elif case == "inside":
        dest = b / "kit2"
    before = sorted(p.as_posix() for p in tmp_path.rglob("*"))
    with pytest.raises(BundleError, match=match):
        bundle_install.install(b, dest, cache=tmp_path / "c", **QUIET)
    assert sorted(p.as_posix() for p in tmp_path.rglob("*")) == before


def test_a_failed_install_removes_the_dest_it_made(tmp_path, monkeypatch):
    """pip fails (the hand-made bundle has no kit to install): the copied kit and the venv go again."""
    b = small_bundle(tmp_path / "b")

    def run(cmd, *args, **kwargs):
        if "pip" in map(str, cmd):
            raise BundleError("pip install failed (No matching distribution found for torch): ...")
        Path(cmd[-1]).mkdir(parents=True)               # `python -m venv DIR`

    monkeypatch.setattr(bundle_install, "run", run)
    with pytest.raises(BundleError, match="pip install failed"):
        bundle_install.install(b, tmp_path / "kit", cache=tmp_path / "c", **QUIET)
    assert not (tmp_path / "kit").exists() and not (tmp_path / "c").exists()


# --------------------------------------------------------------------------------------- for real
def local_torch_wheel() -> bool:
    """Whether pip finds the Makefile's torch without an index (the machine's wheel folder): a bundle build must
    never download torch from the index (a CUDA build of several GB). A dry run: nothing is copied."""
    proc = subprocess.run([sys.executable, "-m", "pip", "install", "--dry-run", "--ignore-installed", "--no-deps",
                           "--no-index", "--quiet", bundle.TORCH_SPEC], capture_output=True, text=True, timeout=300)
    return proc.returncode == 0


def offline_prefix() -> tuple[list[str], str]:
    """``unshare -n`` (a network namespace with no network) where this user may make one, else nothing."""
    if shutil.which("unshare") and subprocess.run(["unshare", "-n", "true"], capture_output=True).returncode == 0:
        return ["unshare", "-n"], "in a network namespace with no network"
    return [], "with the index pointed at a closed port"


@pytest.fixture
def scratch(tmp_path):
    """A folder for the bundle and the venv (1.6 GB, ~20,000 files): in /dev/shm where it has room, since removing
    that many files from a busy disk took 76 s here, from memory none; removed at the end either way."""
    shm = Path("/dev/shm")
    if shm.is_dir() and os.access(shm, os.W_OK) and shutil.disk_usage(shm).free > 4 * 2**30:
        folder = Path(tempfile.mkdtemp(prefix="seeclear-bundle-test-", dir=shm))
    else:
        folder = tmp_path / "scratch"
        folder.mkdir()
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


@pytest.mark.slow
def test_a_core_bundle_installs_into_a_fresh_venv_with_no_network(cache, scratch, tmp_path):
    """Build (pip, with this machine's index settings), then install with the bundle's install.py, run by the plain
    interpreter with no network, into a fresh venv; then use the kit there."""
    if not local_torch_wheel():
        pytest.skip(f"pip finds no local wheel for {bundle.TORCH_SPEC} (the build would download a CUDA torch of "
                    f"several GB from the index)")
    t0 = time.time()
    out = scratch / "bundle"
    proc = subprocess.run([sys.executable, "-m", "seeclear_lite", "bundle", "build", "--out", str(out), "--no-corpus",
                           "--extras", ""], capture_output=True, text=True, timeout=600)
    if proc.returncode != 0 and "pip could not collect the wheels" in proc.stderr:
        pytest.skip(f"the package index is not reachable: {proc.stderr.strip()}")
    assert proc.returncode == 0, proc.stderr
    built = time.time() - t0
    m = json.loads((out / "manifest.json").read_text())
    wheels = {f.split("/")[1].split("-")[0].lower() for f in m["files"] if f.startswith("wheels/")}
    assert {"torch", "numpy", "scipy", "einops", "omegaconf", "scikit_image", "seeclear_lite", "setuptools"} <= wheels
    assert "jupyterlab" not in wheels and m["extras"] == []

    prefix, how = offline_prefix()
    cache2, dest = scratch / "class_cache", scratch / "class" / "seeclear-lite"
    env = {**{k: v for k, v in os.environ.items() if k != "PYTHONPATH"}, **UNREACHABLE}
    env.pop("SEECLEAR_CACHE")
    t0 = time.time()
    proc = subprocess.run([*prefix, BASE_PYTHON, str(out / "install.py"), "--dest", str(dest), "--cache", str(cache2),
                           "--no-compile"], capture_output=True, text=True, timeout=600, env=env, cwd=tmp_path)
    assert proc.returncode == 0, f"install {how} failed:\n{proc.stdout}\n{proc.stderr}"
    installed = time.time() - t0
    assert "self-check" in proc.stdout and "pip check: no broken requirements" in proc.stdout
    assert (dest / ".seeclear-bundle-install.json").is_file() and (dest / ".venv" / ".seeclear-installed").is_file()
    for rel, entry in m["files"].items():                    # the cache holds the bundle's files, checked
        if rel.startswith("cache/"):
            assert bundle_install.sha256_file(cache2 / rel[len("cache/"):]) == entry["sha256"]

    # one process (each import of torch compiles its modules again: --no-compile and no bytecode written)
    check = ("import sys, torch, seeclear_lite; from seeclear_lite.__main__ import main; "
             "print(seeclear_lite.__file__, torch.__version__); sys.exit(main(['info', '--config', 'tiny']))")
    use = subprocess.run([*prefix, str(dest / ".venv" / "bin" / "python"), "-c", check], capture_output=True,
                         text=True, timeout=300, env={**env, "SEECLEAR_CACHE": str(cache2)}, cwd=tmp_path)
    assert use.returncode == 0 and "configuration tiny: 649,722 learnable parameters" in use.stdout, use.stderr
    where, version = use.stdout.split()[:2]
    assert Path(where).is_relative_to(dest) and version == m["torch_wheel"].split("-")[1]
    print(f"core bundle {m['total_bytes'] / 2**20:.0f} MiB built in {built:.0f} s, installed {how} in "
          f"{installed:.0f} s")
