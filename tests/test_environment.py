"""pyproject.toml and environment.yml list the same packages; no torchvision anywhere; ranges, not pins."""

import re
import tomllib
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
# conda-forge names that differ from PyPI names
CONDA_TO_PYPI = {"pytorch": "torch"}


def _name(req: str) -> str:
    return re.split(r"[<>=!~;\[ ]", req.strip(), maxsplit=1)[0].lower().replace("_", "-")


def pyproject_deps():
    """Core and extras: environment.yml has no extras, so it lists all of them."""
    data = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    return data["dependencies"] + [d for extra in data["optional-dependencies"].values() for d in extra]


def test_core_install_is_the_model_data_and_metrics():
    """Notebook and test tools are extras, not what `pip install seeclear-lite` pulls in."""
    core = {_name(d) for d in tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]}
    assert not core & {"jupyterlab", "papermill", "nbval", "pytest", "ipywidgets", "ipykernel", "matplotlib"}
    assert {"torch", "numpy", "einops", "omegaconf"} <= core


def conda_deps():
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    deps = [d for d in env["dependencies"] if isinstance(d, str)]
    return [d for d in deps if _name(d) not in ("python", "pip")], env


def test_environment_yml_matches_pyproject():
    pyp = {_name(d) for d in pyproject_deps()}
    conda, _ = conda_deps()
    con = {CONDA_TO_PYPI.get(_name(d), _name(d)) for d in conda}
    assert pyp == con, f"only in pyproject: {sorted(pyp - con)}; only in environment.yml: {sorted(con - pyp)}"


def test_environment_yml_installs_the_package_with_pip():
    _, env = conda_deps()
    pip_sections = [d["pip"] for d in env["dependencies"] if isinstance(d, dict) and "pip" in d]
    assert pip_sections and "-e .[notebooks,test]" in pip_sections[0]
    assert "conda-forge" in env["channels"]


def test_versions_are_ranges_not_pins():
    conda, _ = conda_deps()
    for dep in pyproject_deps() + conda:
        assert "==" not in dep and not re.search(r"[^<>=!]=[0-9]", dep), f"{dep!r} is an exact pin; use a range"
        assert re.search(r">=", dep), f"{dep!r} has no lower bound"


def test_no_torchvision_anywhere():
    hits = []
    for path in ROOT.rglob("*"):
        if any(part in (".venv", ".git", "build", "results", "__pycache__") for part in path.parts) or not path.is_file():
            continue
        if path.suffix in (".py", ".ipynb", ".toml", ".yml", ".yaml", ".txt", ".cfg") or path.name == "Makefile":
            if path.resolve() == Path(__file__).resolve() or path.name == "test_metrics_dists.py":
                continue   # (that test puts a stand-in "torchvision" module in sys.modules to run DISTS' reference code)
            text = path.read_text(errors="ignore")
            if re.search(r"^\s*(import|from)\s+torchvision|torchvision[<>=]|[\"']torchvision", text, re.M):
                hits.append(str(path.relative_to(ROOT)))
    assert not hits, f"torchvision referenced in {hits}"


def test_ci_calls_the_readme_test_command():
    readme = (ROOT / "README.md").read_text()
    ci = (ROOT / ".ci" / "run").read_text()
    assert "make test" in readme and re.search(r"^make test$", ci, re.M)
