"""kit.publish: executed copies are copied only from a clean run of the current sources, checked for drift, and
rendered as a static site."""

import nbformat
import pytest

from seeclear_lite.kit.publish import build_site, check_executed, copy_executed
from seeclear_lite.kit.runner import list_notebooks


def _fake_run(folder):
    """Every notebook 'executed': its own code, with a stream output on each code cell (and papermill metadata)."""
    folder.mkdir(parents=True, exist_ok=True)
    for src in list_notebooks():
        nb = nbformat.read(str(src), as_version=4)
        nb.metadata["papermill"] = {"duration": 1.0}
        for c in nb.cells:
            if c.cell_type == "code":
                c.outputs = [nbformat.v4.new_output("stream", name="stdout", text="ran\n")]
                c.metadata["papermill"] = {"duration": 0.1}
        nbformat.write(nb, str(folder / src.name))
    return folder


def test_copy_executed_copies_a_clean_run_and_drops_papermill_metadata(tmp_path):
    run = _fake_run(tmp_path / "run")
    dest = tmp_path / "executed"
    written = copy_executed(run, dest)
    assert [p.name for p in written] == [p.name for p in list_notebooks()]
    nb = nbformat.read(str(written[0]), as_version=4)
    assert "papermill" not in nb.metadata and all("papermill" not in c.metadata for c in nb.cells)
    assert check_executed(dest) == []
    assert [p.name[:2] for p in copy_executed(run, tmp_path / "some", only=["01", "08"])] == ["01", "08"]


def test_copy_executed_drops_this_machines_paths(tmp_path):
    from pathlib import Path

    from seeclear_lite.kit.runner import NOTEBOOK_DIR

    run = _fake_run(tmp_path / "run")
    first = sorted(run.glob("*.ipynb"))[0]
    nb = nbformat.read(str(first), as_version=4)
    code = next(c for c in nb.cells if c.cell_type == "code")
    root = NOTEBOOK_DIR.parent
    code.outputs = [nbformat.v4.new_output("stream", name="stdout",
                                           text=f"saved {root}/data/checkpoints/small.pt, {Path.home()}/.cache/x\n")]
    nbformat.write(nb, str(first))
    copied = nbformat.read(str(copy_executed(run, tmp_path / "executed")[0]), as_version=4)
    text = next(c for c in copied.cells if c.cell_type == "code").outputs[0]["text"]
    assert text == "saved data/checkpoints/small.pt, ~/.cache/x\n"


def test_copy_executed_refuses_an_error_or_another_version_of_the_code(tmp_path):
    run = _fake_run(tmp_path / "run")
    first = sorted(run.glob("*.ipynb"))[1]
    nb = nbformat.read(str(first), as_version=4)
    code = next(c for c in nb.cells if c.cell_type == "code" and "parameters" not in c.metadata.get("tags", []))
    code.outputs = [nbformat.v4.new_output("error", ename="ZeroDivisionError", evalue="x", traceback=[])]
    nbformat.write(nb, str(first))
    with pytest.raises(ValueError, match="ZeroDivisionError"):
        copy_executed(run, tmp_path / "executed")
    code.outputs = []
    code.source += "\nprint('edited after the run')"
    nbformat.write(nb, str(first))
    with pytest.raises(ValueError, match="another version"):
        copy_executed(run, tmp_path / "executed")


def test_check_executed_names_drift_missing_copies_and_missing_outputs(tmp_path):
    dest = tmp_path / "executed"
    copy_executed(_fake_run(tmp_path / "run"), dest)
    names = sorted(dest.glob("*.ipynb"))
    nb = nbformat.read(str(names[0]), as_version=4)
    next(c for c in nb.cells if c.cell_type == "code").source += "\n# drift"
    nbformat.write(nb, str(names[0]))
    names[1].unlink()
    nb = nbformat.read(str(names[2]), as_version=4)
    for c in nb.cells:
        if c.cell_type == "code":
            c.outputs = []
    nbformat.write(nb, str(names[2]))
    problems = "\n".join(check_executed(dest))
    assert "differs" in problems and names[0].name in problems
    assert "missing" in problems and names[1].name in problems
    assert "no outputs" in problems and names[2].name in problems


def test_build_site_writes_a_page_per_notebook_and_a_contents_page(tmp_path):
    dest = tmp_path / "executed"
    copy_executed(_fake_run(tmp_path / "run"), dest)
    index = build_site(tmp_path / "site", source=dest)
    text = index.read_text()
    for src in list_notebooks():
        page = tmp_path / "site" / src.with_suffix(".html").name
        assert page.is_file() and page.name in text
        assert "ran" in page.read_text()                      # the outputs are on the page


def test_the_committed_executed_copies_are_complete_current_and_small():
    """notebooks/executed/ holds every notebook with outputs, from the current sources, within the size limit:
    after editing a notebook, `make executed` (or `python -m seeclear_lite.kit.publish executed RUN --only NN`)."""
    assert check_executed() == []
