"""The kit's notebook conventions as executable checks.

``python -m seeclear_lite.kit.notebook_rules notebooks/*.ipynb`` prints every violation; the test suite
(``tests/test_notebook_conventions.py``) runs the same checks on every notebook and shows that each
check rejects a deliberately bad notebook.

Rules (each function returns a list of human-readable problems, empty when the notebook is fine):
- :func:`check_parameters_cell` exactly one cell tagged ``parameters``; literal assignments only;
  comments on their own lines; defines ``PROFILE = None`` (auto), ``SEED`` and ``RESULTS_DIR``.
- :func:`check_start_cell` the next cell calls ``seeclear_lite.kit.notebook.start(...)``, which prints the
  kit version, torch version and device (derived values live there too).
- :func:`check_clean` no outputs, no execution counts, kernelspec ``python3``.
- :func:`check_code_hygiene` no ``!pip`` / ``%pip`` / ``%conda``, no ``.cuda()``, no ``"cuda"`` device
  strings (the device comes from ``ctx.device``).
- :func:`check_ending` the last cell is a markdown summary that says what comes next.
"""

from __future__ import annotations

import ast
import io
import re
import sys
import tokenize

import nbformat

REQUIRED_PARAMETERS = ("PROFILE", "SEED", "RESULTS_DIR")
SHELL_INSTALL = re.compile(r"^\s*[!%]\s*(pip|conda|mamba)\b", re.M)


def _code(cell) -> str:
    return cell.source if isinstance(cell.source, str) else "".join(cell.source)


def _tags(cell) -> list:
    return list(cell.get("metadata", {}).get("tags", []))


def _parameters_index(nb) -> list[int]:
    return [i for i, c in enumerate(nb.cells) if "parameters" in _tags(c)]


def check_parameters_cell(nb) -> list[str]:
    idx = _parameters_index(nb)
    if len(idx) != 1:
        return [f"needs exactly one cell tagged 'parameters', found {len(idx)}"]
    cell = nb.cells[idx[0]]
    if cell.cell_type != "code":
        return ["the 'parameters' cell must be a code cell"]
    src = _code(cell)
    problems = []
    try:
        tree = ast.parse(src)
    except SyntaxError as err:
        return [f"parameters cell does not parse: {err}"]
    names = {}
    for node in tree.body:
        if not (isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name)):
            problems.append(f"parameters cell line {node.lineno}: only `NAME = literal` assignments are allowed "
                            "(compute derived values in the next cell)")
            continue
        try:
            names[node.targets[0].id] = ast.literal_eval(node.value)
        except ValueError:
            problems.append(f"parameters cell line {node.lineno}: `{node.targets[0].id}` is not a literal "
                            "(papermill can only override literals; derive it in the next cell)")
    code_lines = set()
    for tok in tokenize.generate_tokens(io.StringIO(src).readline):
        if tok.type not in (tokenize.COMMENT, tokenize.NL, tokenize.NEWLINE, tokenize.INDENT, tokenize.DEDENT,
                            tokenize.ENDMARKER):
            code_lines.add(tok.start[0])
    for tok in tokenize.generate_tokens(io.StringIO(src).readline):
        if tok.type == tokenize.COMMENT and tok.start[0] in code_lines:
            problems.append(f"parameters cell line {tok.start[0]}: put the comment on its own line "
                            "(papermill mis-parses trailing comments)")
    for name in REQUIRED_PARAMETERS:
        if name not in names:
            problems.append(f"parameters cell must define {name}")
    if "PROFILE" in names and names["PROFILE"] is not None:
        problems.append("PROFILE must default to None (auto: $SEECLEAR_PROFILE, else cuda if available, else cpu)")
    return problems


def check_start_cell(nb) -> list[str]:
    idx = _parameters_index(nb)
    if len(idx) != 1:
        return []  # reported by check_parameters_cell
    nxt = idx[0] + 1
    if nxt >= len(nb.cells) or nb.cells[nxt].cell_type != "code":
        return ["the cell right after the parameters cell must be a code cell calling start(...)"]
    try:
        tree = ast.parse(_code(nb.cells[nxt]))
    except SyntaxError as err:
        return [f"the cell after the parameters does not parse: {err}"]
    calls = [n for n in ast.walk(tree) if isinstance(n, ast.Call) and
             ((isinstance(n.func, ast.Name) and n.func.id == "start") or
              (isinstance(n.func, ast.Attribute) and n.func.attr == "start"))]
    imports = any(isinstance(n, ast.ImportFrom) and n.module == "seeclear_lite.kit.notebook" for n in ast.walk(tree)) or \
        "seeclear_lite.kit.notebook" in _code(nb.cells[nxt])
    if not (calls and imports):
        return ["the cell right after the parameters cell must call seeclear_lite.kit.notebook.start(PROFILE, SEED, "
                "RESULTS_DIR, ...) (it prints the kit version, torch version and device)"]
    return []


def check_clean(nb) -> list[str]:
    problems = []
    for i, c in enumerate(nb.cells):
        if c.cell_type == "code" and (c.get("outputs") or c.get("execution_count") is not None):
            problems.append(f"cell {i} has outputs or an execution count: commit notebooks without outputs")
    ks = nb.metadata.get("kernelspec", {}).get("name")
    if ks != "python3":
        problems.append(f"kernelspec name is {ks!r}; it must be 'python3'")
    return problems


DEVICE_CALLS = {"device", "to", "autocast", "set_device", "cuda"}
DEVICE_KEYWORDS = {"device", "device_type", "map_location"}


def _is_cuda_literal(node) -> bool:
    return isinstance(node, ast.Constant) and isinstance(node.value, str) and bool(
        re.fullmatch(r"cuda(:\d+)?", node.value))


def cuda_string_problems(src: str, where: str) -> list[str]:
    """Hard-coded CUDA in Python source: ``.cuda()`` calls, and ``"cuda"`` / ``"cuda:N"`` literals used to
    *choose* a device (``torch.device("cuda")``, ``.to("cuda")``, ``device="cuda"``, ``autocast("cuda")``).
    Comparing (``dev.type == "cuda"``) or naming the ``cuda`` profile is fine."""
    try:
        tree = ast.parse(src)
    except SyntaxError as err:
        return [f"{where}: does not parse ({err.msg})"]
    problems = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        name = node.func.attr if isinstance(node.func, ast.Attribute) else getattr(node.func, "id", "")
        if isinstance(node.func, ast.Attribute) and name == "cuda" and not isinstance(node.func.value, ast.Name):
            problems.append(f"{where} line {node.lineno}: `.cuda()` — use `.to(ctx.device)` / get_device()")
        elif isinstance(node.func, ast.Attribute) and name == "cuda" and node.func.value.id != "torch":
            problems.append(f"{where} line {node.lineno}: `.cuda()` — use `.to(ctx.device)` / get_device()")
        hard = [a for a in node.args if _is_cuda_literal(a)] if name in DEVICE_CALLS else []
        hard += [k.value for k in node.keywords if k.arg in DEVICE_KEYWORDS and _is_cuda_literal(k.value)]
        for lit in hard:
            problems.append(f"{where} line {lit.lineno}: device string {lit.value!r} — use the device helper "
                            "(ctx.device / seeclear_lite.utils.get_device)")
    return problems


def check_code_hygiene(nb) -> list[str]:
    problems = []
    for i, c in enumerate(nb.cells):
        if c.cell_type != "code":
            continue
        src = _code(c)
        if SHELL_INSTALL.search(src):
            problems.append(f"cell {i}: installs packages (!pip/%pip/%conda); the environment comes from "
                            "environment.yml / `make`")
        # IPython magics are not Python: blank them before tokenizing
        py = "\n".join("" if line.lstrip().startswith(("!", "%")) else line for line in src.splitlines())
        problems += cuda_string_problems(py, f"cell {i}")
    return problems


def check_ending(nb) -> list[str]:
    if not nb.cells or nb.cells[-1].cell_type != "markdown":
        return ["the last cell must be a markdown summary ending with what comes next"]
    if not re.search(r"\bnext\b", _code(nb.cells[-1]), re.I):
        return ["the closing markdown cell must say what comes next (a 'Next' line)"]
    return []


ALL_CHECKS = (check_parameters_cell, check_start_cell, check_clean, check_code_hygiene, check_ending)


def check_notebook(path) -> list[str]:
    """All problems of one notebook file."""
    try:
        nb = nbformat.read(str(path), as_version=4)
    except Exception as err:
        return [f"not a readable notebook: {err}"]
    return [p for check in ALL_CHECKS for p in check(nb)]


def main(argv: list[str]) -> int:
    bad = 0
    for path in argv:
        for problem in check_notebook(path):
            print(f"{path}: {problem}")
            bad += 1
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
