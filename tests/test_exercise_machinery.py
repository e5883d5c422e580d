"""The student-copy generator and the check helpers, on a synthetic notebook."""

import nbformat
import pytest
import torch

from seeclear_lite.kit.exercises import ExerciseError
from seeclear_lite.kit.exercises.core import call, compare
from seeclear_lite.kit.exercises.student import exercise_cells, generate, student_copy

SOLUTION = '''import torch


def double(x: torch.Tensor) -> torch.Tensor:
    """Return 2·x."""
    return x * 2
'''


def source_notebook():
    nb = nbformat.v4.new_notebook()
    nb.metadata = {"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}}
    ex = nbformat.v4.new_markdown_cell("### Exercise 9.1: double a tensor\nWrite `double`.")
    ex.metadata["tags"] = ["exercise"]
    sol = nbformat.v4.new_code_cell(SOLUTION)
    sol.metadata["tags"] = ["solution"]
    sol.metadata["jupyter"] = {"source_hidden": True}
    sol.outputs = [nbformat.v4.new_output("stream", text="x")]
    nb.cells = [ex, sol, nbformat.v4.new_code_cell("check(double)")]
    return nb


def test_student_copy_replaces_solution_by_a_stub():
    nb = source_notebook()
    assert exercise_cells(nb) == [(0, 1, "9.1", "double a tensor")]
    stu = student_copy(nb)
    src = stu.cells[1].source
    assert "def double(x: torch.Tensor) -> torch.Tensor:" in src and '"""Return 2·x."""' in src
    assert "return x * 2" not in src and "NotImplementedError('Exercise 9.1: double a tensor" in src
    assert stu.cells[1].outputs == [] and "jupyter" not in stu.cells[1].metadata
    ns = {}
    exec(src, ns)
    with pytest.raises(NotImplementedError, match="Exercise 9.1"):
        ns["double"](torch.ones(1))
    assert nb.cells[1].source == SOLUTION, "the source notebook is not modified"


def test_solution_cell_with_statements_is_refused():
    nb = source_notebook()
    nb.cells[1].source = SOLUTION + "\nprint(double(torch.ones(1)))\n"
    with pytest.raises(ValueError, match="only imports and function definitions"):
        student_copy(nb)


def test_generate_and_check_mode(tmp_path):
    nbdir = tmp_path / "nbs"
    nbdir.mkdir()
    nbformat.write(source_notebook(), str(nbdir / "09_x.ipynb"))
    assert generate(check=True, notebook_dir=nbdir) == ["09_x.ipynb"]
    assert generate(notebook_dir=nbdir) == ["09_x.ipynb"]
    assert generate(check=True, notebook_dir=nbdir) == []
    nb = nbformat.read(str(nbdir / "09_x.ipynb"), as_version=4)
    nb.cells[0].source = nb.cells[0].source.replace("double a tensor", "double it")
    nbformat.write(nb, str(nbdir / "09_x.ipynb"))
    assert generate(check=True, notebook_dir=nbdir) == ["09_x.ipynb"]


def test_compare_explains_shape_and_value_errors():
    want = torch.arange(6, dtype=torch.float64).reshape(2, 3)
    with pytest.raises(ExerciseError, match=r"shape \(3, 2\), expected \(2, 3\)"):
        compare("9.1", want.T, want, "the output")
    bad = want.clone()
    bad[1, 2] += 0.5
    with pytest.raises(ExerciseError, match=r"largest error 0.5 at index \(1, 2\)"):
        compare("9.1", bad, want, "the output")
    assert compare("9.1", want + 1e-12, want, "the output") < 1e-10


def test_call_turns_stub_into_a_readable_message():
    def stub(x):
        raise NotImplementedError("Exercise 9.1: double a tensor")

    with pytest.raises(ExerciseError, match="not implemented yet"):
        call("9.1", stub, torch.ones(2))
