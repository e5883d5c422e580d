"""The ablation of Table 2 (issue 7, item 4): rows by switches, one budget, a Table 2-style table."""

import json

import pytest
import torch

from seeclear_lite.kit import ablation
from seeclear_lite.kit.ablation import METRICS, ROW_SWITCHES, ROWS, SWITCHES, row_config, run_ablation
from seeclear_lite.config import config_differences

#: Table 2 of the paper (Sec. 4.3), read as which modules each variant adds to the baseline.
TABLE2 = {"baseline": set(), "semantic": {"semantic_condition"}, "mfsa": {"semantic_condition", "mfsa"},
          "incam": {"semantic_condition", "mfsa", "incam"},
          "category": {"semantic_condition", "mfsa", "incam", "category"}}


def test_rows_differ_in_their_switches_exactly_as_table2():
    assert list(ROWS) == list(TABLE2)
    cfgs = {row: row_config(row, "smoke", seed=7, steps=6) for row in ROWS}
    base = cfgs["baseline"].to_dict()
    for row, cfg in cfgs.items():
        mc = cfg.model
        assert {s for s in SWITCHES if getattr(mc, s)} == TABLE2[row] == {s for s, on in ROW_SWITCHES[row].items() if on}
        # same seed, data, optimiser, diffusion and budget: only the switches (and the stage split) differ
        diff = config_differences(base, cfg.to_dict(), ignore=("stages",))
        assert all(d.split(":")[0] in {f"model.{s}" for s in SWITCHES} for d in diff), diff
        assert cfg.seed == 7 and cfg.total_steps == 6
    # the CaTeGory row spends the same budget in Sec. 4.1's three stages; the others in one
    assert [s.train for s in cfgs["category"].stages] == ["condenser", "memory", "all"]
    assert all(len(cfgs[r].stages) == 1 for r in ROWS if r != "category")
    # the incam switch really builds clip tokens, the category switch a memory
    from seeclear_lite.models import build_model

    models = {r: build_model(cfgs[r].model) for r in ROWS}
    parts = [(m.incam is not None and any(b.cross_attention is not None for b in m.incam.decoder),
              m.incam is not None and any(b.mfsa is not None for b in m.incam.decoder),
              m.incam is not None and m.incam.clip_tokens is not None, m.memory is not None) for m in models.values()]
    assert parts == [(False, False, False, False), (True, False, False, False), (True, True, False, False),
                     (True, True, True, False), (True, True, True, True)]


def test_bad_rows_and_budgets_are_named():
    with pytest.raises(ValueError, match="Unknown ablation row 'dwt'"):
        row_config("dwt")
    with pytest.raises(ValueError, match="at least 3"):
        row_config("category", "smoke", steps=2)
    with pytest.raises(ValueError, match="Unknown ablation profile"):
        row_config("baseline", "huge")
    from seeclear_lite.__main__ import main

    assert main(["ablate", "model.category=true"]) == 2


@pytest.fixture(scope="module")
def smoke_run(tmp_path_factory):
    torch.manual_seed(0)
    out = tmp_path_factory.mktemp("ablation")
    return out, run_ablation(out, "smoke", steps=3, lpips=False, log=lambda *a: None)


def test_smoke_ablation_writes_a_table2_style_table(smoke_run):
    out, result = smoke_run
    assert [r["row"] for r in result.rows] == list(ROWS)
    assert {r["steps"] for r in result.rows} == {3} and {r["seed"] for r in result.rows} == {0}
    assert len({tuple(r["clips"]) for r in result.rows}) == 1                      # same held-out data
    for r in result.rows:
        assert set(r["metrics"]) == {k for k, _, _ in METRICS}
        assert r["metrics"]["lpips"] is None                                      # --no-lpips
        assert 5.0 < r["metrics"]["psnr"] < 60.0 and 0.0 < r["metrics"]["ssim"] <= 1.0
        assert r["metrics"]["tmae"] > 0.0
    params = [r["params"] for r in result.rows]
    assert params == sorted(params) and len(set(params)) == 5                     # each row adds a module
    md = (out / "ablation.md").read_text()
    header = md.splitlines()[0]
    for col in ["Variant", "Semantic", "MFSA", "InCAM", "CaTeGory", *(h for _, h, _ in METRICS)]:
        assert col in header
    for label in ROWS.values():
        assert f"| {label} |" in md
    assert "say nothing about the paper's claims" in md
    assert not (out / "runs" / "baseline" / "checkpoints").exists()               # only with keep_checkpoints
    assert (out / "runs" / "category" / "config.yaml").is_file()
    data = json.loads((out / "ablation.json").read_text())
    assert data["steps"] == 3 and [r["row"] for r in data["rows"]] == list(ROWS)


def test_evaluation_scores_a_perfect_model_perfectly():
    """The evaluation path itself: a 'model' that returns the ground truth scores PSNR inf-capped, tMAE 0."""
    clips = [{"name": "x", "lr": torch.rand(7, 3, 4, 4), "gt": None}]
    gt = (torch.rand(7, 3, 16, 16) * 255).round() / 255
    clips[0]["gt"] = gt

    class Oracle(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.w = torch.nn.Parameter(torch.zeros(()))
            self.calls = 0

        def condition(self, lr, y, memory=None):
            return None

        def update_memory(self, memory, feats, cond):
            return None

        def forward(self, x_t, y, t, cond=None, return_features=False):
            n = self.calls % 2
            self.calls += int(t[0]) == 1
            frames = gt[:5] if n == 0 else ablation_pad(gt[5:])
            x0 = frames[None] * 2 - 1 + self.w
            return (x0, []) if return_features else x0

    def ablation_pad(x):
        from seeclear_lite.training.sampling import reflect_pad_time

        return reflect_pad_time(x, 5)

    from seeclear_lite.diffusion import BlurringResShift

    m = ablation.evaluate_model(Oracle(), BlurringResShift(T=2), clips)
    assert m["tmae"] == pytest.approx(0.0, abs=1e-9) and m["ssim"] == pytest.approx(1.0, abs=1e-6)
    assert m["psnr"] > 60
