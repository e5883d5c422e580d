"""Generate the student copies of the notebooks: ``python -m seeclear_lite.kit.exercises.student [--check]``.

In a source notebook an exercise is a cell tagged ``exercise`` (the task, in markdown, whose text names
it "Exercise N.M") followed by a cell tagged ``solution`` that holds only imports and function
definitions (the next, untagged cell calls the check, e.g. ``check_patch_dct(patch_dct)``). The student
copy in ``notebooks/exercises/`` keeps everything but replaces each solution by the same function
signatures and docstrings with a body that raises ``NotImplementedError("Exercise N.M: ...")``, and has
no outputs. The check cell after it goes on with ``my_fn = use_answer(check_fn, my_fn)``: an unsolved exercise
falls back to the kit's reference answer with a visible note, so the rest of the notebook runs.

A cell that would show an answer in the student copy (a from-scratch build of what an exercise asks for) carries
its student version in ``metadata["student_source"]``; :func:`answer_leaks` finds solution code that a student
copy still shows (a run of :data:`LEAK_TOKENS` tokens of a solution's function bodies in any other code cell).
``--check`` only verifies that the committed copies are up to date and show no answer (CI runs it).
"""

from __future__ import annotations

import argparse
import ast
import copy
import io
import re
import sys
import tokenize
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
        if "student_source" in cell.metadata:
            cell.source = cell.metadata.pop("student_source")
        if cell.cell_type == "code":
            cell.outputs, cell.execution_count = [], None
    return out


#: Shortest run of code tokens shared with a solution that counts as showing the answer (12: long enough that
#: idioms such as ``b, h, w, c = x.shape`` or ``with torch.no_grad():`` do not count, short enough to catch
#: one line of a formula).
LEAK_TOKENS = 12
_LAYOUT = {tokenize.COMMENT, tokenize.NL, tokenize.NEWLINE, tokenize.INDENT, tokenize.DEDENT, tokenize.ENCODING,
           tokenize.ENDMARKER}


def code_tokens(source: str) -> list[str]:
    """The code's tokens without layout and comments, every string literal as ``STR`` (IPython magics and
    unfinished code tokenise as far as they go)."""
    out = []
    try:
        for tok in tokenize.generate_tokens(io.StringIO(source).readline):
            if tok.type not in _LAYOUT:
                out.append("STR" if tok.type == tokenize.STRING else tok.string)
    except (tokenize.TokenError, IndentationError, SyntaxError):
        pass
    return out


def _solution_bodies(solution: str) -> list[str]:
    """The statements of each function of a solution cell, docstrings left out (a stub keeps those)."""
    bodies = []
    for node in ast.parse(solution).body:
        if isinstance(node, ast.FunctionDef):
            body = node.body
            if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
                body = body[1:]
            bodies.append("\n".join(ast.get_source_segment(solution, b) for b in body))
    return bodies


def answer_leaks(nb, student=None, min_tokens: int = LEAK_TOKENS) -> list[tuple[str, int, str]]:
    """``(exercise id, student cell index, shared code)`` for every code cell of the student copy (other than the
    stubs) that shares a run of ``min_tokens`` tokens with a solution's function bodies in ``nb``."""
    student = student_copy(nb) if student is None else student
    grams: dict[tuple, str] = {}
    for _, j, ex_id, _title in exercise_cells(nb):
        for body in _solution_bodies(nb.cells[j].source):
            toks = code_tokens(body)
            for k in range(len(toks) - min_tokens + 1):
                grams.setdefault(tuple(toks[k:k + min_tokens]), ex_id)
    leaks = []
    for i, cell in enumerate(student.cells):
        if cell.cell_type != "code" or "exercise-stub" in _tags(cell):
            continue
        toks = code_tokens(cell.source)
        for k in range(len(toks) - min_tokens + 1):
            gram = tuple(toks[k:k + min_tokens])
            if gram in grams:
                leaks.append((grams[gram], i, " ".join(gram)))
                break
    return leaks


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
    leaks = [(path.name, *leak) for path in list_notebooks() for leak in
             answer_leaks(nbformat.read(str(path), as_version=4))]
    for name, ex_id, cell, code in leaks:
        print(f"{name}: cell {cell} of the student copy shows Exercise {ex_id}'s answer ({code!r}): call the student's "
              f"function there (use_answer falls back to the reference), or give the cell a metadata 'student_source'")
    if args.check and leaks:
        return 1
    print(("updated: " + ", ".join(stale)) if stale else "student copies are up to date")
    return 0


if __name__ == "__main__":
    sys.exit(main())
