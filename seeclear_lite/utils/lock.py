"""One writer per output folder, and outputs that never land on inputs.

:class:`FolderLock` is the lock every command takes on the folder it writes (``train --out``, ``sample --output``,
``evaluate --out``, ``run --out``, ``export --out``'s file, ``ablate --out``): a file ``.seeclear.lock`` in that
folder, locked with ``flock`` (the kernel releases it when the process ends, crash or ``kill -9`` included) and
holding the owner's pid and command, so that a second command into the same place stops with one line naming
the first one's pid. Where ``flock`` is not available (some network file systems), the pid in the file decides:
a lock whose pid no longer runs is stale and is taken over.

The lock is the one thing a command makes before its checks (so that no other command can slip in between a
check and a write); when the command ends the lock file goes, and so does the folder when the command made it and
left it empty (a refused command leaves no trace).

:func:`refuse_overlap` refuses an output path equal to, inside or containing a path the command reads, and
:func:`output_option` refuses an empty output path (``--out ""`` would mean the current folder).
"""

from __future__ import annotations

import errno
import os
import sys
from pathlib import Path

try:
    import fcntl
except ImportError:          # Windows: the pid in the lock file decides
    fcntl = None

LOCK_NAME = ".seeclear.lock"


class LockedError(RuntimeError):
    """Another live process holds the lock on the folder (the message names its pid and command)."""


def pid_alive(pid: int) -> bool:
    """Whether a process with this pid runs on this machine (a zombie counts as not running)."""
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:       # runs, as another user
        return True
    except OSError:
        return False
    try:                          # a zombie (dead, not yet reaped by its parent) holds nothing
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().rsplit(")", 1)[-1].split()[0] != "Z"
    except OSError:
        return True


def _read_owner(path: Path) -> tuple[int | None, str]:
    try:
        text = path.read_text(errors="replace").strip()
    except OSError:
        return None, ""
    pid, _, command = text.partition(" ")
    return (int(pid) if pid.isdigit() else None), command


class FolderLock:
    """Exclusive access to ``folder`` for one command (a context manager; see the module docstring).

    ``option`` (e.g. ``"--out"``) and ``command`` (e.g. ``"train"``) go into the messages. ``name`` is the lock
    file's name (``export`` locks one target file: ``.<file>.lock`` beside it)."""

    def __init__(self, folder, option: str = "--out", command: str = "", name: str = LOCK_NAME):
        self.folder, self.option, self.command = Path(folder), option, command or Path(sys.argv[0]).name
        self.path = self.folder / name
        self.fd: int | None = None
        self.created: list[Path] = []

    def acquire(self) -> "FolderLock":
        folder = self.folder
        if folder.exists() and not folder.is_dir():
            raise NotADirectoryError(f"{self.option} {folder} is a file; give a folder.")
        missing = []
        p = folder.absolute()
        while not p.exists():
            missing.append(p)
            p = p.parent
        folder.mkdir(parents=True, exist_ok=True)
        self.created = missing            # deepest first: removed again on release if still empty
        try:
            self._lock()
        except BaseException:
            self._remove_created()
            raise
        return self

    def _lock(self) -> None:
        for _ in range(20):
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
            try:
                if not self._try_flock(fd):
                    pid, command = _read_owner(self.path)
                    raise self._busy(pid, command)
                if fcntl is None or getattr(self, "_no_flock", False):
                    pid, command = _read_owner(self.path)
                    if pid is not None and pid != os.getpid() and pid_alive(pid):
                        raise self._busy(pid, command)
                # the file we locked must still be the one at the path (a releasing owner unlinks it)
                try:
                    same = os.fstat(fd).st_ino == os.stat(self.path).st_ino
                except FileNotFoundError:
                    same = False
                if not same:
                    os.close(fd)
                    continue
                os.ftruncate(fd, 0)
                os.write(fd, f"{os.getpid()} {self.command}\n".encode())
                self.fd = fd
                return
            except BaseException:
                if self.fd != fd:
                    try:
                        os.close(fd)
                    except OSError:
                        pass
                raise
        raise LockedError(f"{self.option} {self.folder}: could not take its lock ({self.path}); try again.")

    def _try_flock(self, fd: int) -> bool:
        if fcntl is None:
            return True
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return True
        except BlockingIOError:
            return False
        except OSError as err:        # no flock on this file system: fall back to the pid in the file
            if err.errno in (errno.ENOLCK, errno.EOPNOTSUPP, errno.ENOSYS, errno.EINVAL):
                self._no_flock = True
                return True
            raise

    def _busy(self, pid, command) -> LockedError:
        who = f"pid {pid}" if pid is not None else "another process"
        what = f" ({command})" if command else ""
        return LockedError(f"{self.option} {self.folder} is in use by {who}{what}, which is writing there now: wait "
                           f"for it to finish, or choose another {self.option} folder.")

    def release(self) -> None:
        if self.fd is None:
            return
        try:
            self.path.unlink(missing_ok=True)      # unlink while still locked: a waiter re-checks the inode
        finally:
            os.close(self.fd)
            self.fd = None
            self._remove_created()

    def _remove_created(self) -> None:
        for p in self.created:                     # deepest first; only folders this lock made, only if empty
            try:
                p.rmdir()
            except OSError:
                break
        self.created = []

    def __enter__(self) -> "FolderLock":
        return self.acquire()

    def __exit__(self, *exc) -> None:
        self.release()


def file_lock(target, option: str = "--out", command: str = "") -> FolderLock:
    """The lock of one output file ``target`` (``.<name>.lock`` in its folder), e.g. ``export --out x.pt``."""
    target = Path(target)
    return FolderLock(target.parent, option, command, name=f".{target.name}.lock")


def is_rank_zero() -> bool:
    """Under torchrun only rank 0 writes (and locks); the other ranks write nothing into the run folder."""
    return int(os.environ.get("RANK", "0") or 0) == 0


#: Seeds ``torch.Generator.manual_seed`` takes as given (non-negative 64-bit, as every command's --seed).
MAX_SEED = 2**63 - 1


def check_seed(seed, option: str = "--seed") -> int:
    """Refuse a seed outside [0, 2**63 - 1] in one line (torch would wrap a negative one, overflow on a larger one)."""
    if isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed <= MAX_SEED:
        raise ValueError(f"{option} must be an integer from 0 to 2**63 - 1 = {MAX_SEED}, got {seed!r}.")
    return seed


def output_option(value, option: str) -> Path:
    """``value`` as a path, refusing an empty one (``--out ""`` is the current folder, never what was meant)."""
    if value is None or not str(value).strip():
        raise ValueError(f"{option} is empty: give a folder name, e.g. {option} results/mine (an empty path would "
                         f"write into the current folder).")
    return Path(value)


def _resolved(path) -> Path:
    return Path(os.path.abspath(os.path.expanduser(str(path)))).resolve()


def refuse_overlap(output, option: str, inputs) -> None:
    """Refuse an ``output`` equal to, inside or containing one of ``inputs`` (``(option, path)`` pairs; None paths
    are skipped): results must never land on what the command reads."""
    out = _resolved(output)
    for name, path in inputs:
        if path is None or not str(path).strip():
            continue
        src = _resolved(path)
        if out == src:
            how = "is"
        elif src in out.parents:
            how = "is inside"
        elif out in src.parents:
            how = "contains"
        else:
            continue
        raise ValueError(f"{option} {output} {how} {name} {path}: results must not land on what the command reads; "
                         f"choose an {option} outside it.")
