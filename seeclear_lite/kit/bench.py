"""``python -m seeclear_lite bench``: sampling speed like the paper's Table 5, and training throughput.

What is timed is the real Algorithm 1 path of :func:`seeclear_lite.training.sampling.sample_clip`: the
Semantic Distiller once per clip (line 7), then T reverse steps of
:meth:`seeclear_lite.diffusion.BlurringResShift.sample` with the m = 5 frames of the clip going through the
network as one batch, then the CaTeGory memory update (lines 42-44). The input is a random 128x128 LR clip
(``--size 512`` output, x4), at T = 15 (``--steps``), the setting of Table 5; the time per output frame is the
time per clip divided by m. Weights are random (speed does not depend on them).

Variants, measured in the same run on the same model and input:
* ``eager_fp32``                  the reference: float32, eager, contiguous tensors;
* ``fp32_channels_last``          float32 with channels-last convolution weights;
* ``bf16``                        bfloat16 autocast around the network (CUDA only here);
* ``bf16_channels_last``          bf16 autocast + channels-last (CUDA only);
* ``bf16_channels_last_compile``  the same under ``torch.compile`` (CUDA only, and only with ``--compile``,
  since compiling takes minutes).

The diffusion arithmetic (patch DCT, posterior) stays in float32 in every variant: autocast wraps the network
call only. Variants that cannot run are reported as ``skipped`` with the reason (never timed on something
else); a variant that fails (e.g. out of memory) is reported as ``failed`` with the error. Each variant gets
``--warmup`` untimed clips, then ``--repeats`` timed clips (with ``torch.cuda.synchronize`` on CUDA); the
table gives the median. ``mean_abs_diff_vs_eager`` compares the variant's output with the eager one (same
noise), in [0, 1] pixel units, to show what the speed costs in accuracy.

Training throughput reuses the engine's own step (:class:`seeclear_lite.training.engine.Trainer`, first
stage) on the preset's data (``--pack`` for the compact corpus; the sample clips otherwise).

``--profile-step`` writes ``profile.txt``: a ``torch.profiler`` table (top operators by device and CPU time)
of ONE sampling step (one network evaluation + one posterior update) of each configuration's fastest variant
without ``torch.compile`` (profiled before compiling, so a time cap that stops a compile keeps it). Each
configuration also records its counted FLOPs per frame (:func:`seeclear_lite.models.info.flop_report`) and each
variant the achieved ``tflops_per_s``: how far a variant is from the device's peak, i.e. where the time goes.

Examples::
    python -m seeclear_lite bench --configs tiny base paper --out results/bench
    python -m seeclear_lite bench --configs paper --compile --profile-step --out results/bench
    python -m seeclear_lite bench --configs tiny --size 64 --steps 2 --repeats 1 --train-preset tiny
"""

from __future__ import annotations

import argparse
import functools
import json
import sys
from pathlib import Path

from ..config import preset_names
from ..utils.io import atomic_write_text
from .bench_measure import ACCURACY, VARIANTS, measure_bench

PAPER_LINE = ("paper (Table 5, other hardware): SeeClear 229.23 M parameters, 1.142 s per frame; "
              "ResShift 1.12 s per frame")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.description = __doc__.split("\n\n")[0].replace("``", "")
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.epilog = "\n\n".join(__doc__.split("\n\n")[1:])
    parser.add_argument("--configs", nargs="+", default=["tiny", "base", "paper"], choices=preset_names(),
                        help="model configurations to time (default: tiny base paper)")
    parser.add_argument("--size", type=int, default=512, help="output (HR) frame size; input is size/4 (default 512)")
    parser.add_argument("--steps", type=int, default=15, help="diffusion steps T (default 15, Table 5)")
    parser.add_argument("--calls", type=int, default=None,
                        help="network calls per clip: the T-step schedule re-spaced, as `sample --steps K` "
                             "(default: T; the shipped small.pt samples with 1)")
    parser.add_argument("--clip-length", type=int, default=5, help="frames per clip m (default 5)")
    parser.add_argument("--repeats", type=int, default=3, help="timed clips per variant (default 3)")
    parser.add_argument("--warmup", type=int, default=1, help="untimed clips per variant first (default 1)")
    parser.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=list(VARIANTS),
                        help="variants to measure (default: all; eager_fp32 is always measured first)")
    parser.add_argument("--compile", action="store_true", help="also measure the torch.compile variant (slow start)")
    parser.add_argument("--profile-step", action="store_true",
                        help="write profile.txt: torch.profiler table of one sampling step per configuration")
    parser.add_argument("--train-preset", default="base", choices=preset_names(),
                        help="training preset whose throughput is measured (default base)")
    parser.add_argument("--train-steps", type=int, default=10, help="timed training steps (0 = skip; default 10)")
    parser.add_argument("--train-warmup", type=int, default=3, help="untimed training steps first (default 3)")
    parser.add_argument("--eval-frames", type=int, default=6,
                        help="Vid4-sized frames (720x576) for the evaluation timing (0 = skip; default 6)")
    parser.add_argument("--pack", type=Path, default=None,
                        help="compact corpus .npz for the training throughput (default: the sample clips)")
    parser.add_argument("--out", type=Path, default=None, help="folder for bench.json + bench.md (+ profile.txt)")
    parser.add_argument("--device", default=None, help="device (default: CUDA if available, else CPU)")
    parser.add_argument("--seed", type=int, default=0)


# ---------------------------------------------------------------------------------------------- report
def calls_note(settings: dict) -> str:
    """The text " re-spaced to K network calls per clip" for a run that timed K < T calls (``--calls``), else
    the empty string."""
    calls = settings.get("calls") or settings["steps"]
    return "" if calls == settings["steps"] else f" re-spaced to {calls} network call{'s' * (calls != 1)} per clip"


def markdown(report: dict) -> str:
    dev = report["device"]
    s = report["settings"]
    lines = ["# Sampling speed (Table 5 setting)", "",
             f"Device: **{dev.get('name')}** ({dev['type']}, torch {dev['torch']}). Input {s['lr_size']}x"
             f"{s['lr_size']} -> output {s['size']}x{s['size']}, T = {s['steps']}{calls_note(s)}, "
             f"m = {s['clip_length']} frames per clip, "
             f"median of {s['repeats']} clip(s) after {s['warmup']} warm-up; time per output frame = clip time / m, "
             f"distiller included. TFLOP/s = counted FLOPs per frame (`info --flops`: convolutions, matmuls, "
             f"attention; a floor) / time per frame.", "",
             "Peak of this machine, measured in the same run (2048² matmul, 3×3 64→64 convolution): "
             + ", ".join(f"{k} {v['peak_gflops']:.0f} GFLOP/s" for k, v in report.get("peak", {}).items())
             + f"; native bf16: {dev.get('native_bf16', 'n/a')}.", "",
             "| config | parameters (M) | variant | s / frame | speed-up vs eager fp32 | GFLOP/s | of peak | "
             "peak GPU MiB | mean abs diff |",
             "|---|---:|---|---:|---:|---:|---:|---:|---:|"]
    for name, c in report["configs"].items():
        pm = c["parameters"]["total"] / 1e6
        for v, r in c["variants"].items():
            if r["status"] != "ok":
                lines.append(f"| {name} | {pm:.2f} | {v} | {r['status']}: {r['reason']} | | | | | |")
                continue
            sp = r.get("speedup_vs_eager")
            mem = r.get("peak_memory_mib")
            diff = r.get("mean_abs_diff_vs_eager")
            gf, frac, dt = r.get("gflops_per_s"), r.get("fraction_of_peak"), r.get("peak_dtype")
            lines.append(f"| {name} | {pm:.2f} | {v} | {r['seconds_per_frame']:.4f} | "
                         f"{'' if sp is None else f'{sp:.2f}x'} | {'' if gf is None else f'{gf:.1f}'} | "
                         f"{'' if frac is None else f'{100 * frac:.1f} % ({dt})'} | "
                         f"{'' if mem is None else f'{mem:.0f}'} | {'' if diff is None else f'{diff:.2e}'} |")
        lines.append(f"| {name} | | fastest within {ACCURACY:g} of eager | {c.get('fastest')} | | | | | |")
    tr = report.get("training")
    if tr:
        lines += ["", "## Training throughput", ""]
        if tr["status"] == "ok":
            lines.append(f"`{tr['preset']}` preset, stage {tr['stage']!r}, {tr['data']} data, batch {tr['batch_size']} "
                         f"x {tr['clips_per_sample']} clip(s) of {tr['clip_length']} frames at {tr['gt_patch']} px, "
                         f"bf16 autocast {'on' if tr['amp'] else 'off'}: **{tr['clips_per_s']:.2f} clips/s** "
                         f"({tr['seconds_per_step']:.4f} s per step, {tr['frames_per_s']:.1f} frames/s"
                         + (f", peak {tr['peak_memory_mib']:.0f} MiB" if "peak_memory_mib" in tr else "")
                         + f") on the fast path, against {tr['eager_fp32']['seconds_per_step']:.4f} s per step eager "
                           f"fp32: **{tr['speedup_vs_eager']:.2f}x**.")
        else:
            lines.append(f"{tr['status']}: {tr.get('reason')}")
    ev = report.get("evaluation")
    if ev:
        lines += ["", "## Evaluation metrics", "",
                  f"PSNR / SSIM (RGB, Y), LPIPS-VGG, tMAE and tLP on {ev['frames']} frames of {ev['size'][1]}x"
                  f"{ev['size'][0]} (Vid4's size): {ev['before_s_per_frame']:.2f} s per frame before (each tLP pair's "
                  f"AlexNet features on their own, contiguous tensors), {ev['now_s_per_frame']:.2f} s now (each "
                  f"frame's features once, the CPU fast path): **{ev['speedup']:.2f}x**."]
    lines += ["", PAPER_LINE + ".", ""]
    return "\n".join(lines)


def _print_table(report: dict) -> None:
    dev = report["device"]
    print(f"device: {dev.get('name')} ({dev['type']}, torch {dev['torch']})")
    print(f"{'config':<7} {'params M':>9} {'variant':<28} {'s/frame':>9} {'speed-up':>9} {'TFLOP/s':>9} "
          f"{'peak MiB':>9}")
    for name, c in report["configs"].items():
        pm = c["parameters"]["total"] / 1e6
        for v, r in c["variants"].items():
            if r["status"] != "ok":
                print(f"{name:<7} {pm:>9.2f} {v:<28} {r['status']}: {r['reason']}")
                continue
            sp, mem, tf = r.get("speedup_vs_eager"), r.get("peak_memory_mib"), r.get("tflops_per_s")
            print(f"{name:<7} {pm:>9.2f} {v:<28} {r['seconds_per_frame']:>9.4f} "
                  f"{'' if sp is None else f'{sp:.2f}x':>9} {'' if tf is None else f'{tf:.3g}':>9} "
                  f"{'' if mem is None else f'{mem:.0f}':>9}")
    tr = report.get("training")
    if tr and tr["status"] == "ok":
        print(f"training ({tr['preset']}, {tr['data']}): {tr['clips_per_s']:.2f} clips/s, "
              f"{tr['seconds_per_step']:.4f} s/step")
    elif tr:
        print(f"training: {tr['status']}: {tr.get('reason')}")
    print(PAPER_LINE)


def _write(report: dict, out: Path | None, profile_text: str) -> None:
    if out is None:
        return

    out.mkdir(parents=True, exist_ok=True)
    atomic_write_text(out / "bench.json", json.dumps(report, indent=1) + "\n")
    atomic_write_text(out / "bench.md", markdown(report))
    if profile_text:
        atomic_write_text(out / "profile.txt", profile_text)


def main(args: argparse.Namespace) -> int:
    try:
        report = measure_bench(args.configs, size=args.size, steps=args.steps, calls=args.calls,
                               clip_length=args.clip_length, repeats=args.repeats, warmup=args.warmup, variants=args.variants,
                               use_compile=args.compile, profile_step=args.profile_step,
                               train_preset=args.train_preset, train_steps=args.train_steps,
                               train_warmup=args.train_warmup, eval_frames=args.eval_frames, pack=args.pack,
                               device=args.device, seed=args.seed,
                               on_update=lambda rep, profile: _write(rep, args.out, profile),
                               log=functools.partial(print, flush=True))
    except ValueError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    _print_table(report)
    if args.out is not None:
        print(f"wrote {args.out / 'bench.json'} and {args.out / 'bench.md'}"
              + (f" and {args.out / 'profile.txt'}" if args.profile_step else ""))
    return 0
