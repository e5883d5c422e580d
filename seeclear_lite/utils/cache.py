"""The kit's cache folder, outside the repository: ``$SEECLEAR_CACHE`` or ``~/.cache/seeclear_lite``.

It holds what is fetched or built once (LPIPS weights, the real-video corpus); nothing in it is needed
by CI except what a test fetches itself.
"""

from __future__ import annotations

import os
from pathlib import Path

ENV_CACHE = "SEECLEAR_CACHE"


def kit_cache_dir(sub: str | None = None) -> Path:
    """``$SEECLEAR_CACHE[/sub]`` (default ``~/.cache/seeclear_lite[/sub]``); not created here."""
    root = Path(os.environ.get(ENV_CACHE) or Path.home() / ".cache" / "seeclear_lite").expanduser()
    return root / sub if sub else root
