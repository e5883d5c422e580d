#!/usr/bin/env python3
"""Install SeeClear-lite from an offline bundle, with no network: ``python3 install.py [--dest DIR]``.

This file is ``install.py`` inside a bundle made by ``python -m seeclear_lite bundle build`` (its source is
``seeclear_lite/kit/bundle_install.py``). It needs only the Python the bundle names and the bundle itself: no
network, no package index, no copy of the kit. It uses the standard library only. The steps:

1. check the bundle: every file of ``manifest.json`` is there with its size and sha256, and ``wheels/`` holds no
   file the manifest does not list (pip would pick it up);
2. check this machine: the Python version and platform the wheels were built for, a ``--dest`` that is new (or
   empty), enough free disk space;
3. copy the kit's folder (the notebooks, ``data/`` with the shipped models, the package's source) to ``--dest``;
4. make a virtual environment (``--venv``, default ``<dest>/.venv``) and install the kit into it with
   ``pip install --no-index --find-links <bundle>/wheels -e <dest>[extras]`` (pip's configuration files and
   ``PIP_*`` variables are ignored, so nothing can send it to an index);
5. copy the cached files (LPIPS and DISTS weights, the corpus pack if the bundle has it) into the kit's cache
   (``--cache``, else ``$SEECLEAR_CACHE``, else ``~/.cache/seeclear_lite``), each one atomically and checked;
6. self-check in the new environment: import torch and the kit (from ``--dest``), load the LPIPS and DISTS weights
   and the shipped model with the kit's own loaders, read the pack's manifest, ``pip check``.

A failure stops the install with one line naming the problem and what to do; a ``--dest`` (and ``--venv``) that
this run made is removed again, so a failed install leaves no half-made kit behind. ``--verify-only`` runs step 1.
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
import time
from pathlib import Path

#: The manifest format this installer reads (``seeclear_lite.kit.bundle.BUNDLE_FORMAT`` writes it).
BUNDLE_FORMAT = "seeclear-lite-bundle/1"
MANIFEST = "manifest.json"
#: The marker an install leaves in ``--dest`` (written last: its presence means the install completed).
INSTALL_MARKER = ".seeclear-bundle-install.json"
#: The Makefile's STAMP in .venv: newer than pyproject.toml, so `make run` installs nothing more.
MAKE_STAMP = ".seeclear-installed"
#: Unpacked size of the environment relative to the wheels (torch's wheel unpacks ~3.7x): the disk check.
UNPACK_FACTOR = 4

#: Run in the new environment: argv = dest, with_corpus ("1"/"0"). Prints one line per check; exits non-zero
#: with one line on stderr at the first failure.
SELF_CHECK = r"""
import sys
from pathlib import Path
dest, with_corpus = Path(sys.argv[1]).resolve(), sys.argv[2] == "1"
def fail(msg):
    print(msg, file=sys.stderr)
    raise SystemExit(1)
try:
    import torch
    import seeclear_lite
except Exception as err:
    fail(f"cannot import the kit in the new environment ({type(err).__name__}: {err})")
pkg = Path(seeclear_lite.__file__).resolve()
if dest not in pkg.parents:
    fail(f"the new environment imports seeclear_lite from {pkg}, not from {dest}")
print(f"  seeclear_lite {seeclear_lite.__version__} from {pkg.parent}, torch {torch.__version__}")
from seeclear_lite.metrics import lpips_weights
from seeclear_lite.metrics.dists import load_alpha_beta
from seeclear_lite.training.checkpoint import default_checkpoint, load_model
try:
    for net in lpips_weights.NETS:
        lpips_weights.load_state_dict(net)
    load_alpha_beta()
    print(f"  LPIPS ({', '.join(lpips_weights.NETS)}) and DISTS weights load from {lpips_weights.cache_dir().parent}")
    model, cfg, _ = load_model(default_checkpoint())
    print(f"  shipped model {default_checkpoint().name}: {sum(p.numel() for p in model.parameters()):,} parameters")
    if with_corpus:
        import json
        import numpy as np
        from seeclear_lite.data.pack import PACK_FORMAT, default_pack_path
        with np.load(default_pack_path(), allow_pickle=False) as z:
            manifest = json.loads(bytes(z["manifest"]).decode("utf-8"))
        if manifest.get("format") != PACK_FORMAT:
            fail(f"{default_pack_path()} is not a corpus pack of this kit")
        print(f"  corpus pack {default_pack_path()}: {len(manifest['clips'])} clips")
except Exception as err:
    fail(f"{type(err).__name__}: {str(err).splitlines()[0] if str(err) else ''}")
"""


class BundleError(Exception):
    """A problem found before or during the install; its message is the one line shown to the user."""


# ------------------------------------------------------------------------------------------------ checks
def sha256_file(path, chunk: int = 1 << 20) -> str:
    """Hex sha256 of a file, read in chunks."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while True:
            block = fh.read(chunk)
            if not block:
                return h.hexdigest()
            h.update(block)


def read_manifest(bundle) -> dict:
    """``bundle/manifest.json``, refusing a folder that is not a bundle of this format."""
    bundle = Path(bundle)
    if not bundle.is_dir():
        raise BundleError(f"{bundle} is not a folder: give the bundle folder (the one holding {MANIFEST} and "
                          f"wheels/).")
    path = bundle / MANIFEST
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise BundleError(f"{bundle} has no {MANIFEST}: it is not a SeeClear-lite bundle, or its copy is "
                          f"incomplete; copy the whole bundle folder again.") from None
    except (OSError, ValueError) as err:
        raise BundleError(f"{path} cannot be read ({err}): copy the bundle again from the instructor's "
                          f"copy.") from None
    if not isinstance(manifest, dict) or manifest.get("format") != BUNDLE_FORMAT:
        found = manifest.get("format") if isinstance(manifest, dict) else None
        raise BundleError(f"{path} is not a manifest this installer reads (format {found!r}, expected "
                          f"{BUNDLE_FORMAT!r}): use the install.py that came with the bundle.")
    return manifest


def verify_bundle(bundle, log=print) -> dict:
    """Check every file of the manifest (present, size, sha256) and that ``wheels/`` holds nothing unlisted;
    returns the manifest. The first problem raises :class:`BundleError` naming the file."""
    bundle = Path(bundle)
    manifest = read_manifest(bundle)
    files = manifest.get("files") or {}
    t0, done = time.time(), 0
    for rel, entry in sorted(files.items()):
        path = bundle / rel
        if Path(rel).is_absolute() or ".." in Path(rel).parts:
            raise BundleError(f"{MANIFEST} lists {rel!r}, outside the bundle: the manifest is damaged; copy the "
                              f"bundle again.")
        if not path.is_file():
            raise BundleError(f"{rel} is missing from the bundle {bundle}: copy the whole bundle folder again "
                              f"(cp -r or rsync -a, not file by file).")
        size = path.stat().st_size
        if size != entry["size"]:
            raise BundleError(f"{rel} is damaged ({size:,} bytes, the manifest says {entry['size']:,}): copy the "
                              f"bundle again from the instructor's copy.")
        if sha256_file(path) != entry["sha256"]:
            raise BundleError(f"{rel} is damaged (its sha256 differs from the manifest's): copy the bundle again "
                              f"from the instructor's copy.")
        done += size
    wheels = bundle / "wheels"
    extra = sorted(p.name for p in wheels.iterdir() if f"wheels/{p.name}" not in files) if wheels.is_dir() else []
    if extra:
        raise BundleError(f"wheels/ holds files the manifest does not list ({', '.join(extra[:3])}): pip would "
                          f"install from them; remove them or copy the bundle again.")
    log(f"  {len(files)} files, {done / 2**20:,.0f} MiB: sizes and sha256 match {MANIFEST} "
        f"({time.time() - t0:.1f} s)")
    return manifest


def python_version(python) -> tuple[str, str, str]:
    """``(major.minor, implementation, machine)`` of the interpreter ``python``."""
    code = ("import platform, sys; print('%d.%d' % sys.version_info[:2], sys.implementation.name, "
            "platform.machine(), sys.platform)")
    try:
        out = subprocess.run([str(python), "-c", code], capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired) as err:
        raise BundleError(f"cannot run --python {python} ({err}): give the path of a Python interpreter, e.g. "
                          f"--python /usr/bin/python3.11.") from None
    if out.returncode != 0:
        raise BundleError(f"--python {python} does not run ({out.stderr.strip()[-200:]}): give the path of a "
                          f"Python interpreter.")
    version, impl, machine, plat = out.stdout.split()
    return version, impl, f"{plat}-{machine}"


def check_python(manifest: dict, python) -> None:
    """The interpreter must be the Python (version, implementation, OS and machine) the wheels were built for."""
    want = manifest["python"]
    version, impl, plat = python_version(python)
    have = {"version": version, "implementation": impl, "platform": plat}
    if any(have[k] != want[k] for k in have):
        raise BundleError(
            f"this bundle's wheels are for {want['implementation']} {want['version']} on {want['platform']}, and "
            f"{python} is {impl} {version} on {plat}: run install.py with that Python (--python PATH, e.g. "
            f"--python python{want['version']}), or build the bundle on a machine like the class's.")


def check_dest(dest: Path, venv: Path) -> None:
    """``dest`` must be new or an empty folder (an existing install, or anyone's files, are never written over)."""
    for path, option in ((dest, "--dest"), (venv, "--venv")):
        if path.exists() and not path.is_dir():
            raise BundleError(f"{option} {path} is a file: give a new folder.")
    if (dest / INSTALL_MARKER).exists():
        raise BundleError(f"--dest {dest} already holds a SeeClear-lite install: use it as it is, or choose "
                          f"another --dest (remove the old folder yourself to install again in its place).")
    for path, option in ((dest, "--dest"), (venv, "--venv")):
        if path.is_dir() and any(path.iterdir()):
            raise BundleError(f"{option} {path} already exists and is not empty: choose a new folder (nothing "
                              f"there is overwritten).")


def check_space(manifest: dict, dest: Path, cache: Path) -> None:
    """Refuse when the disk of ``dest`` cannot hold the kit and its environment (an estimate: wheels x 4)."""
    files = manifest["files"]
    wheels = sum(e["size"] for r, e in files.items() if r.startswith("wheels/"))
    rest = sum(e["size"] for r, e in files.items() if r.startswith(("kit/", "cache/")))
    need = wheels * UNPACK_FACTOR + rest
    probe = dest
    while not probe.exists():
        probe = probe.parent
    free = shutil.disk_usage(probe).free
    if free < need:
        raise BundleError(f"not enough disk space at {probe}: the install needs about {need / 2**30:.1f} GiB, "
                          f"{free / 2**30:.1f} GiB are free; free some space or choose another --dest.")


def check_cache(cache: Path) -> None:
    """The cache folder must be creatable and writable before anything is installed."""
    if cache.exists() and not cache.is_dir():
        raise BundleError(f"the cache {cache} is a file: give a folder with --cache (or unset SEECLEAR_CACHE).")
    probe = cache
    while not probe.exists():
        probe = probe.parent
    if not os.access(probe, os.W_OK | os.X_OK):
        raise BundleError(f"the cache {cache} cannot be written: give a writable folder with --cache, e.g. "
                          f"--cache $HOME/.cache/seeclear_lite.")


# ---------------------------------------------------------------------------------------------- install
def default_cache() -> Path:
    """``$SEECLEAR_CACHE`` or ``~/.cache/seeclear_lite`` (the kit's ``utils.cache.kit_cache_dir``)."""
    return Path(os.environ.get("SEECLEAR_CACHE") or Path.home() / ".cache" / "seeclear_lite").expanduser()


def offline_env(cache: Path) -> dict:
    """The environment of every pip and self-check call: no ``PIP_*`` setting or pip configuration file from this
    machine, no index, and the kit's cache."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PIP_") and k != "PYTHONPATH"}
    env.update(PIP_CONFIG_FILE=os.devnull, PIP_NO_INDEX="1", PIP_DISABLE_PIP_VERSION_CHECK="1",
               PIP_NO_INPUT="1", SEECLEAR_CACHE=str(cache))
    return env


def run(cmd, env, what: str, fix: str, cwd=None) -> str:
    """Run ``cmd``; on failure raise one line with ``what`` failed, the last line pip or Python printed, and
    ``fix``."""
    proc = subprocess.run([str(c) for c in cmd], capture_output=True, text=True, env=env, cwd=cwd)
    if proc.returncode != 0:
        lines = [l for l in (proc.stderr or proc.stdout).strip().splitlines() if l.strip()]
        last = lines[-1].strip() if lines else f"exit code {proc.returncode}"
        raise BundleError(f"{what} failed ({last}): {fix}")
    return proc.stdout


def copy_file_atomic(src: Path, dst: Path, sha256: str) -> bool:
    """Copy ``src`` to ``dst`` through a temp file and a rename, checking the copy's sha256; returns False when
    ``dst`` already has that content (nothing written)."""
    if dst.is_file() and dst.stat().st_size == src.stat().st_size and sha256_file(dst) == sha256:
        return False
    dst.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{dst.name}.{os.getpid()}-", suffix=".tmp", dir=dst.parent)
    os.close(fd)
    try:
        shutil.copyfile(src, tmp)
        if sha256_file(tmp) != sha256:
            raise BundleError(f"the copy of {src.name} in {dst.parent} differs from the bundle's: the disk may be "
                              f"failing; try another --cache.")
        os.chmod(tmp, 0o644)
        os.replace(tmp, dst)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return True


def install(bundle, dest, venv=None, cache=None, python=None, compile_bytecode: bool = True, log=print) -> Path:
    """Install the bundle (see the module docstring); returns ``dest``."""
    bundle, dest = Path(bundle).resolve(), Path(dest).expanduser().resolve()
    venv = Path(venv).expanduser().resolve() if venv else dest / ".venv"
    cache = Path(cache).expanduser().resolve() if cache else default_cache()
    python = python or sys.executable
    t_start = time.time()
    log(f"[1/6] checking the bundle {bundle}")
    manifest = verify_bundle(bundle, log=log)
    log(f"[2/6] checking this machine")
    check_python(manifest, python)
    if bundle == dest or bundle in dest.parents or dest in bundle.parents:
        raise BundleError(f"--dest {dest} overlaps the bundle {bundle}: install next to it, e.g. "
                          f"--dest {bundle.parent / 'seeclear-lite'}.")
    check_dest(dest, venv)
    check_cache(cache)
    check_space(manifest, dest, cache)
    log(f"  {python} ({manifest['python']['implementation']} {manifest['python']['version']}), "
        f"--dest {dest}, cache {cache}")
    created = [p for p in (dest, venv) if not p.exists()]
    emptied = [p for p in (dest, venv) if p.is_dir()]       # empty (check_dest): emptied again on failure
    env = offline_env(cache)
    try:
        log(f"[3/6] copying the kit (notebooks, data/, the package source) to {dest}")
        kit_files = {r: e for r, e in manifest["files"].items() if r.startswith("kit/")}
        for rel in sorted(kit_files):
            target = dest / rel[len("kit/"):]
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(bundle / rel, target)
        log(f"  {len(kit_files)} files")
        log(f"[4/6] making {venv} and installing from {bundle / 'wheels'} (no index)")
        t0 = time.time()
        run([python, "-m", "venv", venv], env, "making the virtual environment",
            "on Debian/Ubuntu install the venv module (apt install python3-venv), or pass --python PATH.")
        vpy = venv / "bin" / "python"
        extras = manifest.get("extras") or []
        target = f"{dest}[{','.join(extras)}]" if extras else str(dest)
        cmd = [vpy, "-m", "pip", "install", "--no-index", "--find-links", bundle / "wheels", "--no-cache-dir",
               "--no-warn-script-location", "--progress-bar", "off"]
        if not compile_bytecode:
            cmd.append("--no-compile")
        run(cmd + ["-e", target], env, "pip install",
            "the bundle lacks a wheel this machine needs (build it on a machine with the same Python and OS).",
            cwd=dest)
        log(f"  installed {manifest['torch']} and seeclear-lite{'[' + ','.join(extras) + ']' if extras else ''} "
            f"({time.time() - t0:.0f} s)")
        log(f"[5/6] copying the weights{' and the corpus pack' if manifest.get('corpus') else ''} into {cache}")
        copied = kept = 0
        for rel, entry in sorted(manifest["files"].items()):
            if rel.startswith("cache/"):
                if copy_file_atomic(bundle / rel, cache / rel[len("cache/"):], entry["sha256"]):
                    copied += 1
                else:
                    kept += 1
        log(f"  {copied} copied, {kept} already there")
        log(f"[6/6] self-check in the new environment")
        out = run([vpy, "-c", SELF_CHECK, dest, "1" if manifest.get("corpus") else "0"], env, "the self-check",
                  "the install is not usable; report this line to the kit's maintainers.", cwd=venv)
        log(out.rstrip())
        run([vpy, "-m", "pip", "check"], env, "pip check",
            "the environment's packages are inconsistent; build the bundle again.")
        log("  pip check: no broken requirements")
        record = {"bundle": str(bundle), "bundle_id": manifest.get("id"), "kit_version": manifest.get("kit_version"),
                  "venv": str(venv), "cache": str(cache), "installed": time.strftime("%Y-%m-%dT%H:%M:%S"),
                  "seconds": round(time.time() - t_start, 1)}
        if venv == dest / ".venv":     # the Makefile's stamp: `make run` finds the environment set up, offline
            (venv / MAKE_STAMP).touch()
        (dest / INSTALL_MARKER).write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
    except BaseException:
        for path in created + emptied:
            shutil.rmtree(path, ignore_errors=True)
        for path in emptied:
            path.mkdir(exist_ok=True)
        raise
    if "notebooks" in (manifest.get("extras") or []):
        start = f"cd {dest} && {venv / 'bin' / 'jupyter'} lab notebooks/"
    else:
        start = f"cd {dest} && {venv / 'bin' / 'python'} -m seeclear_lite --help"
    note = "" if cache == default_cache() else f"\n(set SEECLEAR_CACHE={cache} first: the cache is not the default one)"
    log(f"done in {time.time() - t_start:.0f} s. Start with:\n    {start}{note}")
    return dest


def main(argv=None) -> int:
    here = Path(__file__).resolve().parent
    parser = argparse.ArgumentParser(
        prog="python3 install.py",
        description="Install SeeClear-lite from this offline bundle (no network needed): the kit's folder, a "
                    "virtual environment with every package, the metric weights and the corpus pack.")
    parser.add_argument("--bundle", default=str(here), help="the bundle folder (default: the one holding this file)")
    parser.add_argument("--dest", default="seeclear-lite",
                        help="where the kit goes: a new folder (default: ./seeclear-lite)")
    parser.add_argument("--venv", default=None, help="the virtual environment (default: <dest>/.venv)")
    parser.add_argument("--cache", default=None,
                        help="the kit's cache for weights and corpus (default: $SEECLEAR_CACHE or "
                             "~/.cache/seeclear_lite)")
    parser.add_argument("--python", default=None,
                        help="the Python for the environment (default: the one running this script); it must be "
                             "the version the bundle was built for")
    parser.add_argument("--no-compile", action="store_true",
                        help="skip pip's byte-compilation (a quicker install, slower first imports)")
    parser.add_argument("--verify-only", action="store_true", help="only check the bundle's files; install nothing")
    args = parser.parse_args(argv)
    try:
        if args.verify_only:
            print(f"checking the bundle {Path(args.bundle).resolve()}")
            verify_bundle(args.bundle)
            print("ok")
            return 0
        install(args.bundle, args.dest, venv=args.venv, cache=args.cache, python=args.python,
                compile_bytecode=not args.no_compile)
    except BundleError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted: nothing was left half-installed (a --dest this run made was removed).", file=sys.stderr)
        return 2
    except OSError as err:
        print(f"error: {err.strerror or err}{' ' + str(err.filename) if err.filename else ''}: check the folder "
              f"and the free disk space, then run install.py again.", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
