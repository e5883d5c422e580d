"""Atomic file writes: never leave a half-written checkpoint, figure or table behind.

Each writer writes to a temporary file in the destination folder, flushes it to disk, then renames it
over the destination (``os.replace`` is atomic on POSIX and Windows), so an interrupted run keeps the
previous good file.
"""

from __future__ import annotations

import csv
import hashlib
import io
import os
import re
import secrets
import shutil
import tempfile
from pathlib import Path

from .lock import pid_alive


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically (temp file in the same folder, then rename)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    # the writer's pid in the name: clean_stale never removes a write in flight of a live process. The name is
    # chosen before the file is created, so an interrupt (Ctrl-C, SIGTERM) at any point, even between the file's
    # creation and the return of the call that created it, finds the name to clean up below.
    tmp = os.path.join(path.parent, f".{path.name}.{os.getpid()}-{secrets.token_hex(4)}.tmp")
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o600)
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600; give the file the usual permissions
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return path


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def atomic_write_text(path: str | os.PathLike, text: str) -> Path:
    """Write ``text`` (UTF-8) to ``path`` atomically."""
    return atomic_write_bytes(path, text.encode("utf-8"))


def atomic_torch_save(obj, path: str | os.PathLike) -> Path:
    """``torch.save`` to ``path`` atomically."""
    import torch

    buf = io.BytesIO()
    torch.save(obj, buf)
    return atomic_write_bytes(path, buf.getvalue())


class StagedOutput:
    """New results for ``out`` are written into a staging folder beside them and replace the old ones only when
    complete (:meth:`commit`); until then, and whenever the command fails, the old results stay as they were.

    ``outputs`` are the names (files or folders) the command writes inside ``out``; anything else the user keeps
    there is never touched. Without ``overwrite`` an ``out`` that already holds one of them is refused (the
    message names ``option`` and the fix). Use as a context manager::
        with StagedOutput(out, ("SR", "metrics.json"), overwrite) as stage:
            write(stage.path / "metrics.json")      # all writing goes to stage.path
            stage.commit()                           # swap in; without commit() nothing changes
    """

    STAGING_PREFIX = ".staging-"

    def __init__(self, out: str | os.PathLike, outputs, overwrite: bool, option: str = "--out"):
        self.out, self.outputs = Path(out), tuple(outputs)
        check_output_dir(self.out, self.outputs, overwrite, option)
        self.path: Path | None = None

    def __enter__(self) -> "StagedOutput":
        self.out.mkdir(parents=True, exist_ok=True)
        clean_stale(self.out, self.STAGING_PREFIX + "*")
        self.path = Path(tempfile.mkdtemp(prefix=f"{self.STAGING_PREFIX}{os.getpid()}-", dir=self.out))
        return self

    def commit(self) -> Path:
        """Move every staged output into ``out``, replacing the old one (each replacement is a rename)."""
        trash = Path(tempfile.mkdtemp(prefix=f"{self.STAGING_PREFIX}old-{os.getpid()}-", dir=self.out))
        for name in self.outputs:
            new, old = self.path / name, self.out / name
            if not new.exists():
                continue
            if old.exists():
                os.replace(old, trash / name)
            os.replace(new, old)
        shutil.rmtree(trash, ignore_errors=True)
        return self.out

    def __exit__(self, *exc) -> None:
        if self.path is not None:
            shutil.rmtree(self.path, ignore_errors=True)


def check_output_dir(out: Path, outputs, overwrite: bool, option: str = "--out") -> None:
    """Refuse an ``out`` that is a file, or that holds one of ``outputs`` without ``overwrite``."""
    if out.exists() and not out.is_dir():
        raise NotADirectoryError(f"{option} {out} is a file; give a folder.")
    existing = [name for name in outputs if (out / name).exists()]
    if existing and not overwrite:
        raise FileExistsError(f"{out} already holds results ({', '.join(existing)}); pass --overwrite to replace "
                              f"them, or choose another {option} folder.")


#: The owner's pid in the name of a staging folder (``.staging-[old-]<pid>-...``) or a temp file (``.<name>.<pid>-...tmp``).
_OWNER = re.compile(r"^\.staging-(?:old-)?(\d+)-|^\..*\.(\d+)-[^.]*\.tmp$")


def stale_owner(name: str) -> int | None:
    """The pid that made a staging folder or temp file called ``name``, or None (an old name without one)."""
    m = _OWNER.match(name)
    return int(m.group(1) or m.group(2)) if m else None


def clean_stale(folder: Path, pattern: str) -> list[Path]:
    """Remove what an interrupted write left in ``folder`` (files or folders matching ``pattern``); a file or
    folder whose name carries the pid of a process still running (this one included) is in use and is kept."""
    removed = []
    for p in Path(folder).glob(pattern):
        owner = stale_owner(p.name)
        if owner is not None and (owner == os.getpid() or pid_alive(owner)):
            continue
        shutil.rmtree(p, ignore_errors=True) if p.is_dir() else p.unlink(missing_ok=True)
        removed.append(p)
    return removed


def sha256_bytes(data: bytes) -> str:
    """Hex sha256 of ``data``."""
    return hashlib.sha256(data).hexdigest()


def sha256_file(path: str | os.PathLike, chunk: int = 1 << 20) -> str:
    """Hex sha256 of a file, read in chunks."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            h.update(block)
    return h.hexdigest()


def csv_text(rows, fields) -> str:
    """Rows (dicts) as CSV text with the columns ``fields`` (a missing or None value is an empty cell)."""
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=list(fields), extrasaction="ignore", lineterminator="\n")
    w.writeheader()
    for r in rows:
        w.writerow({k: ("" if r.get(k) is None else r.get(k)) for k in fields})
    return buf.getvalue()


def atomic_write_png(path: str | os.PathLike, fig, dpi: int = 110) -> Path:
    """A matplotlib figure as PNG (tight bounding box), written atomically; returns the path."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi, bbox_inches="tight")
    return atomic_write_bytes(path, buf.getvalue())
