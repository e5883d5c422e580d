"""Generate the student copies of the notebooks: ``python -m seeclear_lite.kit.exercises.student [--check]``.

In a source notebook an exercise is a cell tagged ``exercise`` (the task, in markdown, whose text names
it "Exercise N.M") followed by a cell tagged ``solution`` that holds only imports and function
definitions (the next, untagged cell calls the check, e.g. ``check_patch_dct(patch_dct)``). The student
copy in ``notebooks/exercises/`` keeps everything but replaces each solution by the same function
signatures and docstrings with a body that raises ``NotImplementedError("Exercise N.M: ...")``, and has
no outputs. ``--check`` only verifies that the committed copies are up to date (CI runs it).
"""

from __future__ import annotations

import argparse
import ast
import copy
import re
import sys
from pathlib import Path

import nbformat

from ..runner import NOTEBOOK_DIR, list_notebooks

EXERCISE_ID = re.compile(r"Exercise\s+(\d+\.\d+)\s*[:.—-]?\s*(.*)")
STUDENT_DIR = NOTEBOOK_DIR / "exercises"


def _tags(cell):
    return cell.get("metadata", {}).get("tags", [])


def exercise_cells(nb) -> list[tuple[int, int, str, str]]:
    """``(exercise_index, solution_index, id, title)`` for every exercise of a notebook."""
    found = []
    for i, cell in enumerate(nb.cells):
        if "exercise" not in _tags(cell):
            continue
        m = EXERCISE_ID.search(cell.source)
        if not m:
            raise ValueError(f"cell {i} is tagged 'exercise' but does not say 'Exercise N.M: title'")
        j = i + 1
        if j >= len(nb.cells) or "solution" not in _tags(nb.cells[j]):
            raise ValueError(f"Exercise {m.group(1)}: the cell after it must be tagged 'solution'")
        title = m.group(2).strip().splitlines()[0] if m.group(2) else ""
        title = title.split("**")[0].strip("*# ")  # "**Exercise 1.1: title** (≈ 10 min)" -> "title"
        found.append((i, j, m.group(1), title))
    return found


def stub_source(solution: str, ex_id: str, title: str) -> str:
    """The solution's imports and function signatures + docstrings, each body raising NotImplementedError."""
    tree = ast.parse(solution)
    body = []
    for node in tree.body:
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            body.append(node)
        elif isinstance(node, ast.FunctionDef):
            doc = ast.get_docstring(node, clean=False)
            new_body = [ast.Expr(ast.Constant(doc))] if doc else []
            msg = f"Exercise {ex_id}: {title}" if title else f"Exercise {ex_id}"
            new_body.append(ast.parse(f"raise NotImplementedError({msg + ' — write your code here'!r})").body[0])
            stub = copy.copy(node)
            stub.body, stub.decorator_list = new_body, []
            body.append(stub)
        else:
            raise ValueError(f"Exercise {ex_id}: a solution cell may hold only imports and function definitions "
                             f"(found {type(node).__name__} on line {node.lineno}); call the check in the next cell")
    return "# Your code: replace each `raise NotImplementedError(...)`\n" + ast.unparse(ast.fix_missing_locations(ast.Module(body, [])))


def student_copy(nb):
    """The student version of a source notebook (a new object)."""
    out = copy.deepcopy(nb)
    for _, j, ex_id, title in exercise_cells(nb):
        cell = out.cells[j]
        cell.source = stub_source(nb.cells[j].source, ex_id, title)
        cell.metadata["tags"] = [t for t in _tags(cell) if t != "solution"] + ["exercise-stub"]
        cell.metadata.pop("jupyter", None)
    for cell in out.cells:
        if cell.cell_type == "code":
            cell.outputs, cell.execution_count = [], None
    return out


def render(nb) -> str:
    return nbformat.writes(nb) + "\n"


def generate(check: bool = False, notebook_dir: Path = NOTEBOOK_DIR, student_dir: Path | None = None) -> list[str]:
    """Write (or with ``check=True`` compare) the student copies; return the names that are/were stale."""
    student_dir = Path(student_dir) if student_dir is not None else Path(notebook_dir) / "exercises"
    stale = []
    for path in list_notebooks(notebook_dir):
        nb = nbformat.read(str(path), as_version=4)
        if not exercise_cells(nb):
            continue
        target = student_dir / path.name
        text = render(student_copy(nb))
        if not target.exists() or target.read_text() != text:
            stale.append(path.name)
            if not check:
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_text(text)
    return stale


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--check", action="store_true", help="only verify the committed copies are up to date")
    args = ap.parse_args(argv)
    stale = generate(check=args.check)
    if args.check and stale:
        print(f"Student copies out of date: {stale}. Run: python -m seeclear_lite.kit.exercises.student")
        return 1
    print(("updated: " + ", ".join(stale)) if stale else "student copies are up to date")
    return 0


if __name__ == "__main__":
    sys.exit(main())
