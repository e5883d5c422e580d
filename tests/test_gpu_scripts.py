"""The prepared GPU job (scripts/gpu_job.sh, scripts/gpu_notebooks.sh, scripts/device_wheels.*) cannot run here,
but what can be checked without a GPU is: the scripts parse, the wheel list is pinned and complete for the
notebook executor, and the configuration notebook 07 builds at the cuda profile resumes the run the CLI
starts in call 1 (a mismatch would make the second call refuse to resume)."""

import re
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SCRIPTS = sorted((ROOT / "scripts").glob("*.sh"))


@pytest.mark.parametrize("script", SCRIPTS, ids=lambda p: p.name)
def test_script_parses(script):
    out = subprocess.run(["bash", "-n", str(script)], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr


def test_device_wheels_are_pinned_once_and_cover_the_notebook_executor():
    lines = [ln.strip() for ln in (ROOT / "scripts" / "device_wheels.txt").read_text().splitlines()
             if ln.strip() and not ln.startswith("#")]
    names = [re.split(r"==", ln)[0].lower().replace("-", "_") for ln in lines]
    assert all(re.fullmatch(r"[A-Za-z0-9_.]+==[0-9][0-9A-Za-z.]*", ln) for ln in lines), lines
    assert len(names) == len(set(names)), "a package listed twice stops the whole install on the device"
    for needed in ("papermill", "nbclient", "nbformat", "ipykernel", "jupyter_client", "pyzmq", "tornado"):
        assert needed in names, needed
    assert "torch" not in names and "numpy" not in names   # the device's own builds must not be replaced


def test_notebook_07_cuda_config_resumes_the_cli_run_of_call_1():
    from seeclear_lite.config import RESUME_FREE_KEYS, config_differences, get_config

    pack = "/abs/build/gpu_pack/corpus_pack.npz"
    data = ["data.source=pack", f"data.root={pack}", "val.source=pack", f"val.root={pack}", "val.lpips=false"]
    stages = ["stages.0.steps=4000", "stages.1.steps=500", "stages.2.steps=500", "optim.warmup_steps=200",
              "val.every=1250", "runtime.ckpt_every=1250"]   # what gpu_job.sh writes to stages.txt
    # call 1: `train --config base` with the script's overrides
    cli = get_config("base", data + ["runtime.max_minutes=4", "runtime.progress=false"] + stages)
    # call 2: notebook 07 at the cuda profile: its own overrides (read from the notebook, so this test follows
    # it), then OVERRIDES from gpu_notebooks.sh (stages.txt + data + a time budget)
    import nbformat

    code = "\n".join(c.source for c in nbformat.read(str(ROOT / "notebooks" / "07_train.ipynb"), as_version=4).cells
                     if c.cell_type == "code")
    log_every = re.search(r"LOG_EVERY = ctx\.pick\(.*cuda=(\d+)\)", code).group(1)
    assert re.search(r"STAGE_STEPS = ctx\.pick\(.*cuda=None\)", code)   # the preset's own lengths, unless overridden
    assert 'get_config(PRESET, [f"seed={SEED}"] + overrides + list(OVERRIDES))' in code
    nb = get_config("base", ["seed=0", f"runtime.log_every={log_every}"] + stages + data
                          + ["runtime.max_minutes=1"])
    assert config_differences(cli.to_dict(), nb.to_dict(), ignore=RESUME_FREE_KEYS) == []
    # and a real difference would be caught (the check is not vacuous)
    other = get_config("base", data + stages + ["data.gt_patch=64"])
    assert config_differences(cli.to_dict(), other.to_dict(), ignore=RESUME_FREE_KEYS)
