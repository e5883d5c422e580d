"""The package's layers: no import cycles, its own imports at the top of modules, teaching machinery apart."""

import ast
from pathlib import Path

PKG = Path(__file__).resolve().parents[1] / "seeclear_lite"


def _modules(pkg: Path = PKG) -> dict[str, Path]:
    out = {}
    for p in pkg.rglob("*.py"):
        parts = list(p.relative_to(pkg.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        out[".".join(parts)] = p
    return out


def import_graph(pkg: Path = PKG) -> dict[str, set[str]]:
    """module -> the package modules it imports (anywhere in the file; ``from x import y`` counts y when y is a
    module of x, else x)."""
    mods = _modules(pkg)
    graph = {m: set() for m in mods}
    for m, p in mods.items():
        pkg = m if p.name == "__init__.py" else m.rsplit(".", 1)[0]
        for node in ast.walk(ast.parse(p.read_text())):
            if isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    parts = pkg.split(".")[: len(pkg.split(".")) - node.level + 1]
                    base = ".".join(parts + ([node.module] if node.module else []))
                targets = [f"{base}.{a.name}" if f"{base}.{a.name}" in mods else base for a in node.names]
            elif isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            else:
                continue
            graph[m].update(t for t in targets if t in mods and t != m)
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import cycle as a list of modules (first == last), or None."""
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(v):
        state[v] = 1
        stack.append(v)
        for w in sorted(graph[v]):
            if state.get(w) == 1:
                return stack[stack.index(w):] + [w]
            if w not in state:
                found = visit(w)
                if found:
                    return found
        state[v] = 2
        stack.pop()
        return None

    for v in sorted(graph):
        if v not in state:
            found = visit(v)
            if found:
                return found
    return None


def test_no_import_cycles():
    cycle = find_cycle(import_graph())
    assert cycle is None, "import cycle: " + " -> ".join(cycle)


def test_the_cycle_finder_finds_a_cycle():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": set()}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None


def test_package_imports_are_at_the_top_of_modules():
    late = []
    for m, p in _modules().items():
        tree = ast.parse(p.read_text())
        top = {id(n) for n in tree.body}
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and id(node) not in top and \
                    (node.level or (node.module or "").startswith("seeclear_lite")):
                late.append(f"{m}:{node.lineno}")
    assert not late, f"in-function imports of the package's own modules: {late}"


def package_graph(pkg: Path = PKG) -> dict[str, set[str]]:
    """package (``seeclear_lite.training``, ...) -> the other packages its modules import: a cycle here (training
    importing evaluation while evaluation imports training) is a layering error even when no module cycle exists."""
    graph: dict[str, set[str]] = {}
    for m, deps in import_graph(pkg).items():
        top = ".".join(m.split(".")[:2])
        graph.setdefault(top, set()).update(".".join(d.split(".")[:2]) for d in deps)
    for top, deps in graph.items():
        deps.discard(top)
        deps.discard("seeclear_lite")
    return graph


def test_no_package_cycles():
    cycle = find_cycle(package_graph())
    assert cycle is None, "import cycle between packages: " + " -> ".join(cycle)


def test_the_package_cycle_check_fails_on_a_planted_upward_import(tmp_path):
    """A copy of the package with one training -> evaluation import planted must fail the check (the layering
    evaluation > training that export and scoring rely on)."""
    import shutil

    copy = tmp_path / "seeclear_lite"
    shutil.copytree(PKG, copy, ignore=shutil.ignore_patterns("__pycache__"))
    assert find_cycle(package_graph(copy)) is None and not upward_imports(copy)
    engine = copy / "training" / "engine.py"
    engine.write_text("from ..evaluation import harness\n" + engine.read_text())
    assert find_cycle(package_graph(copy)) is not None
    assert any("training.engine -> seeclear_lite.evaluation" in b for b in upward_imports(copy))


#: package -> the packages it must never import (the layers point down).
FORBIDDEN = {"config": set(), "diffusion": {"training", "kit", "models", "evaluation"},
             "blocks": {"training", "kit", "models", "evaluation"}, "semantics": {"training", "kit", "models", "evaluation"},
             "memory": {"training", "kit", "models", "evaluation"}, "models": {"training", "kit", "evaluation"},
             "training": {"kit", "evaluation"}, "evaluation": {"kit"},
             "data": {"training", "kit", "models", "evaluation"}, "metrics": {"training", "kit", "models", "evaluation"}}


def upward_imports(pkg: Path = PKG) -> list[str]:
    """Imports that point up a layer: config < diffusion, data, metrics < blocks < semantics, memory < models <
    training < evaluation < kit."""
    bad = []
    for m, deps in import_graph(pkg).items():
        layer = m.split(".")[1] if m.count(".") else None
        for d in deps:
            if layer in FORBIDDEN and d.split(".")[1:2] and d.split(".")[1] in FORBIDDEN[layer]:
                bad.append(f"{m} -> {d}")
        if m == "seeclear_lite.config":
            bad += [f"{m} -> {d}" for d in deps]
    return bad


def test_the_model_layers_do_not_reach_up():
    """config < diffusion, data, metrics < blocks < semantics, memory < models < training < evaluation < kit: the
    model code never imports the training engine, training never imports evaluation (which scores and exports
    runs), and nothing but the kit imports the kit."""
    bad = upward_imports()
    assert not bad, bad
