"""The ablation studies: which rows, what each row switches, the paper's numbers, the metrics and the run sizes.

A study is a set of rows that differ in one thing and share everything else (model size, data, budget, seeds,
evaluation). Training and scoring them is :mod:`.study_run`, the statistics :mod:`.study_stats`, the tables and
sentences :mod:`.study_tables`; ``python -m seeclear_lite ablate`` (:mod:`.ablation`) puts them together.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from ..config import STUDY_SIZES

#: Metric key -> (higher is better?, label).
METRICS = {"psnr_y": (True, "PSNR-Y"), "ssim_y": (True, "SSIM-Y"), "psnr_rgb": (True, "PSNR"),
           "ssim_rgb": (True, "SSIM"), "lpips_vgg": (False, "LPIPS"), "tmae": (False, "tMAE ×255"),
           "tlp": (False, "tLP ×100")}
#: The factor a metric is reported with (the labels' ×255, ×100); the others as measured.
SCALE = {"tmae": 255.0, "tlp": 100.0}
#: Decimals each metric is printed with (its own and its paired difference's).
DIGITS = {"psnr_y": 2, "ssim_y": 4, "psnr_rgb": 2, "ssim_rgb": 4, "lpips_vgg": 4, "tmae": 2, "tlp": 2}
#: The metrics the README's claims tables show.
README_METRICS = ("psnr_y", "lpips_vgg", "tmae", "tlp")
#: Where the kit keeps the committed study results (``ablate ... --json``), read by notebook 09.
CLAIMS_DIR = Path(__file__).resolve().parents[2] / "data" / "claims"
_SWITCHES = ("semantic_condition", "mfsa", "incam", "category")


def _switches(*on) -> dict:
    """Table 2's switches as overrides: ``on`` true, the others false."""
    return {f"model.{s}": s in on for s in _SWITCHES}


@dataclass(frozen=True)
class Study:
    """Rows (name -> overrides), the reference row, the claim in words, the paper's numbers and the rows' labels
    in tables."""

    name: str
    preset: str
    rows: dict
    reference: str
    claim: str
    paper: dict
    labels: dict = field(default_factory=dict)


STUDIES = {
    "blur": Study(          # Table 4's idea, on the baseline network
        "blur", "tiny",
        {"resshift": {"diffusion.sigma_b2_max": 0.0}, "blur_2": {"diffusion.sigma_b2_max": 2.0},
         "blur_3": {"diffusion.sigma_b2_max": 3.0}},
        reference="resshift",
        claim="patch-level blurring (σ²_B > 0) beats plain residual shifting (σ²_B = 0) in PSNR and LPIPS",
        paper={"source": "Table 4 (first frame of REDS4, WaveDiff U-Net), PSNR / SSIM / LPIPS (RGB)",
               "resshift": {"psnr_rgb": 26.78, "ssim_rgb": 0.7960, "lpips_vgg": 0.2096},
               "blur_2": {"psnr_rgb": 26.45, "ssim_rgb": 0.7927, "lpips_vgg": 0.2008},
               "blur_3": {"psnr_rgb": 27.74, "ssim_rgb": 0.8047, "lpips_vgg": 0.2067}},
        labels={"resshift": "ResShift (σ²_B = 0)", "blur_2": "σ²_B = 2", "blur_3": "σ²_B = 3"}),
    "components": Study(    # Table 2's switch rows; the CaTeGory row trains in Sec. 4.1's three stages
        "components", "tiny_full",
        {"baseline": _switches(), "semantic": _switches("semantic_condition"),
         "incam": _switches("semantic_condition", "mfsa", "incam"),
         "category": _switches("semantic_condition", "mfsa", "incam", "category")},
        reference="baseline",
        claim="each semantic module improves on the baseline: the semantic condition, InCAM and CaTeGory",
        paper={"source": "Table 2 (REDS4), PSNR / SSIM / LPIPS (RGB)",
               "baseline": {"psnr_rgb": 28.05, "ssim_rgb": 0.7993, "lpips_vgg": 0.2120},
               "incam": {"psnr_rgb": 28.46, "ssim_rgb": 0.8098, "lpips_vgg": 0.1917},
               "category": {"psnr_rgb": 28.92, "ssim_rgb": 0.8279, "lpips_vgg": 0.1843}},
        labels={"baseline": "baseline", "semantic": "+ semantic condition", "incam": "+ InCAM (with MFSA)",
                "category": "+ CaTeGory (SeeClear)"}),
}


@dataclass(frozen=True)
class Size:
    """How big each run is: optimiser steps, training overrides, and the evaluation's crop / frames."""

    name: str
    steps: int
    overrides: dict
    eval_crop: int | None        # HR centre crop of every evaluation frame (None = whole frames)
    eval_frames: int | None      # first N frames of each held-out clip (None = all)


#: The run sizes, read from :data:`seeclear_lite.config.STUDY_SIZES` (where every size of the kit lives).
SIZES = {name: Size(name, **spec) for name, spec in STUDY_SIZES.items()}


def get_study(name) -> Study:
    if name not in STUDIES:
        raise ValueError(f"Unknown study {name!r}: choose from {', '.join(STUDIES)}.")
    return STUDIES[name]


def get_size(size) -> Size:
    if isinstance(size, Size):
        return size
    if size not in SIZES:
        raise ValueError(f"Unknown size {size!r}: choose from {', '.join(SIZES)}.")
    return SIZES[size]
