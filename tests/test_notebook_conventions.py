"""The notebook conventions (seeclear_lite.kit.notebook_rules) hold for every notebook, and each rule
rejects a deliberately bad notebook written to a temp dir."""


import nbformat
import pytest

from seeclear_lite.kit import notebook_rules as rules
from seeclear_lite.kit.runner import NOTEBOOK_DIR, RUN_PARAMETERS, check_parameters, list_notebooks, parameters_for

NOTEBOOKS = list_notebooks()


def test_there_are_notebooks():
    assert NOTEBOOKS and NOTEBOOKS[0].name == "00_tour.ipynb"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_follows_conventions(path):
    problems = rules.check_notebook(path)
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("profile", sorted(RUN_PARAMETERS))
@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_runner_parameters_exist_in_notebook(path, profile):
    check_parameters(path, parameters_for(path, profile, "/tmp/results"))


# --- each rule rejects a bad notebook -------------------------------------------------------------

def good_notebook():
    nb = nbformat.v4.new_notebook()
    nb.metadata = {"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}}
    params = nbformat.v4.new_code_cell("# auto\nPROFILE = None\nSEED = 0\nRESULTS_DIR = None\nSTEPS = 10")
    params.metadata["tags"] = ["parameters"]
    nb.cells = [
        nbformat.v4.new_markdown_cell("# Title"),
        params,
        nbformat.v4.new_code_cell("from seeclear_lite.kit.notebook import start\nctx = start(PROFILE, SEED, RESULTS_DIR)\n"
                                  "N = ctx.pick(smoke=1, cpu=2, cuda=3)"),
        nbformat.v4.new_code_cell("import torch\nx = torch.zeros(3, device=ctx.device)"),
        nbformat.v4.new_markdown_cell("## Summary\n\n**Next:** notebook 01."),
    ]
    return nb


def write(tmp_path, nb, name="99_bad.ipynb"):
    path = tmp_path / name
    nbformat.write(nb, str(path))
    return path


def mutate(fn):
    nb = good_notebook()
    fn(nb)
    return nb


def test_good_notebook_passes(tmp_path):
    assert rules.check_notebook(write(tmp_path, good_notebook())) == []


BAD = {
    "no parameters cell": (lambda nb: nb.cells[1].metadata.pop("tags"), "exactly one cell tagged 'parameters'"),
    "two parameters cells": (lambda nb: nb.cells[3].metadata.update(tags=["parameters"]),
                             "exactly one cell tagged 'parameters', found 2"),
    "derived value in parameters": (lambda nb: setattr(nb.cells[1], "source", nb.cells[1].source + "\nSTEPS2 = STEPS * 2"),
                                    "not a literal"),
    "statement in parameters": (lambda nb: setattr(nb.cells[1], "source", "import os\n" + nb.cells[1].source),
                                "only `NAME = literal`"),
    "trailing comment": (lambda nb: setattr(nb.cells[1], "source", nb.cells[1].source.replace("SEED = 0", "SEED = 0  # x=1")),
                         "comment on its own line"),
    "no PROFILE": (lambda nb: setattr(nb.cells[1], "source", nb.cells[1].source.replace("PROFILE = None\n", "")),
                   "must define PROFILE"),
    "PROFILE not auto": (lambda nb: setattr(nb.cells[1], "source", nb.cells[1].source.replace("PROFILE = None", "PROFILE = 'cpu'")),
                         "PROFILE must default to None"),
    "no start cell": (lambda nb: setattr(nb.cells[2], "source", "x = 1"), "must call seeclear_lite.kit.notebook.start"),
    "outputs committed": (lambda nb: nb.cells[3].update(outputs=[nbformat.v4.new_output("stream", text="hi")]),
                          "has outputs"),
    "execution count": (lambda nb: nb.cells[3].update(execution_count=3), "execution count"),
    "kernelspec": (lambda nb: nb.metadata["kernelspec"].update(name="seeclear-venv"), "kernelspec name"),
    "pip install": (lambda nb: setattr(nb.cells[3], "source", "!pip install torch\n" + nb.cells[3].source),
                    "installs packages"),
    "%pip install": (lambda nb: setattr(nb.cells[3], "source", "%pip install einops"), "installs packages"),
    ".cuda()": (lambda nb: setattr(nb.cells[3], "source", "import torch\nx = torch.zeros(3).cuda()"), "`.cuda()`"),
    "cuda string": (lambda nb: setattr(nb.cells[3], "source", "import torch\nx = torch.zeros(3, device='cuda:0')"),
                    "device string"),
    "no ending": (lambda nb: nb.cells.pop(), "last cell must be a markdown summary"),
    "ending without next": (lambda nb: setattr(nb.cells[-1], "source", "## Summary\nDone."), "what comes next"),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_each_rule_rejects_a_bad_notebook(tmp_path, case):
    change, message = BAD[case]
    path = write(tmp_path, mutate(change))
    problems = rules.check_notebook(path)
    assert any(message in p for p in problems), f"{case}: expected {message!r} in {problems}"


def test_cuda_comment_and_attribute_are_fine():
    assert rules.cuda_string_problems("import torch\n# no 'cuda' here\nok = torch.cuda.is_available()\n", "x") == []


def test_runner_rejects_parameter_the_notebook_lacks(tmp_path):
    path = write(tmp_path, good_notebook())
    check_parameters(path, {"PROFILE": "smoke", "STEPS": 3})
    with pytest.raises(ValueError, match=r"STEP_COUNT.*does not define"):
        check_parameters(path, {"PROFILE": "smoke", "STEP_COUNT": 3})


def test_package_has_no_hard_coded_cuda():
    """Outside the one device helper, the package never writes `.cuda()` or a "cuda" device string."""
    import seeclear_lite

    root = NOTEBOOK_DIR.parent / "seeclear_lite"
    problems = []
    for path in sorted(root.rglob("*.py")):
        if path.name == "device.py":
            continue
        problems += rules.cuda_string_problems(path.read_text(), str(path.relative_to(root.parent)))
    assert not problems, "\n".join(problems)
    assert seeclear_lite.__version__


@pytest.mark.parametrize("src", ["x.to('cuda')", "torch.device('cuda:0')", "torch.zeros(2, device='cuda')",
                                 "torch.autocast('cuda', dtype=torch.bfloat16)", "m = m.cuda()",
                                 "y = model(x).cuda(1)"])
def test_hard_coded_cuda_is_caught(src):
    assert rules.cuda_string_problems("import torch\n" + src, "x"), src


@pytest.mark.parametrize("src", ["ok = dev.type == 'cuda'", "n = {'cuda': 3}['cuda']",
                                 "torch.cuda.synchronize()", "x.to(ctx.device)"])
def test_device_checks_are_not_flagged(src):
    assert rules.cuda_string_problems("import torch\n" + src, "x") == [], src
