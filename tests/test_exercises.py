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
def test_student_stubs_fail_their_checks_with_the_exercise_message(path):
    """Run each stub cell of a student copy, then its check cell: the check must fail and say which
    exercise is not implemented yet (what a student sees before writing anything)."""
    import nbformat

    nb = nbformat.read(str(path), as_version=4)
    stubs = [i for i, c in enumerate(nb.cells) if "exercise-stub" in c.metadata.get("tags", [])]
    assert len(stubs) >= 2
    for i in stubs:
        ns = {}
        exec(nb.cells[i].source, ns)
        check_cell = nb.cells[i + 1]
        assert check_cell.cell_type == "code" and "check" in check_cell.source
        with pytest.raises(ExerciseError, match=r"Exercise \d+\.\d+: not implemented yet"):
            exec(check_cell.source, ns)
