"""Author a notebook as a percent-format Python file, write a clean ``.ipynb``.

    python tools/py2nb.py draft.py notebooks/01_patch_blurring.ipynb

Cell markers (one per line):
    # %%                              a code cell
    # %% [markdown]                   a markdown cell (following lines start with "# ")
    # %% tags=["parameters"]          a code cell with tags (JSON list)
    # %% [markdown] tags=["x"]        a markdown cell with tags
The output has no outputs, no execution counts and the ``python3`` kernelspec, as the kit's
conventions require (tests/test_notebook_conventions.py). The ``.ipynb`` is the source of truth; the
draft is only a convenient way to write it.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

import nbformat

MARKER = re.compile(r"^# %%(?P<md> \[markdown\])?(?:\s+tags=(?P<tags>\[.*\]))?\s*$")


def convert(text: str) -> nbformat.NotebookNode:
    nb = nbformat.v4.new_notebook()
    nb.metadata = {"kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"},
                   "language_info": {"name": "python"}}
    cells, kind, tags, buf = [], None, [], []

    def flush():
        if kind is None:
            return
        while buf and not buf[-1].strip():
            buf.pop()
        while buf and not buf[0].strip():
            buf.pop(0)
        if kind == "markdown":
            src = "\n".join(re.sub(r"^# ?", "", line) for line in buf)
            cell = nbformat.v4.new_markdown_cell(src)
        else:
            cell = nbformat.v4.new_code_cell("\n".join(buf))
        if tags:
            cell.metadata["tags"] = tags
        if "solution" in tags:
            cell.metadata["jupyter"] = {"source_hidden": True}
        cells.append(cell)

    for line in text.splitlines():
        m = MARKER.match(line)
        if m:
            flush()
            kind = "markdown" if m.group("md") else "code"
            tags = json.loads(m.group("tags")) if m.group("tags") else []
            buf = []
        elif kind is not None:
            buf.append(line)
    flush()
    for i, cell in enumerate(cells):
        cell["id"] = f"c{i:03d}"
    nb.cells = cells
    return nb


def main(argv):
    if len(argv) != 2:
        print(__doc__)
        return 2
    nb = convert(Path(argv[0]).read_text())
    nbformat.validate(nb)
    Path(argv[1]).write_text(nbformat.writes(nb) + "\n")
    print(f"wrote {argv[1]} ({len(nb.cells)} cells)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
