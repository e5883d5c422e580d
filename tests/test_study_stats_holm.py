"""Notebook 09's two additions to the study statistics: the Holm–Bonferroni correction over many paired tests, and
the detail-matched control for temporal claims (tMAE compared at equal amounts of detail)."""

import json
import math

import numpy as np
import pytest
import torch

from seeclear_lite.kit.studies import CLAIMS_DIR
from seeclear_lite.kit.study_stats import (blur_to_detail, detail_energy, detail_matched_tmae, gaussian_blur, holm,
                                           holm_verdicts, tmae, tmae_detail_curve)


# --- Holm ---------------------------------------------------------------------------------------------------------

def test_holm_matches_a_hand_worked_example():
    # m = 4. Sorted: 0.005, 0.015, 0.03, 0.04, multiplied by 4, 3, 2, 1: 0.02, 0.045, 0.06, 0.04; the running
    # maximum turns the last into 0.06. Back in the input's order:
    p = [0.015, 0.04, 0.03, 0.005]
    np.testing.assert_allclose(holm(p), [0.045, 0.06, 0.06, 0.02], rtol=0, atol=1e-15)
    # at alpha = 0.05: Holm rejects the two smallest; Bonferroni (p * 4 < 0.05) only the smallest
    assert list(holm(p) < 0.05) == [True, False, False, True]
    assert list(np.array(p) * 4 < 0.05) == [False, False, False, True]


def test_holm_caps_at_one_and_keeps_nan_out_of_the_family():
    np.testing.assert_allclose(holm([0.5, 0.9, 0.2]), [1.0, 1.0, 0.6])
    out = holm([0.01, math.nan, 0.02])                       # m = 2, not 3
    np.testing.assert_allclose(out[[0, 2]], [0.02, 0.02])
    assert math.isnan(out[1])
    assert holm([]).shape == (0,)
    assert holm(np.array([[0.01, 0.04], [0.03, 0.005]])).shape == (2, 2)
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        holm([0.2, 1.5])


@pytest.mark.parametrize("seed", range(20))
def test_holm_properties(seed):
    rng = np.random.default_rng(seed)
    m = int(rng.integers(1, 40))
    p = rng.uniform(0, 1, m) ** rng.uniform(1, 6)            # many small p-values too
    if seed % 4 == 0:
        p[: m // 2] = p[0]                                    # ties
    q = holm(p)
    assert np.all(q >= p - 1e-15) and np.all(q <= 1)          # never below the raw p, never above 1
    order = np.argsort(p, kind="stable")
    assert np.all(np.diff(q[order]) >= -1e-15)                # monotone in the raw p
    i = int(np.argmin(p))
    assert q[i] == pytest.approx(min(1.0, m * p[i]))          # the smallest: Bonferroni's m * p
    assert np.all(q <= np.minimum(1, m * p) + 1e-15)          # never more conservative than Bonferroni


def test_holm_verdicts_on_the_committed_studies():
    summaries = {s: json.loads((CLAIMS_DIR / f).read_text())
                 for s, f in (("blur", "blur_ablation.json"), ("components", "component_ablation.json"))}
    h = holm_verdicts(summaries)
    tests = [(st, r, k, v) for st in summaries for r, row in h[st].items() for k, v in row.items()]
    assert h["m"] == len(tests) == 35                         # 2 x 7 + 3 x 7 paired tests
    raw = np.array([v["p"] for *_, v in tests])
    np.testing.assert_allclose([v["p_holm"] for *_, v in tests], holm(raw))
    for st, r, k, v in tests:
        assert v["verdict"] == summaries[st]["verdicts"][r][k]
        # the interval verdict is the p < 0.05 verdict, sided by the mean
        assert (v["verdict"] != "undecided") == (v["p"] < 0.05)
        # Holm only ever turns a decided verdict into "undecided", never the other way, never flips it
        assert v["verdict_holm"] in (v["verdict"], "undecided")
        assert (v["verdict_holm"] != "undecided") == (v["p_holm"] < 0.05)


# --- the detail-matched temporal control ----------------------------------------------------------------------------

N, H, W = 6, 64, 64


def scene():
    """A static scene: a smooth base and a detail pattern D (one spatial frequency, period 4 px) as clips
    [N, 3, H, W], and the sign (-1)^t that makes D flicker."""
    y, x = torch.meshgrid(torch.arange(H, dtype=torch.float64), torch.arange(W, dtype=torch.float64), indexing="ij")
    base = 0.5 + 0.2 * torch.cos(2 * math.pi * x / 64) * torch.cos(2 * math.pi * y / 64)
    detail = 0.1 * torch.cos(2 * math.pi * x / 4) * torch.cos(2 * math.pi * y / 4)
    clip = lambda img: img.view(1, 1, H, W).expand(N, 3, H, W).clone()
    sign = torch.tensor([(-1.0) ** t for t in range(N)], dtype=torch.float64).view(N, 1, 1, 1)
    return clip(base), clip(detail), sign


def test_gaussian_blur_matches_a_direct_convolution_and_keeps_constants():
    x = torch.rand(2, 3, 40, 48, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    assert gaussian_blur(x, 0) is x
    for sigma in (0.3, 1.0, 2.5):
        r = math.ceil(4 * sigma)
        k = torch.exp(-0.5 * (torch.arange(-r, r + 1, dtype=torch.float64) / sigma) ** 2)
        k = k / k.sum()
        p = torch.nn.functional.pad(x.reshape(-1, 1, 40, 48), (r, r, r, r), mode="reflect")
        direct = torch.nn.functional.conv2d(p, (k[:, None] * k[None, :])[None, None]).reshape(x.shape)
        torch.testing.assert_close(gaussian_blur(x, sigma), direct, rtol=0, atol=1e-12)
    torch.testing.assert_close(gaussian_blur(torch.full((3, 16, 16), 0.3, dtype=torch.float64), 2.0),
                               torch.full((3, 16, 16), 0.3, dtype=torch.float64))


def test_blur_to_detail_hits_its_target_and_detail_falls_with_blur():
    base, detail, _ = scene()
    x = base + detail
    energies = [e for _, e, _ in tmae_detail_curve(x, x, [0, 0.25, 0.5, 1, 2, 4])]
    assert all(a > b for a, b in zip(energies, energies[1:]))
    target = energies[0] / 7
    y, sigma = blur_to_detail(x, target)
    assert sigma > 0 and detail_energy(y) == pytest.approx(target, rel=1e-3)
    same, zero = blur_to_detail(x, energies[0] * 2)           # already below the target: unchanged
    assert zero == 0.0 and torch.equal(same, x)


def test_static_scene_steady_detail_against_flickering_detail():
    """The known answer: in a static scene, detail that stays put has tMAE exactly 0 however much of it there is,
    and the same detail flickering has tMAE > 0, before and after matching the amount of detail."""
    base, detail, sign = scene()
    gt = base + detail
    steady, flicker = base + 1.5 * detail, base + sign * detail
    r = detail_matched_tmae({"steady": steady, "flicker": flicker}, gt)
    assert r["steady"]["energy"] > r["flicker"]["energy"] == r["_target"]      # the steady one draws more detail
    assert r["steady"]["sigma"] > 0 and r["flicker"]["sigma"] == 0
    assert r["steady"]["energy_matched"] == pytest.approx(r["flicker"]["energy"], rel=1e-3)
    assert r["steady"]["tmae"] == r["steady"]["tmae_matched"] == 0.0
    # flicker: (-1)^t D changes by 2 D every frame, so tMAE = 2 mean|D| exactly
    assert r["flicker"]["tmae"] == pytest.approx(2 * float(detail.abs().mean()), rel=1e-12)
    assert r["flicker"]["tmae_matched"] == r["flicker"]["tmae"]


def test_matching_removes_the_advantage_of_drawing_less_of_the_same_flicker():
    """Twice the same flickering detail: raw tMAE says it flickers exactly twice as much; at equal detail energy
    the two are the same output (one spatial frequency: a blur only scales it), up to the frame borders."""
    base, detail, sign = scene()
    gt = base + detail
    one, two = base + sign * detail, base + 2 * sign * detail
    assert tmae(two, gt) == pytest.approx(2 * tmae(one, gt), rel=1e-12)
    r = detail_matched_tmae({"one": one, "two": two}, gt)
    assert r["two"]["sigma"] > 0
    assert r["two"]["tmae_matched"] / r["one"]["tmae_matched"] == pytest.approx(1.0, abs=0.05)


def test_no_detail_scores_the_best_tmae():
    """Why the control is needed: an output that draws no detail at all has the best tMAE in a static scene, like
    steady detail; matched down to its (almost no) detail, the flickering output is close to it as well."""
    base, detail, sign = scene()
    gt = base + detail
    r = detail_matched_tmae({"none": base, "flicker": base + sign * detail}, gt)
    assert r["none"]["tmae"] == 0.0 < r["flicker"]["tmae"]
    assert r["flicker"]["tmae_matched"] < 0.01 * r["flicker"]["tmae"]
