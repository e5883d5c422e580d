"""Fetching one pinned file from the package index with pip: how the kit gets metric weights offline-safe.

``pip download`` with ``--require-hashes`` checks the archive's sha256 before anything of it is used (for an
sdist, before its setup.py could run), and retries with back-off; a failure is one message naming what to run.
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path


def pip_download_pinned(package: str, sha256: str, filename: str, dest: Path, *, binary: bool, label: str,
                        size: str, fallback: str, retries: int = 3, timeout_s: int = 600, log=print) -> Path:
    """``pip download --no-deps --require-hashes`` of ``package`` (``name==version``, sha256-pinned) into ``dest``:
    a wheel (``binary``) or an sdist; returns ``dest / filename``. ``label`` prefixes the log lines, ``size`` is
    shown to the user, ``fallback`` is the command to run with a copy downloaded elsewhere."""
    requirements = dest / "requirements.txt"
    requirements.write_text(f"{package} --hash=sha256:{sha256}\n")
    cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary" if binary else "--no-binary",
           ":all:", "--require-hashes", "-r", str(requirements), "--timeout", "60", "--retries", "3",
           "--disable-pip-version-check", "-d", str(dest)]
    last = ""
    for attempt in range(1, retries + 1):
        log(f"[{label}] downloading {package} ({size}) with pip, attempt {attempt}/{retries} ...")
        try:
            proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout_s)
        except subprocess.TimeoutExpired:
            last = f"pip did not finish within {timeout_s} s"
        else:
            if proc.returncode == 0 and (dest / filename).is_file():
                return dest / filename
            last = (proc.stderr or proc.stdout).strip()[-1500:]
        if attempt < retries:
            time.sleep(2 * attempt)
    raise RuntimeError(f"Could not download {package} from the package index after {retries} attempts.\n{last}\n"
                       f"Check the network / pip index settings, or download {filename} elsewhere and run "
                       f"`{fallback}`.")
