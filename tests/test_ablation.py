"""The claims runner (``python -m seeclear_lite ablate``): rows that differ in one thing, seeds, intervals, verdicts."""

import json
import math

import numpy as np
import pytest
import torch

from seeclear_lite.config import STUDY_SIZES, config_differences
from seeclear_lite.diffusion import BlurringResShift
from seeclear_lite.kit import ablation, studies
from seeclear_lite.kit.studies import CLAIMS_DIR, METRICS, README_METRICS, SIZES, STUDIES, Study
from seeclear_lite.kit.study_run import evaluate_model, run_config, run_study
from seeclear_lite.kit.study_stats import (interval, paired, paired_power, power_rows, seeds_for_power, summarize,
                                           verdicts)
from seeclear_lite.kit.study_tables import markdown, verdict_sentences
from seeclear_lite.models import build_model


def test_rows_differ_only_in_what_the_study_varies():
    for name, st in STUDIES.items():
        cfgs = {row: run_config(name, row, seed=7, size="smoke") for row in st.rows}
        ref = cfgs[st.reference].to_dict()
        for row, cfg in cfgs.items():
            diff = {d.split(":")[0] for d in config_differences(ref, cfg.to_dict(), ignore=("stages",))}
            assert diff <= set(st.rows[row]) | set(st.rows[st.reference]), (row, diff)
            assert cfg.seed == 7 and cfg.total_steps == SIZES["smoke"].steps
    blur = {r: run_config("blur", r, 0, "smoke").diffusion.sigma_b2_max for r in STUDIES["blur"].rows}
    assert blur == {"resshift": 0.0, "blur_2": 2.0, "blur_3": 3.0}                   # Table 4's values
    models = {r: build_model(run_config("components", r, 0, "smoke").model) for r in STUDIES["components"].rows}
    parts = {r: (m.incam is not None and bool(m.incam.decoder) and m.incam.decoder[0].cross_attention is not None,
                 m.incam is not None and bool(m.incam.decoder) and m.incam.decoder[0].mfsa is not None,
                 m.memory is not None) for r, m in models.items()}
    assert parts == {"baseline": (False, False, False), "semantic": (True, False, False),
                     "incam": (True, True, False), "category": (True, True, True)}
    assert [s.train for s in run_config("components", "category", 0, "claims").stages] == ["condenser", "memory", "all"]
    assert run_config("components", "baseline", 0, "claims").total_steps == \
        run_config("components", "category", 0, "claims").total_steps                 # one budget


def test_run_sizes_come_from_the_config_and_the_command_keeps_the_study_api():
    """One size table (``config.STUDY_SIZES``); ``kit.ablation``, the ``ablate`` command, still offers every name
    notebooks 06 and 09 import from it."""
    assert set(SIZES) == set(STUDY_SIZES) and all(SIZES[k].overrides is STUDY_SIZES[k]["overrides"] for k in SIZES)
    assert run_config("blur", "resshift", 0, "claims").data.source == "pack"
    assert run_config("blur", "resshift", 0, "smoke").data.source == "samples"
    for name in ("CLAIMS_DIR", "METRICS", "SIZES", "STUDIES", "markdown", "paper_delta", "run_study",
                 "verdict_sentences", "paired_power", "power_rows"):
        assert hasattr(ablation, name), name
    assert ablation.STUDIES is studies.STUDIES and ablation.SIZES is studies.SIZES


def test_interval_and_paired_test_against_scipy_and_by_hand():
    mean, sd, lo, hi = interval([1.0, 2.0, 4.0])
    assert mean == pytest.approx(7 / 3) and sd == pytest.approx(1.5275252, rel=1e-6)
    assert hi - mean == pytest.approx(4.302653 * sd / math.sqrt(3), rel=1e-5)       # t(0.975, 2) = 4.3027
    assert math.isnan(interval([5.0])[1])
    runs = [{"seed": s, "metrics": {k: None for k in METRICS} | {"psnr_y": v}} for s, v in enumerate([1, 2, 4])]
    ref = [{"seed": s, "metrics": {k: None for k in METRICS} | {"psnr_y": v}} for s, v in enumerate([0, 1.5, 3])]
    d = paired([0, 1, 2], runs, ref)["psnr_y"]
    t = (5 / 6) / (math.sqrt(1 / 12) / math.sqrt(3))                                   # mean / standard error = 5
    assert d["diffs"] == [1, 0.5, 1] and d["p"] == pytest.approx(1 - t / math.sqrt(t * t + 2), rel=1e-9)  # t(2) tails


def test_verdicts_follow_the_interval_and_the_metric_direction():
    rows = [{"name": "a", "paired_vs_ref": {"psnr_y": {"ci95_low": 0.1, "ci95_high": 0.3},
                                             "lpips_vgg": {"ci95_low": 0.01, "ci95_high": 0.02},
                                             "tmae": {"ci95_low": -0.1, "ci95_high": 0.2}}}]
    STUDIES["t"] = Study("t", "tiny", {"ref": {}, "a": {}}, "ref", "", {})
    try:
        v = verdicts("t", rows)["a"]
    finally:
        del STUDIES["t"]
    assert v == {"psnr_y": "holds", "lpips_vgg": "fails", "tmae": "undecided"}    # higher PSNR good, higher LPIPS bad


def test_verdict_sentences_name_each_outcome_and_the_papers_direction():
    pair = {"psnr_rgb": {"mean": 0.2, "ci95_low": 0.1, "ci95_high": 0.3}, "lpips_vgg": {"mean": 0.01},
            "tmae": {"mean": -0.5}}
    summary = {"reference": "base", "paper": {"base": {"psnr_rgb": 28.0, "lpips_vgg": 0.21},
                                              "row": {"psnr_rgb": 28.5, "lpips_vgg": 0.19}},
               "rows": [{"name": "base", "seeds": [0, 1, 2]},
                        {"name": "row", "seeds": [0, 1, 2], "paired_vs_base": pair}],
               "verdicts": {"row": {"psnr_rgb": "holds", "lpips_vgg": "fails", "tmae": "undecided"}}}
    (line,) = verdict_sentences(summary)
    assert line == ("`row` against `base` (3 seeds): holds on PSNR; fails on LPIPS; undecided on tMAE ×255; "
                    "beside the paper's run: PSNR same direction (the paper's +0.50 is outside the kit's interval [+0.10, +0.30]: "
                    "ruled out at this scale), LPIPS opposite direction.")


@pytest.fixture(scope="module")
def smoke_study(tmp_path_factory):
    torch.manual_seed(0)
    out = tmp_path_factory.mktemp("claims")
    summary = run_study("components", [0, 1], out, size="smoke", lpips=False, rows=["baseline", "category"],
                        log=lambda *a: None)
    return out, summary


def test_smoke_study_writes_the_issue_format_and_resumes(smoke_study):
    out, summary = smoke_study
    assert [r["name"] for r in summary["rows"]] == ["baseline", "category"]
    for r in summary["rows"]:
        assert r["seeds"] == [0, 1]
        assert set(r["metrics"]) >= {"psnr_y", "ssim_y", "tmae"} and all(len(v) == 2 for v in r["metrics"].values())
        assert 5.0 < r["stats"]["psnr_y"]["mean"] < 60.0
    pair = summary["rows"][1]["paired_vs_baseline"]["psnr_y"]
    assert pair["diffs"] == pytest.approx([a - b for a, b in zip(summary["rows"][1]["metrics"]["psnr_y"],
                                                                summary["rows"][0]["metrics"]["psnr_y"])])
    json.dumps(summary)                                                                 # plain JSON
    assert set(summary) >= {"rows", "budget", "eval", "paper", "verdicts", "claim"}
    # a second call reads the finished runs back instead of training again
    first = (out / "baseline" / "seed0" / "result.json").stat().st_mtime_ns
    again = run_study("components", [0, 1], out, size="smoke", lpips=False, rows=["baseline", "category"],
                      log=lambda *a: None)
    assert (out / "baseline" / "seed0" / "result.json").stat().st_mtime_ns == first
    assert again["rows"][0]["metrics"] == summary["rows"][0]["metrics"]


def test_bad_studies_rows_and_seeds_are_named(tmp_path):
    with pytest.raises(ValueError, match="Unknown study 'dwt'"):
        run_config("dwt", "baseline", 0)
    with pytest.raises(ValueError, match="Unknown row 'mfsa' of study 'blur'"):
        run_config("blur", "mfsa", 0)
    with pytest.raises(ValueError, match="seeds must be distinct integers >= 0"):
        run_study("blur", [0, 0], tmp_path, size="smoke")
    from seeclear_lite.__main__ import main

    assert main(["ablate", "blur", "--size", "smoke", "--rows", "nope", "--out", str(tmp_path)]) == 2


def test_evaluation_scores_a_perfect_model_perfectly():
    """The evaluation path itself: a 'model' that returns the ground truth scores PSNR capped, tMAE 0, SSIM 1."""
    gt = (torch.rand(7, 3, 16, 16) * 255).round() / 255
    clips = [{"name": "x", "lr": torch.rand(7, 3, 4, 4), "gt": gt}]

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
            from seeclear_lite.training.sampling import reflect_pad_time

            n = self.calls % 2
            self.calls += int(t[0]) == 1
            frames = gt[:5] if n == 0 else reflect_pad_time(gt[5:], 5)
            x0 = frames[None] * 2 - 1 + self.w
            return (x0, []) if return_features else x0

    m = evaluate_model(Oracle(), BlurringResShift(T=2), clips)
    assert m["tmae"] == pytest.approx(0.0, abs=1e-9) and m["ssim_y"] == pytest.approx(1.0, abs=1e-6)
    assert m["psnr_y"] > 60 and m["lpips_vgg"] is None


def test_summarize_needs_the_reference_for_pairs(smoke_study):
    out, _ = smoke_study
    results = [json.loads((out / "category" / f"seed{s}" / "result.json").read_text()) for s in (0, 1)]
    s = summarize("components", results)
    assert [r["name"] for r in s["rows"]] == ["category"] and "paired_vs_baseline" not in s["rows"][0]


@pytest.mark.parametrize("study, file", [("blur", "blur_ablation.json"), ("components", "component_ablation.json")])
def test_committed_claims_recompute_and_the_readme_shows_them(study, file):
    """The committed study JSONs: per-row statistics, paired differences and verdicts follow from the per-seed
    values they hold, and the README's table is this JSON's (so a rerun that is not copied over fails here)."""
    s = json.loads((CLAIMS_DIR / file).read_text())
    assert s["study"] == study and [r["name"] for r in s["rows"]] == list(STUDIES[study].rows)
    runs = {r["name"]: [{"seed": seed, "metrics": {k: v[i] for k, v in r["metrics"].items()}}
                        for i, seed in enumerate(r["seeds"])] for r in s["rows"]}
    for r in s["rows"]:
        assert len(r["seeds"]) >= 3, f"{file}: row {r['name']} has {len(r['seeds'])} seeds; the claims need >= 3"
        assert all(len(v) == len(r["seeds"]) for v in r["metrics"].values())
        for k, v in r["metrics"].items():
            assert list(r["stats"][k].values()) == pytest.approx(interval(v), nan_ok=True)
        if r["name"] != s["reference"]:
            common = sorted(set(r["seeds"]) & {x["seed"] for x in runs[s["reference"]]})
            again = paired(common, runs[r["name"]], runs[s["reference"]])
            for k, d in r["paired_vs_" + s["reference"]].items():
                assert [d[x] for x in ("mean", "ci95_low", "ci95_high", "p")] == \
                    pytest.approx([again[k][x] for x in ("mean", "ci95_low", "ci95_high", "p")], nan_ok=True)
    assert s["verdicts"] == verdicts(study, s["rows"])
    readme = (CLAIMS_DIR.parents[1] / "README.md").read_text()
    assert markdown(s, README_METRICS) in readme, f"README's {study} table is stale: paste markdown(s, README_METRICS)"


def test_paired_power_matches_a_monte_carlo_t_test_and_textbook_sample_sizes():
    """Noncentral-t power against 40,000 simulated studies per case (tolerance 4 standard errors of a proportion),
    the test's size at no effect, and the textbook sample size for d = 1, alpha 0.05, power 0.8 (n = 10)."""
    from scipy import stats as st

    rng = np.random.default_rng(0)
    for effect, sd, n in [(0.5, 0.5, 5), (0.2, 0.5, 12), (0.0, 1.0, 3), (-0.3, 0.2, 3)]:
        d = rng.normal(effect, sd, size=(40_000, n))
        t = d.mean(1) / (d.std(1, ddof=1) / math.sqrt(n))
        hit = float(np.mean(np.abs(t) > st.t.ppf(0.975, n - 1)))
        p = paired_power(effect, sd, n)
        assert abs(hit - p) < 4 * math.sqrt(p * (1 - p) / 40_000) + 1e-3, (effect, sd, n, hit, p)
    assert paired_power(0.0, 1.0, 7) == pytest.approx(0.05, abs=1e-9)
    assert seeds_for_power(1.0, 1.0) == 10 and paired_power(1.0, 1.0, 9) < 0.8 <= paired_power(1.0, 1.0, 10)
    assert seeds_for_power(-1.0, 1.0) == 10 and seeds_for_power(0.0, 1.0) is None
    assert seeds_for_power(0.01, 1.0, n_max=50) is None
    for n in range(2, 30):                          # far in the tail (scipy's nct.cdf gives nan there): finite
        assert 0.05 <= paired_power(1.0, 0.1, n) <= 1.0


def test_power_rows_use_the_paired_spread_and_the_papers_difference():
    ref = {"name": "ref", "seeds": [0, 1, 2], "metrics": {"psnr_rgb": [20.0, 21.0, 22.0]}}
    row = {"name": "a", "seeds": [0, 1, 2], "metrics": {"psnr_rgb": [20.1, 21.3, 22.2]}}
    runs = {r["name"]: [{"seed": s, "metrics": {k: v[i] for k, v in r["metrics"].items()}}
                        for i, s in enumerate(r["seeds"])] for r in (ref, row)}
    pair = paired([0, 1, 2], runs["a"], runs["ref"])
    row["paired_vs_ref"] = {"psnr_rgb": pair["psnr_rgb"]}
    summary = {"reference": "ref", "rows": [ref, row], "paper": {"ref": {"psnr_rgb": 26.0}, "a": {"psnr_rgb": 27.0}}}
    (p,) = power_rows(summary)
    assert p["sd"] == pytest.approx(np.std([0.1, 0.3, 0.2], ddof=1)) and p["kit_delta"] == pytest.approx(0.2)
    assert p["paper_delta"] == pytest.approx(1.0) and p["paper_delta_excluded"]   # interval ~[-0.05, 0.45]
    assert p["seeds_for_paper_delta"] == seeds_for_power(1.0, p["sd"]) == 3      # 2 seeds: power 0.73 (t crit 12.7)
    assert p["seeds_for_kit_delta"] == seeds_for_power(0.2, p["sd"])
