"""Execute every notebook with papermill at the smoke profile (the way readers re-run them).

The executed copies land in build/executed/; `make test` then re-runs those copies with
`pytest --nbval-lax`, which compares the cells marked `# NBVAL_CHECK_OUTPUT` (a determinism check).
"""

import time
from pathlib import Path

import nbformat
import pytest

from seeclear_lite.kit.runner import CELL_TIMEOUT_S, check_parameters, list_notebooks, parameters_for

ROOT = Path(__file__).resolve().parents[1]
EXECUTED = ROOT / "build" / "executed"


@pytest.mark.parametrize("path", list_notebooks(), ids=lambda p: p.stem)
def test_notebook_runs_at_smoke_profile(path, tmp_path, record_property, monkeypatch):
    import papermill

    monkeypatch.setenv("SEECLEAR_EXERCISES_STRICT", "1")   # a solution that fails its check fails here

    EXECUTED.mkdir(parents=True, exist_ok=True)
    params = parameters_for(path, "smoke", tmp_path / "results")
    check_parameters(path, params)
    out = EXECUTED / path.name
    t0 = time.perf_counter()
    papermill.execute_notebook(str(path), str(out), parameters=params, kernel_name="python3",
                               cwd=str(path.parent), progress_bar=False, execution_timeout=CELL_TIMEOUT_S["smoke"])
    seconds = time.perf_counter() - t0
    record_property("notebook_seconds", round(seconds, 1))
    nb = nbformat.read(str(out), as_version=4)
    # the first cell after the (injected) parameters prints kit version, torch version and device
    idx = max(i for i, c in enumerate(nb.cells) if {"parameters", "injected-parameters"} & set(c.metadata.get("tags", [])))
    text = "".join(o.get("text", "") for o in nb.cells[idx + 1].outputs if o.get("output_type") == "stream")
    assert "seeclear_lite" in text and "torch" in text and "device" in text, text
    assert "profile smoke" in text


STUDENT_COPIES = sorted((ROOT / "notebooks" / "exercises").glob("[0-9][0-9]_*.ipynb"))


@pytest.mark.parametrize("path", STUDENT_COPIES, ids=lambda p: p.stem)
def test_student_copy_runs_with_every_exercise_unsolved(path, tmp_path, monkeypatch):
    """A fresh student copy runs top to bottom with no exercise solved: each check cell prints its note and the
    notebook goes on with the reference answer."""
    import papermill

    monkeypatch.delenv("SEECLEAR_EXERCISES_STRICT", raising=False)
    source = ROOT / "notebooks" / path.name
    params = parameters_for(source, "smoke", tmp_path / "results")
    out = tmp_path / path.name
    papermill.execute_notebook(str(path), str(out), parameters=params, kernel_name="python3",
                               cwd=str(source.parent), progress_bar=False, execution_timeout=CELL_TIMEOUT_S["smoke"])
    nb = nbformat.read(str(out), as_version=4)
    stubs = [i for i, c in enumerate(nb.cells) if "exercise-stub" in c.metadata.get("tags", [])]
    for i in stubs:
        text = "".join(o.get("text", "") for o in nb.cells[i + 1].outputs if o.get("output_type") == "stream")
        assert "is not solved yet" in text and "reference answer" in text, (path.name, i, text)
