"""The kit's cache folder, outside the repository: ``$SEECLEAR_CACHE`` or ``~/.cache/seeclear_lite``.

It holds what is fetched or built once (LPIPS weights, the real-video corpus); nothing in it is needed
by CI except what a test fetches itself.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

ENV_CACHE = "SEECLEAR_CACHE"


def kit_cache_dir(sub: str | None = None) -> Path:
    """``$SEECLEAR_CACHE[/sub]`` (default ``~/.cache/seeclear_lite[/sub]``); not created here."""
    root = Path(os.environ.get(ENV_CACHE) or Path.home() / ".cache" / "seeclear_lite").expanduser()
    return root / sub if sub else root


def check_writable(folder: str | os.PathLike, what: str) -> Path:
    """Make sure ``folder`` can be created and written before anything is fetched into it (a read-only mount must
    fail in one line at once, not after a download). ``what`` names the option or variable that chose it."""
    folder = Path(folder)
    if folder.exists() and not folder.is_dir():
        raise NotADirectoryError(f"{what} {folder} is a file; give a folder (or unset it for the default "
                                 f"~/.cache/seeclear_lite).")
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=folder):
            pass
    except OSError as err:
        raise PermissionError(f"{what} {folder} cannot be written ({err.strerror or err}): point it at a writable "
                              f"folder, e.g. {ENV_CACHE}=$HOME/.cache/seeclear_lite or --cache DIR.") from None
    return folder
