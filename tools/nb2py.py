"""Write a notebook as a percent-format Python file (the inverse of ``tools/py2nb.py``), for editing.

    python tools/nb2py.py notebooks/04_pixel_condenser.ipynb draft.py
"""

from __future__ import annotations

import json
import sys
from pathlib import Path


def convert(nb: dict) -> str:
    parts = []
    for cell in nb["cells"]:
        src = "".join(cell["source"])
        tags = cell.get("metadata", {}).get("tags") or []
        tag = f" tags={json.dumps(tags)}" if tags else ""
        if cell["cell_type"] == "markdown":
            body = "\n".join(("# " + line) if line else "#" for line in src.split("\n"))
            parts.append(f"# %% [markdown]{tag}\n{body}")
        else:
            parts.append(f"# %%{tag}\n{src}")
    return "\n\n".join(parts) + "\n"


if __name__ == "__main__":
    Path(sys.argv[2]).write_text(convert(json.loads(Path(sys.argv[1]).read_text())), encoding="utf-8")
