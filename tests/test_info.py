"""``python -m seeclear_lite info --config NAME --json``: the parameter-count JSON outside tools read."""

import json
import subprocess
import sys

import pytest

from seeclear_lite.__main__ import main as cli_main
from seeclear_lite.models import PixelCondenser


@pytest.mark.parametrize("name", ["tiny", "base"])
def test_info_json_shape(name, capsys):
    assert cli_main(["info", "--config", name, "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert set(report) == {"config", "total", "modules"}
    assert report["config"] == name
    assert {"condenser", "incam", "category"} <= set(report["modules"])
    assert report["total"] == sum(report["modules"].values())
    from seeclear_lite.models.build import build_model
    from seeclear_lite.models.config import get_config

    model = build_model(get_config(name))
    assert report["total"] == sum(p.numel() for p in model.parameters() if p.requires_grad)
    bare = sum(p.numel() for p in PixelCondenser(get_config(name, semantic_condition=False, mfsa=False,
                                                            incam=False, category=False)).parameters())
    assert report["modules"]["condenser"] == bare
    if name == "tiny":  # the baseline: no semantic modules
        assert report["modules"]["incam"] == 0 and report["modules"]["category"] == 0
    else:  # the full model
        assert report["modules"]["incam"] > 0 and report["modules"]["category"] > 0


def test_info_table_and_subprocess(capsys):
    assert cli_main(["info", "--config", "tiny"]) == 0
    assert "learnable parameters" in capsys.readouterr().out
    out = subprocess.run([sys.executable, "-m", "seeclear_lite", "info", "--config", "paper", "--json"],
                         capture_output=True, text=True, check=True).stdout
    report = json.loads(out)
    assert report["config"] == "paper" and abs(report["total"] - 229.23e6) < 0.1 * 229.23e6


def test_info_unknown_config(capsys):
    with pytest.raises(SystemExit):
        cli_main(["info", "--config", "huge", "--json"])
    assert "invalid choice" in capsys.readouterr().err
