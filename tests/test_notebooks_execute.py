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
def test_notebook_runs_at_smoke_profile(path, tmp_path, record_property):
    import papermill

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
