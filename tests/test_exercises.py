"""Every registered exercise check accepts a correct answer, and rejects the student stub and each
planted mistake with a message that explains it; every notebook with exercises has a current student copy."""

import pytest

import seeclear_lite.exercises as ex
from seeclear_lite.exercises import REGISTRY, ExerciseError
from seeclear_lite.exercises.student import generate

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
    assert not stale, f"run `python -m seeclear_lite.exercises.student` to regenerate {stale}"
