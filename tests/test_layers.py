"""The package's layers: no import cycles, its own imports at the top of modules, teaching machinery apart."""

import ast
from pathlib import Path

PKG = Path(__file__).resolve().parents[1] / "seeclear_lite"


def _modules() -> dict[str, Path]:
    out = {}
    for p in PKG.rglob("*.py"):
        parts = list(p.relative_to(PKG.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        out[".".join(parts)] = p
    return out


def import_graph() -> dict[str, set[str]]:
    """module -> the package modules it imports (anywhere in the file; ``from x import y`` counts y when y is a
    module of x, else x)."""
    mods = _modules()
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


def test_the_model_layers_do_not_reach_up():
    """config < diffusion, data, metrics < blocks < semantics, memory < models < training < kit: the model code never
    imports the training engine or the teaching kit, and nothing but the kit imports the kit."""
    graph = import_graph()
    below = {"config": set(), "diffusion": {"training", "kit", "models"}, "blocks": {"training", "kit", "models"},
             "semantics": {"training", "kit", "models"}, "memory": {"training", "kit", "models"},
             "models": {"training", "kit", "evaluation"}, "training": {"kit"}, "evaluation": {"kit"},
             "data": {"training", "kit", "models"}, "metrics": {"training", "kit", "models"}}
    bad = []
    for m, deps in graph.items():
        layer = m.split(".")[1] if m.count(".") else None
        for d in deps:
            if layer in below and d.split(".")[1:2] and d.split(".")[1] in below[layer]:
                bad.append(f"{m} -> {d}")
        if m == "seeclear_lite.config":
            bad += [f"{m} -> {d}" for d in deps]
    assert not bad, bad
