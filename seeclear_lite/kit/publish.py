"""Readable without running: the executed copies of the notebooks, and a static site of them.

``python -m seeclear_lite.kit.publish executed RESULTS`` copies the notebooks a ``python -m seeclear_lite run
--profile cpu`` wrote into RESULTS to ``notebooks/executed/`` (outputs kept, figures as PNG, papermill's timing
metadata dropped). ``check`` verifies that every executed copy's code is its source's code (the injected
parameters cell aside) and that the copies stay under the size limit; CI runs it through the test suite.
``html OUT`` writes one HTML page per executed notebook with nbconvert, and ``index.html`` with the contents.
``make executed`` and ``make html`` run these.
"""

from __future__ import annotations

import argparse
import html
import sys
from pathlib import Path

import nbformat

from ..utils.io import atomic_write_text
from .runner import NOTEBOOK_DIR, list_notebooks

EXECUTED_DIR = NOTEBOOK_DIR / "executed"
#: The executed copies together stay under this (they are committed).
MAX_BYTES = 20 * 2**20


def _code(nb) -> list[str]:
    """The source of every code cell, papermill's injected parameters cell left out."""
    return [c.source for c in nb.cells if c.cell_type == "code"
            and "injected-parameters" not in c.get("metadata", {}).get("tags", [])]


def _portable(text: str) -> str:
    """Paths of this machine made readable anywhere: the repository root dropped, the home folder as ``~``."""
    root = str(NOTEBOOK_DIR.parent)
    return text.replace(root + "/", "").replace(root, ".").replace(str(Path.home()) + "/", "~/")


def _portable_outputs(nb) -> None:
    """:func:`_portable` on every text output and on the injected parameters cell, in place."""
    for c in nb.cells:
        if c.cell_type != "code":
            continue
        if "injected-parameters" in c.get("metadata", {}).get("tags", []):
            c.source = _portable(c.source)
        for o in c.get("outputs", []):
            if "text" in o:
                o["text"] = _portable(o["text"])
            for mime, value in (o.get("data") or {}).items():
                if mime.startswith("text/") and isinstance(value, str):
                    o["data"][mime] = _portable(value)


def copy_executed(results: Path, dest: Path = EXECUTED_DIR, only=None) -> list[Path]:
    """Copy every ``NN_*.ipynb`` of a run's results folder (or those whose number is in ``only``) into ``dest``,
    after checking each one ran through (no error output) from the current source, with this machine's paths
    made relative (:func:`_portable`); returns the written paths."""
    results = Path(results)
    written = []
    for src in list_notebooks():
        if only is not None and src.name[:2] not in only:
            continue
        ran = results / src.name
        if not ran.is_file():
            raise FileNotFoundError(f"{ran} is missing: run `python -m seeclear_lite run --profile cpu --out {results}` "
                                    f"first (every notebook).")
        nb = nbformat.read(str(ran), as_version=4)
        if _code(nb) != _code(nbformat.read(str(src), as_version=4)):
            raise ValueError(f"{ran} was executed from another version of {src.name}: run the notebooks again.")
        errors = [o for c in nb.cells for o in c.get("outputs", []) if o.get("output_type") == "error"]
        if errors:
            raise ValueError(f"{ran} has an error output ({errors[0].get('ename')}): fix it before publishing.")
        nb.metadata.pop("papermill", None)
        _portable_outputs(nb)
        for c in nb.cells:
            c.metadata.pop("papermill", None)
            c.metadata.pop("execution", None)
        out = Path(dest) / src.name
        atomic_write_text(out, nbformat.writes(nb) + "\n")
        written.append(out)
    return written


def check_executed(dest: Path = EXECUTED_DIR) -> list[str]:
    """Problems with the committed executed copies (empty list = none)."""
    problems = []
    total = 0
    for src in list_notebooks():
        ex = Path(dest) / src.name
        if not ex.is_file():
            problems.append(f"{ex} is missing (make executed)")
            continue
        total += ex.stat().st_size
        nb = nbformat.read(str(ex), as_version=4)
        if _code(nb) != _code(nbformat.read(str(src), as_version=4)):
            problems.append(f"{ex.name}: its code differs from notebooks/{src.name} (make executed)")
        if not any(c.get("outputs") for c in nb.cells if c.cell_type == "code"):
            problems.append(f"{ex.name} has no outputs")
    if total > MAX_BYTES:
        problems.append(f"the executed copies hold {total / 2**20:.1f} MiB, over {MAX_BYTES / 2**20:.0f} MiB")
    return problems


def _title(nb, fallback: str) -> str:
    for c in nb.cells:
        if c.cell_type == "markdown":
            for line in c.source.splitlines():
                if line.startswith("# "):
                    return line[2:].strip()
    return fallback


def build_site(out: Path, source: Path = EXECUTED_DIR) -> Path:
    """HTML pages of the executed notebooks (nbconvert's lab template) and an ``index.html`` listing them."""
    from nbconvert import HTMLExporter

    out = Path(out)
    exporter = HTMLExporter(template_name="lab")
    rows = []
    for src in list_notebooks():
        ex = Path(source) / src.name
        if not ex.is_file():
            raise FileNotFoundError(f"{ex} is missing: `make executed` writes the executed copies first.")
        nb = nbformat.read(str(ex), as_version=4)
        body, _ = exporter.from_notebook_node(nb)
        page = src.with_suffix(".html").name
        atomic_write_text(out / page, body)
        rows.append((page, src.stem[:2], html.escape(_title(nb, src.stem))))
    items = "\n".join(f'<li><a href="{p}">{n} · {t}</a></li>' for p, n, t in rows)
    index = f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>SeeClear-lite: the notebooks</title>
<style>body {{ font-family: system-ui, sans-serif; max-width: 50rem; margin: 3rem auto; line-height: 1.5; }}
li {{ margin: .4rem 0; }}</style></head>
<body><h1>SeeClear-lite</h1>
<p>The notebooks of the kit, executed at the <code>cpu</code> profile with the shipped reference model
(outputs as they came; the sources are in <code>notebooks/</code>).</p>
<ol start="0" style="list-style: none; padding-left: 0">
{items}
</ol></body></html>
"""
    atomic_write_text(out / "index.html", index)
    return out / "index.html"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m seeclear_lite.kit.publish", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="action", required=True)
    e = sub.add_parser("executed", help="copy a cpu run's executed notebooks to notebooks/executed/")
    e.add_argument("results", type=Path)
    e.add_argument("--only", nargs="+", default=None, metavar="NN", help="only these notebooks (e.g. 00 01 08)")
    sub.add_parser("check", help="the executed copies' code is the sources' code, and they fit the size limit")
    h = sub.add_parser("html", help="a static site of the executed notebooks")
    h.add_argument("out", type=Path)
    args = parser.parse_args(argv)
    try:
        if args.action == "executed":
            paths = copy_executed(args.results, only=args.only)
            size = sum(p.stat().st_size for p in paths) / 2**20
            print(f"wrote {len(paths)} executed notebooks to {EXECUTED_DIR} ({size:.1f} MiB)")
        elif args.action == "check":
            problems = check_executed()
            for p in problems:
                print(p, file=sys.stderr)
            return 1 if problems else 0
        else:
            print(f"wrote {build_site(args.out)}")
    except (FileNotFoundError, ValueError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
