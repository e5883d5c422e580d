"""Profiles, the device helper, atomic writes, the CLI and the notebook runner."""

import json
import subprocess
import sys

import nbformat
import pytest
import torch

from training_helpers import tiny_notebook

from seeclear_lite.kit.runner import run_sequence
from seeclear_lite.utils import atomic_torch_save, atomic_write_text, get_device, resolve_profile


def test_profile_auto_uses_env_then_hardware(monkeypatch):
    monkeypatch.setenv("SEECLEAR_PROFILE", "smoke")
    assert resolve_profile(None) == "smoke" and resolve_profile("auto") == "smoke"
    monkeypatch.delenv("SEECLEAR_PROFILE")
    assert resolve_profile(None) == ("cuda" if torch.cuda.is_available() else "cpu")
    assert resolve_profile("cpu") == "cpu"


def test_bad_profile_is_named(monkeypatch):
    with pytest.raises(ValueError, match=r"Unknown profile 'fast'.*smoke"):
        resolve_profile("fast")
    monkeypatch.setenv("SEECLEAR_PROFILE", "gpu")
    with pytest.raises(ValueError, match="SEECLEAR_PROFILE"):
        resolve_profile(None)


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the no-GPU message")
def test_cuda_profile_without_gpu_says_why():
    with pytest.raises(RuntimeError, match="no CUDA device"):
        resolve_profile("cuda")


def test_device_helper():
    assert get_device("smoke").type == "cpu" and get_device("cpu").type == "cpu"
    assert get_device(None, "cpu") == torch.device("cpu")


def test_atomic_write_keeps_old_file_when_writing_fails(tmp_path):
    path = tmp_path / "ckpt.pt"
    atomic_torch_save({"w": torch.ones(2)}, path)

    class Unpicklable:
        def __reduce__(self):
            raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="boom"):
        atomic_torch_save({"w": Unpicklable()}, path)
    assert torch.equal(torch.load(path, weights_only=True)["w"], torch.ones(2))
    assert [p.name for p in tmp_path.iterdir()] == ["ckpt.pt"], "no temp file may be left behind"
    atomic_write_text(tmp_path / "a" / "b.txt", "hi")
    assert (tmp_path / "a" / "b.txt").read_text() == "hi"
    import os
    mask = os.umask(0)
    os.umask(mask)
    assert (tmp_path / "a" / "b.txt").stat().st_mode & 0o777 == 0o666 & ~mask


def test_cli_help_and_unknown_command():
    out = subprocess.run([sys.executable, "-m", "seeclear_lite", "--help"], capture_output=True, text=True)
    assert out.returncode == 0 and "run" in out.stdout and "evaluate" in out.stdout
    bad = subprocess.run([sys.executable, "-m", "seeclear_lite", "trian"], capture_output=True, text=True)
    assert bad.returncode == 2 and "unknown command 'trian'" in bad.stderr





def test_runner_executes_sequence_and_writes_summary(tmp_path):
    nbdir = tmp_path / "nbs"
    nbdir.mkdir()
    tiny_notebook(nbdir / "01_tiny.ipynb")
    out = tmp_path / "out"
    summary = run_sequence("smoke", out, notebook_dir=nbdir)
    assert summary["ok"] and summary["notebooks"][0]["results"] == {"answer": 42}
    assert (out / "01_tiny.ipynb").exists() and "01_tiny.ipynb | ok" in (out / "summary.md").read_text()
    assert json.loads((out / "summary.json").read_text())["profile"] == "smoke"


def test_runner_params_reach_the_notebooks_that_define_them_and_subset_runs_keep_the_summary(tmp_path):
    from seeclear_lite.__main__ import main as cli
    from seeclear_lite.kit.runner import parse_param

    nbdir = tmp_path / "nbs"
    nbdir.mkdir()
    tiny_notebook(nbdir / "01_tiny.ipynb")
    tiny_notebook(nbdir / "02_other.ipynb", body="ctx.record(answer=ANSWER, items=len(ITEMS))")
    nb = nbformat.read(str(nbdir / "02_other.ipynb"), as_version=4)
    nb.cells[0].source += "\nANSWER = 1\nITEMS = []"
    nb.cells[1].source = nb.cells[1].source.replace("01_tiny", "02_other")
    nbformat.write(nb, str(nbdir / "02_other.ipynb"))
    out = tmp_path / "out"
    assert run_sequence("smoke", out, only=["01"], notebook_dir=nbdir)["ok"]
    # only 02 defines ANSWER / ITEMS: it gets them, 01 runs unchanged; the summary keeps 01's entry
    summary = run_sequence("smoke", out, only=["02"], notebook_dir=nbdir,
                           extra=dict([parse_param("ANSWER=7"), parse_param('ITEMS=["a=1", "b"]')]))
    assert [e["notebook"] for e in summary["notebooks"]] == ["01_tiny.ipynb", "02_other.ipynb"]
    assert summary["notebooks"][1]["results"] == {"answer": 7, "items": 2} and summary["ok"]
    with pytest.raises(ValueError, match=r"No notebook of this run has the parameter\(s\) \['ANSWR'\]"):
        run_sequence("smoke", out, only=["01"], notebook_dir=nbdir, extra={"ANSWR": 7})
    for bad, msg in (("ANSWER", "not NAME=VALUE"), ("PROFILE=cpu", "--profile / --out")):
        with pytest.raises(ValueError, match=msg):
            parse_param(bad)
    assert cli(["run", "-p", "1X=2"]) == 2


def test_runner_reports_a_failing_notebook(tmp_path):
    nbdir = tmp_path / "nbs"
    nbdir.mkdir()
    tiny_notebook(nbdir / "01_tiny.ipynb", body="raise ValueError('planted failure')")
    summary = run_sequence("smoke", tmp_path / "out", notebook_dir=nbdir)
    assert not summary["ok"] and "planted failure" in summary["notebooks"][0]["error"]


def test_nbval_check_output_cells_catch_a_changed_number(tmp_path):
    """The determinism check of `make test`: nbval re-runs an executed notebook and compares the cells
    marked NBVAL_CHECK_OUTPUT; a changed number there fails, a changed number elsewhere does not."""
    import papermill

    src = tmp_path / "nb.ipynb"
    nb = nbformat.v4.new_notebook()
    nb.metadata = {"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}}
    nb.cells = [nbformat.v4.new_code_cell("# NBVAL_CHECK_OUTPUT\nprint(round(0.1 + 0.2, 6))"),
                nbformat.v4.new_code_cell("import time\nprint(time.time())")]
    nbformat.write(nb, str(src))
    executed = tmp_path / "executed.ipynb"
    papermill.execute_notebook(str(src), str(executed), kernel_name="python3", progress_bar=False)

    def nbval(path):
        return subprocess.run([sys.executable, "-m", "pytest", str(path), "--nbval-lax", "--nbval-current-env",
                               "-q", "-p", "no:cacheprovider"], capture_output=True, text=True, cwd=tmp_path)

    assert nbval(executed).returncode == 0
    tampered = nbformat.read(str(executed), as_version=4)
    tampered.cells[0].outputs[0]["text"] = "0.31\n"
    nbformat.write(tampered, str(tmp_path / "tampered.ipynb"))
    assert nbval(tmp_path / "tampered.ipynb").returncode != 0


def test_slider_draws_only_when_moved(tmp_path):
    from seeclear_lite.kit.notebook import start

    ctx = start("smoke", 0, tmp_path)
    drawn = []
    slider = ctx.slider(drawn.append, 1, 15, value=15)
    assert drawn == [], "nothing may be drawn through the widget in a batch run"
    slider.value = 7
    assert drawn == [7]


def test_explore_builds_controls_and_redraws_with_all_values(tmp_path, monkeypatch):
    import ipywidgets as widgets
    import pytest

    from seeclear_lite.kit.notebook import start

    ctx = start("smoke", 0, tmp_path)
    calls = []
    controls = ctx.explore(lambda **kw: calls.append(kw), t=(1, 15, 15), kappa=(0.5, 4.0, 2.0),
                           form=["consistent", "paper"])
    assert isinstance(controls["t"], widgets.IntSlider) and isinstance(controls["kappa"], widgets.FloatSlider)
    assert isinstance(controls["form"], widgets.Dropdown) and calls == []   # batch run: nothing drawn
    controls["form"].value = "paper"
    assert calls == [{"t": 15, "kappa": 2.0, "form": "paper"}]
    monkeypatch.setenv("JPY_SESSION_NAME", "x.ipynb")                           # a person in JupyterLab
    monkeypatch.delenv("SEECLEAR_BATCH", raising=False)
    ctx.explore(lambda **kw: calls.append(kw), t=(1, 15, 3))
    assert calls[-1] == {"t": 3}, "an interactive run draws the first state at once"
    with pytest.raises(ValueError, match="outside"):
        ctx.explore(print, t=(1, 15, 20))
    with pytest.raises(ValueError, match="a list of options"):
        ctx.explore(print, t="fast")


def test_render_returns_figures_and_text_as_widget_outputs_and_errors_as_tracebacks():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from IPython.core.interactiveshell import InteractiveShell
    from IPython.core.pylabtools import select_figure_formats

    from seeclear_lite.kit.notebook import render

    select_figure_formats(InteractiveShell.instance(), {"png"})     # what the inline backend does in a kernel

    def draw():
        print("t = 3")
        plt.subplots(1, 2)                       # left open: a callback has no end of cell to flush it
        plt.plot([0, 1])

    outputs = render(draw)
    assert [o["output_type"] for o in outputs] == ["stream", "display_data"]
    assert outputs[0]["text"] == "t = 3\n" and outputs[0]["name"] == "stdout"
    assert outputs[1]["data"]["image/png"].startswith("iVBOR"), "the figure arrives as a base64 PNG"
    assert plt.get_fignums() == [], "the drawn figure is closed, not left for the next cell"
    shown = render(lambda: 1 / 0)
    assert shown[-1]["name"] == "stderr" and "ZeroDivisionError" in shown[-1]["text"]
    with pytest.raises(ZeroDivisionError):
        render(lambda: 1 / 0, reraise=True)
    InteractiveShell.clear_instance()


def test_every_cli_command_has_its_module_and_help():
    import importlib

    from seeclear_lite.__main__ import COMMANDS, build_parser

    for name, (module, _) in COMMANDS.items():
        mod = importlib.import_module(module)
        assert callable(mod.add_arguments) and callable(mod.main), name
        build_parser(only=name)  # its arguments register without clashing
