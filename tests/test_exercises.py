"""Every registered exercise check accepts a correct answer, and rejects the student stub and each
planted mistake with a message that explains it; every notebook with exercises has a current student copy."""

from pathlib import Path

import pytest

import seeclear_lite.kit.exercises as ex
from seeclear_lite.kit.exercises import REGISTRY, ExerciseError
from seeclear_lite.kit.exercises.student import generate

ex.load_all()
IDS = sorted(REGISTRY, key=lambda i: tuple(int(x) for x in i.split(".")))
PLANTED = [(i, name) for i in IDS for name in sorted(REGISTRY[i].planted)]


@pytest.mark.parametrize("ex_id", IDS)
def test_check_accepts_the_reference(ex_id):
    e = REGISTRY[ex_id]
    assert e.reference is not None, f"exercise {ex_id} has no registered reference answer"
    e.check(e.reference)


@pytest.mark.parametrize("ex_id", IDS)
def test_check_rejects_the_stub(ex_id):
    def stub(*args, **kwargs):
        raise NotImplementedError(f"Exercise {ex_id}")

    with pytest.raises(ExerciseError, match="not implemented yet"):
        REGISTRY[ex_id].check(stub)


@pytest.mark.parametrize("ex_id", IDS)
def test_each_exercise_has_a_planted_mistake(ex_id):
    assert REGISTRY[ex_id].planted, f"exercise {ex_id} needs at least one planted mistake"


@pytest.mark.parametrize("ex_id,name", PLANTED)
def test_check_explains_each_planted_mistake(ex_id, name):
    wrong, expect = REGISTRY[ex_id].planted[name]
    with pytest.raises(ExerciseError) as info:
        REGISTRY[ex_id].check(wrong)
    assert expect in str(info.value), f"{ex_id}/{name}: message {str(info.value)!r} lacks {expect!r}"


def test_student_copies_are_up_to_date():
    stale = generate(check=True)
    assert not stale, f"run `python -m seeclear_lite.kit.exercises.student` to regenerate {stale}"


STUDENT_COPIES = sorted((Path(__file__).resolve().parents[1] / "notebooks" / "exercises").glob("*.ipynb"))


def test_every_numbered_notebook_from_01_has_at_least_two_exercises():
    per_notebook = {}
    for e in REGISTRY.values():
        per_notebook.setdefault(e.notebook, []).append(e.id)
    for n in ("01", "02", "03", "04", "05", "06", "07", "08"):
        ids = [i for nb, i_s in per_notebook.items() if nb.startswith(n) for i in i_s]
        assert len(ids) >= 2, f"notebook {n} has exercises {ids}; it needs at least two"
    assert [p.name[:2] for p in STUDENT_COPIES] == ["01", "02", "03", "04", "05", "06", "07", "08"]


@pytest.mark.parametrize("path", STUDENT_COPIES, ids=lambda p: p.stem)
def test_student_stubs_fall_back_to_the_reference_with_a_note(path, capsys, monkeypatch):
    """Run each stub cell of a student copy, then its check cell: the check says which exercise is not
    implemented yet, and the notebook goes on with the reference answer (what a student sees before writing
    anything); in strict mode (the source notebooks' runs) the same cell raises."""
    import nbformat

    nb = nbformat.read(str(path), as_version=4)
    stubs = [i for i, c in enumerate(nb.cells) if "exercise-stub" in c.metadata.get("tags", [])]
    assert len(stubs) >= 2
    for i in stubs:
        ns = {}
        exec(nb.cells[i].source, ns)
        names = [k for k, v in ns.items() if callable(v) and k.startswith("my_")]
        assert len(names) == 1, names
        check_cell = nb.cells[i + 1]
        assert check_cell.cell_type == "code" and "use_answer(" in check_cell.source
        first = check_cell.source.split("use_answer(")[0].rsplit("\n", 1)[0]     # imports only
        call = next(line for line in check_cell.source.splitlines() if "use_answer(" in line)
        monkeypatch.setenv("SEECLEAR_EXERCISES_STRICT", "1")
        with pytest.raises(ExerciseError, match=r"Exercise \d+\.\d+: not implemented yet"):
            exec(first + "\n" + call, ns)
        monkeypatch.delenv("SEECLEAR_EXERCISES_STRICT")
        stub = ns[names[0]]
        exec(first + "\n" + call, ns)
        out = capsys.readouterr().out
        assert "is not solved yet" in out and "reference answer" in out, out
        assert ns[names[0]] is not stub and getattr(ns[names[0]], "__module__", "").startswith("seeclear_lite.kit")


@pytest.mark.parametrize("path", sorted((Path(__file__).resolve().parents[1] / "notebooks").glob("0*.ipynb")),
                         ids=lambda p: p.stem)
def test_solution_cells_pass_their_checks(path, monkeypatch):
    """Each solution cell of a source notebook, run with its check cell's imports, passes its check (strict)."""
    import nbformat

    from seeclear_lite.kit.exercises.student import exercise_cells

    nb = nbformat.read(str(path), as_version=4)
    monkeypatch.setenv("SEECLEAR_EXERCISES_STRICT", "1")
    for _, j, ex_id, _title in exercise_cells(nb):
        ns = {}
        exec(nb.cells[j].source, ns)
        src = nb.cells[j + 1].source
        call = next(line for line in src.splitlines() if "use_answer(" in line)
        imports = "\n".join(line for line in src.splitlines() if line.startswith(("from ", "import ")))
        exec(imports + "\n" + call, ns)


def test_no_student_copy_shows_an_answer():
    """No code cell of a student copy shares a run of LEAK_TOKENS tokens with a solution's function bodies."""
    import nbformat

    from seeclear_lite.kit.exercises.student import answer_leaks
    from seeclear_lite.kit.runner import list_notebooks

    leaks = [(p.name, *leak) for p in list_notebooks() for leak in answer_leaks(nbformat.read(str(p), as_version=4))]
    assert not leaks, "student copies show answers (notebook, exercise, cell, code):\n" + "\n".join(map(str, leaks))


def test_answer_leaks_finds_a_planted_answer_and_student_source_hides_it():
    import nbformat
    from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

    from seeclear_lite.kit.exercises.student import answer_leaks, student_copy

    solution = ('def my_f(x, ws):\n    """doc"""\n    b, h, w, c = x.shape\n'
                '    return x.reshape(b, h // ws, ws, w // ws, ws, c).permute(0, 1, 3, 2, 4, 5)\n')
    reveal = "y = x.reshape(b, h // ws, ws, w // ws, ws, c)  # the same formula, written elsewhere"
    nb = new_notebook(cells=[
        new_code_cell(reveal),
        new_markdown_cell("**Exercise 9.1: windows**", metadata={"tags": ["exercise"]}),
        new_code_cell(solution, metadata={"tags": ["solution"]}),
        new_code_cell("my_f = use_answer(check_f, my_f)\nb, h, w, c = x.shape  # an idiom, not an answer"),
    ])
    leaks = answer_leaks(nb)
    assert [(ex, cell) for ex, cell, _ in leaks] == [("9.1", 0)]
    nb.cells[0].metadata["student_source"] = "y = partition(x, ws)  # the package's, in the student copy"
    assert answer_leaks(nb) == []
    assert student_copy(nb).cells[0].source.startswith("y = partition") and "student_source" not in \
        student_copy(nb).cells[0].metadata
    assert nbformat.validate(student_copy(nb)) is None
