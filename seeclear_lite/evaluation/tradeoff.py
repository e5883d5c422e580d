"""The perception-distortion plane of a checkpoint: where each way of using the same network lands.

A diffusion super-resolver offers several outputs from one network (Blau & Michaeli, "The Perception-Distortion
Tradeoff", CVPR 2018):

- the **first step**: x0_hat(x_T), one network call. Trained with a pixel loss it is close to the MMSE
  estimate E[x0 | y]: the highest PSNR the network can give, and the blurriest;
- a **k-step chain** from the prior (the schedule re-spaced to k network calls, as ResShift and DDIM re-space):
  a sample of p(x0 | y). An exact posterior sample has twice the MMSE's squared error, so its PSNR is about
  3 dB lower at best; what it buys is detail (lower LPIPS) -- if the network draws believable detail;
- the **mean of n samples**: back towards the MMSE estimate as n grows;
- **bicubic**: the line every output must beat.

:func:`tradeoff` scores all of them on the same frames with the kit's one metric loop
(:class:`~seeclear_lite.metrics.clip_scores.ClipScores`): PSNR/SSIM on RGB and Y, LPIPS-VGG, tMAE, tLP. The
ground truth's LPIPS features are computed once per m-frame clip and reused by every output, and every
sampler runs through the clips in lockstep, so one pass over the data scores every point. It writes
``tradeoff.json`` (every point: settings, network calls per clip, time, per clip and average metrics),
``tradeoff.md``, ``tradeoff.png`` (the PSNR-LPIPS plane; beside it, each point's gain over bicubic with the
paper's Table 1 gains as a reference at another scale) and ``tradeoff_crops.png`` (one frame of every clip as
each output draws it, zoomed, beside bicubic and the ground truth: a point that wins by drawing what is not in
the scene shows here).
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch
from tqdm.auto import tqdm

from .. import __version__
from ..data.corpus import default_corpus_dir
from ..data.datasets import FolderClips, resolve_basicsr_root
from ..data.io import quantize, uint8_to_float
from ..degradation import DEFAULT_DEGRADATION, bicubic_upsample, degrade_uint8
from ..diffusion import BlurringResShift
from ..metrics.clip_scores import METRICS, OPTIONAL_METRICS, ClipScores, average_over_clips
from ..metrics.dists import get_dists
from ..training.checkpoint import default_checkpoint, load_model
from ..training.sampling import VideoSampler, fast_path, reflect_pad_time, sample_clip
from ..utils.device import get_device
from ..utils.io import StagedOutput, atomic_write_png, atomic_write_text
from .harness import check_lr_folder_scale, load_lpips_pair

OUTPUTS = ("tradeoff.json", "tradeoff.md", "tradeoff.png", "tradeoff_crops.png")

#: Table 1 of the paper (PSNR, LPIPS; Vid4 PSNR on Y): a reference at another scale (229 M parameters, REDS /
#: Vimeo-90K), shown as gains over the paper's own bicubic row.
PAPER_TABLE1 = {
    "REDS4": {"bicubic": (26.14, 0.3519), "ResShift": (27.76, 0.2346), "SeeClear": (28.92, 0.1843)},
    "Vid4": {"bicubic": (23.78, 0.3947), "ResShift": (24.75, 0.3166), "SeeClear": (25.63, 0.2573)},
}


@dataclass
class Point:
    """One output of the checkpoint: ``steps`` network calls per clip (0 = bicubic), ``seeds`` (several = the
    mean of their samples), and the label the table and figure use."""

    name: str
    steps: int
    seeds: tuple = (0,)
    label: str = ""
    default: bool = False
    seconds: float = 0.0
    clips: dict = field(default_factory=dict)
    average: dict = field(default_factory=dict)


def plan_points(T: int, default_steps: int, steps=None, mean_of: int = 3, seed: int = 0) -> list[Point]:
    """The points to score: bicubic; the first step; a chain of each k in ``steps`` (default: 1, 2, the
    default, T); the default chain with ``mean_of`` seeds one by one, and their mean."""
    ks = sorted({1, 2, default_steps, T} if steps is None else set(steps))
    for k in ks:
        if isinstance(k, bool) or not isinstance(k, int) or not 1 <= k <= T:
            raise ValueError(f"--steps: each value must be an int in 1..T={T} (network calls per clip), got {k!r}.")
    if isinstance(mean_of, bool) or not isinstance(mean_of, int) or mean_of < 1:
        raise ValueError(f"--mean-of must be an int >= 1 (samples averaged; 1 = no mean point), got {mean_of!r}.")

    def output(k: int, short: bool = False) -> str:
        return ("first step" if short else "first step x̂0(x_T)") if k == 1 else f"{k}-step chain"

    points = [Point("bicubic", 0, (), "bicubic")]
    for k in ks:
        points.append(Point(f"steps{k}", k, (seed,), output(k) + (" (default)" if k == default_steps else ""),
                            default=k == default_steps))
    if mean_of > 1:
        if default_steps not in ks:
            points.append(Point(f"steps{default_steps}", default_steps, (seed,), f"{output(default_steps)} (default)",
                                default=True))
        for i in range(1, mean_of):
            points.append(Point(f"steps{default_steps}_seed{seed + i}", default_steps, (seed + i,),
                                f"{output(default_steps, short=True)}, seed {seed + i}"))
        points.append(Point(f"mean{mean_of}", default_steps, tuple(seed + i for i in range(mean_of)),
                            f"mean of {mean_of} samples"))
    return points


def tradeoff(checkpoint=None, gt=None, out=None, *, lr=None, clips=None, max_frames: int | None = None, steps=None,
             mean_of: int = 3, seed: int = 0, form: str | None = None, device=None, overwrite: bool = False,
             progress: bool = True, log=print, fast: bool = True, use_dists: bool = True, noise: str | None = None) -> dict:
    """Score every point of :func:`plan_points` for ``checkpoint`` on the dataset ``gt`` (a BasicSR root or GT
    folder; default: the corpus's validation clips) and write the results into ``out``; returns the record.

    Every argument is checked before anything is written; results are staged and replace ``out``'s only
    when complete (``overwrite``)."""
    path = Path(checkpoint) if checkpoint is not None else default_checkpoint()
    if not path.is_file():
        raise FileNotFoundError(f"Checkpoint not found: {path}. Give a run's checkpoint or an exported .pt.")
    if out is None:
        raise ValueError("--out is required: the folder for tradeoff.json, tradeoff.md and tradeoff.png.")
    if gt is None:
        gt, clips = corpus_validation(clips)
    gt_dir, lr_dir = resolve_basicsr_root(gt, lr)
    device = get_device(device=device)
    model, cfg, _ = load_model(path, device=device)
    fast_path(model, device, fast)
    diffusion = BlurringResShift.from_config(cfg.diffusion)
    scale = int(diffusion.scale)
    if cfg.data.degradation != DEFAULT_DEGRADATION and lr is None:
        lr_dir = None                       # a root's BIx4 frames are BI: make the model's degradation instead
    check_lr_folder_scale(lr_dir, scale)
    source = FolderClips(gt_dir, lr_dir, scale, clips, max_frames)
    source.verify_readable()
    default_steps = cfg.diffusion.steps or cfg.diffusion.T
    points = plan_points(cfg.diffusion.T, default_steps, steps, mean_of, seed)
    lp_vgg, lp_alex = load_lpips_pair(device, True, fast)
    dists = fast_path(get_dists(device), device, fast) if use_dists else None
    keys = METRICS + (OPTIONAL_METRICS if use_dists else ())
    form = form or cfg.diffusion.form
    noise = noise or cfg.diffusion.noise
    t_start = time.perf_counter()
    with StagedOutput(Path(out), OUTPUTS, overwrite, option="--out") as stage:
        log(f"tradeoff: {path.name} on {len(source.names)} clips of {gt_dir} ({len(points)} points) -> {out}")
        crops = {}
        for name in tqdm(source.names, desc="clips", unit="clip", disable=not progress):
            crops[name] = _score_clip(name, source, points, model, diffusion, cfg, form, device, scale,
                                      (lp_vgg, lp_alex, dists), noise)
        for p in points:
            p.average = average_over_clips(p.clips, keys)
        record = {
            "checkpoint": str(path), "preset": cfg.preset, "T": cfg.diffusion.T, "default_steps": default_steps,
            "form": form, "noise": noise, "dataset": str(gt_dir), "frames": {c: source.num_frames(c) for c in source.names},
            "device": str(device), "kit_version": __version__, "wall_seconds": time.perf_counter() - t_start,
            "points": [_point_record(p, source) for p in points],
        }
        atomic_write_text(stage.path / "tradeoff.json", json.dumps(record, indent=2) + "\n")
        atomic_write_text(stage.path / "tradeoff.md", tradeoff_markdown(record))
        plane_figure(record, stage.path / "tradeoff.png")
        crops_figure(crops, points, stage.path / "tradeoff_crops.png")
        stage.commit()
    log(tradeoff_markdown(record))
    return record


def corpus_validation(clips=None):
    """(root, clip names) of the corpus's validation split (``data build`` writes it into the cache)."""
    root = default_corpus_dir()
    manifest = root / "manifest.json"
    if not manifest.is_file():
        raise FileNotFoundError(f"no corpus at {root}: build it with `python -m seeclear_lite data build`, or give "
                                f"--gt <BasicSR root>.")
    val = sorted(n for n, c in json.loads(manifest.read_text())["clips"].items() if c["split"] == "val")
    return root, clips if clips is not None else val


def _point_record(p: Point, source) -> dict:
    d = asdict(p)
    d["seeds"] = list(p.seeds)
    frames = sum(source.num_frames(c) for c in source.names)
    d["network_calls_per_clip"] = p.steps * max(1, len(p.seeds)) if p.steps else 0
    d["ms_per_frame"] = 1000.0 * p.seconds / frames
    return d


def _score_clip(name, source, points, model, diffusion, cfg, form, device, scale, nets, noise="fresh") -> dict:
    """Every point on one clip, the samplers in lockstep over its m-frame clips (the GT features once per clip);
    returns the middle frame of the first m-frame clip as each point drew it (and ``"GT"``), for the crops."""
    n = source.num_frames(name)
    lr_u8 = source.load_lr(name, range(n))
    if lr_u8 is None:
        lr_u8 = degrade_uint8(source.load_gt(name, range(n)), scale, cfg.data.degradation)
    lr = uint8_to_float(lr_u8)
    m = cfg.data.clip_length
    # one untimed call at this frame size first: the CPU's kernels are chosen (and cached) on the first call at a
    # shape, which would otherwise be charged to whichever point runs first
    sample_clip(model, diffusion, reflect_pad_time(lr[:m].to(device), m)[None], steps=1)
    runs = {}                                          # (steps, seed) -> clip generator, shared by the points
    for p in points:
        for s in p.seeds:
            if (p.steps, s) not in runs:
                sampler = VideoSampler(model, diffusion, clip_length=m, form=form, seed=s, device=device,
                                       steps=p.steps, noise=noise)
                runs[(p.steps, s)] = [sampler.clips(lr), 0.0]
    lp_vgg, lp_alex, dists = nets
    scores = {p.name: ClipScores(0, lp_vgg, lp_alex, device, dists) for p in points}
    shown, keep = {}, min(m, n) // 2
    for start in range(0, n, m):
        stop = min(start + m, n)
        outputs = {}
        for key, run in runs.items():
            t0 = time.perf_counter()
            s0, s1, sr = next(run[0])
            run[1] += time.perf_counter() - t0
            assert (s0, s1) == (start, stop)
            outputs[key] = sr
        t0 = time.perf_counter()
        bic = bicubic_upsample(lr[start:stop].double(), scale).float()
        bic_seconds = time.perf_counter() - t0
        ref = next(iter(scores.values())).reference(uint8_to_float(source.load_gt(name, range(start, stop))))
        if start == 0:
            shown["GT"] = ref.gt[keep]
        for p in points:
            if p.steps == 0:
                sr, p.seconds = bic, p.seconds + bic_seconds
            else:
                sr = torch.stack([outputs[(p.steps, s)] for s in p.seeds]).mean(0)
            scores[p.name].add(quantize(sr.clamp(0, 1)), ref)
            if start == 0:
                shown[p.name] = quantize(sr[keep].clamp(0, 1))
    for p in points:
        if p.steps:
            p.seconds += sum(runs[(p.steps, s)][1] for s in p.seeds)
        p.clips[name] = scores[p.name].means()
    return shown


def plane_summary(record: dict, source: str, device: str) -> dict:
    """The few numbers of a :func:`tradeoff` record that an export's JSON keeps under ``"plane"``: bicubic's
    averages and, per output, its gain over bicubic (PSNR-Y in dB, LPIPS-VGG), DISTS, tLP ×100 and time.
    ``source`` says which command made it; ``device`` the machine in words (the record only says "cpu")."""
    bic = next(p for p in record["points"] if p["steps"] == 0)["average"]
    dists = bic.get("dists") is not None

    def rounded(a: dict) -> dict:
        return {"dists": round(a["dists"], 4)} if dists else {}

    return {
        "source": source, "frames": record["frames"], "whole_frames": True, "device": device,
        "bicubic": {"psnr_y": round(bic["psnr_y"], 2), "lpips_vgg": round(bic["lpips_vgg"], 4), **rounded(bic),
                    "tlp_x100": round(bic["tlp"] * 100, 2)},
        "points": [{"label": p["label"], "network_calls_per_clip": p["network_calls_per_clip"],
                    "psnr_y_gain_db": round(p["average"]["psnr_y"] - bic["psnr_y"], 3),
                    "lpips_vgg_gain": round(p["average"]["lpips_vgg"] - bic["lpips_vgg"], 4), **rounded(p["average"]),
                    "tlp_x100": round(p["average"]["tlp"] * 100, 2), "ms_per_frame": round(p["ms_per_frame"])}
                   for p in record["points"] if p["steps"] != 0],
    }


def tradeoff_markdown(record: dict) -> str:
    """One row per point: averages and the gain over bicubic (PSNR Y, LPIPS)."""
    bic = next(p for p in record["points"] if p["steps"] == 0)["average"]
    dists = bic.get("dists") is not None
    head = ("| output | calls/clip | PSNR Y | Δ vs bicubic | SSIM Y | LPIPS VGG | Δ vs bicubic | "
            + ("DISTS | " if dists else "") + "tMAE ×255 | tLP ×100 | ms/frame |")
    calls = f"{record['default_steps']} network call" + "s" * (record["default_steps"] != 1)
    lines = [f"checkpoint `{Path(record['checkpoint']).name}` ({record['preset']}, T = {record['T']}, default "
             f"{calls}) on {', '.join(f'{c} ({n})' for c, n in record['frames'].items())}",
             "", head, "|---|" + "---:|" * (head.count("|") - 2)]
    for p in record["points"]:
        a = p["average"]
        lines.append(f"| {'**' + p['label'] + '**' if p['default'] else p['label']} | {p['network_calls_per_clip']} "
                     f"| {a['psnr_y']:.2f} | {a['psnr_y'] - bic['psnr_y']:+.2f} | {a['ssim_y']:.4f} "
                     f"| {a['lpips_vgg']:.4f} | {a['lpips_vgg'] - bic['lpips_vgg']:+.4f} | "
                     + (f"{a['dists']:.4f} | " if dists else "") + f"{a['tmae'] * 255:.2f} "
                     f"| {a['tlp'] * 100:.2f} | {p['ms_per_frame']:.0f} |")
    return "\n".join(lines) + "\n"


def chain_against_first(points: list[dict]) -> dict:
    """The chain a :func:`tradeoff` record's first step is set against: its default when that makes two calls or
    more, else the shortest chain scored (what a second call adds to a 1-call default)."""
    chains = [p for p in points if p["steps"] > 1 and len(p["seeds"]) == 1 and "_seed" not in p["name"]]
    return next((p for p in chains if p["default"]), None) or min(chains, key=lambda p: p["steps"])


def crop_points(points) -> list:
    """The points the crops show: bicubic, the first step, the default, the shortest chain of two calls or more
    (what a chain adds to the first step, also when the default is one call) and the mean of n samples."""
    single = [p for p in points if p.steps and len(p.seeds) == 1 and "_seed" not in p.name]
    chain = min((p.steps for p in single if p.steps >= 2), default=None)
    return [p for p in points if p.steps == 0 or len(p.seeds) > 1
            or (p in single and (p.steps in (1, chain) or p.default))]


def crops_figure(crops: dict, points, path=None, size: int = 96):
    """One row per clip: a ``size`` x ``size`` HR crop (where the ground truth has the most detail) of the middle
    frame of its first clip, as :func:`crop_points` draw it, and the GT."""
    import matplotlib

    if path is not None:
        matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    show = crop_points(points)
    cols = [(p.name, p.label) for p in show] + [("GT", "ground truth")]
    fig, axes = plt.subplots(len(crops), len(cols), figsize=(2.1 * len(cols), 2.3 * len(crops)), squeeze=False)
    for r, (clip, frames) in enumerate(crops.items()):
        gt = frames["GT"]
        z = min(size, gt.shape[-2], gt.shape[-1])
        y, x = _busiest_window(gt, z)
        for c, (key, label) in enumerate(cols):
            ax = axes[r, c]
            ax.imshow(frames[key][:, y:y + z, x:x + z].permute(1, 2, 0).clamp(0, 1).numpy(), interpolation="nearest")
            ax.set_title(f"{clip}: {label}" if c == 0 else label, fontsize=7)
            ax.axis("off")
    fig.tight_layout()
    if path is not None:
        atomic_write_png(path, fig)
        plt.close(fig)
    return fig


def _busiest_window(gt: torch.Tensor, z: int) -> tuple[int, int]:
    """Top-left corner of the z x z window of ``gt [3, H, W]`` with the most gradient energy (on a 16-px grid)."""
    g = gt.mean(0)
    energy = (g[1:, :-1] - g[:-1, :-1]).abs() + (g[:-1, 1:] - g[:-1, :-1]).abs()
    best, where = -1.0, (0, 0)
    for y in range(0, max(1, energy.shape[0] - z + 1), 16):
        for x in range(0, max(1, energy.shape[1] - z + 1), 16):
            e = float(energy[y:y + z, x:x + z].sum())
            if e > best:
                best, where = e, (y, x)
    return where


def _label_groups(xy: list, near: float = 0.05) -> list:
    """For labels of the points ``xy``: the index of the point whose label each one joins (itself when no point
    before it is within ``near`` of it, as a fraction of each axis' range), so near-equal outputs (the first step
    and the mean of its samples) get one label of two lines instead of two labels on top of each other."""
    xs, ys = [x for x, _ in xy], [y for _, y in xy]
    dx, dy = (max(xs) - min(xs)) or 1.0, (max(ys) - min(ys)) or 1.0
    owner = []
    for i, (x, y) in enumerate(xy):
        owner.append(next((owner[j] for j, (u, v) in enumerate(xy[:i])
                           if abs(x - u) < near * dx and abs(y - v) < near * dy), i))
    return owner


def plane_figure(record: dict, path=None):
    """The PSNR-LPIPS plane of a :func:`tradeoff` record (left) and every point's gain over bicubic beside the
    paper's Table 1 gains (right; another scale: a direction, not a target). Written to ``path`` as PNG."""
    import matplotlib

    if path is not None:
        matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    pts = record["points"]
    bic = next(p for p in pts if p["steps"] == 0)["average"]
    fig, (ax, bx) = plt.subplots(1, 2, figsize=(11, 4.4))
    chain = sorted((p for p in pts if p["steps"] and len(p["seeds"]) == 1 and "_seed" not in p["name"]),
                   key=lambda p: p["steps"])
    for a in (ax, bx):
        a.grid(alpha=0.3)
    ax.plot([p["average"]["psnr_y"] for p in chain], [p["average"]["lpips_vgg"] for p in chain], "-", color="C0",
            alpha=0.5, zorder=1)
    labelled = [p for p in pts if "_seed" not in p["name"]]
    owner = _label_groups([(p["average"]["psnr_y"], p["average"]["lpips_vgg"]) for p in labelled])
    xs = [p["average"]["psnr_y"] for p in labelled]
    x_right = min(xs) + 0.75 * (max(xs) - min(xs))
    for i, p in enumerate(labelled):
        if owner[i] == i:     # one label per group of near-equal points; in the right quarter it ends at the point
            a = p["average"]
            right = a["psnr_y"] > x_right
            text = "\n".join(q["label"] for j, q in enumerate(labelled) if owner[j] == i)
            ax.annotate(text, (a["psnr_y"], a["lpips_vgg"]), textcoords="offset points", xytext=(-6 if right else 5, 5),
                        ha="right" if right else "left", va="bottom", fontsize=8)
    for p in pts:
        a = p["average"]
        style = ("s", "k", 70) if p["steps"] == 0 else ("D", "C3", 60) if len(p["seeds"]) > 1 else \
            ("o", "C0", 22) if "_seed" in p["name"] else ("^", "C2", 80) if p["steps"] == 1 else ("o", "C0", 60)
        ax.scatter(a["psnr_y"], a["lpips_vgg"], marker=style[0], color=style[1], s=style[2], zorder=2,
                   edgecolors="k" if p["default"] else "none", linewidths=1.5)
        if p["steps"]:
            bx.scatter(a["psnr_y"] - bic["psnr_y"], a["lpips_vgg"] - bic["lpips_vgg"], marker=style[0],
                       color=style[1], s=style[2] * 0.7)
    ax.set_xlabel("PSNR Y (dB)  → less distortion")
    ax.set_ylabel("LPIPS VGG  ↓ more perceptual quality")
    ax.set_title(f"{Path(record['checkpoint']).name}: one network, several outputs", fontsize=10)
    for ds, rows in PAPER_TABLE1.items():
        b = rows["bicubic"]
        for method, (ps, lp) in rows.items():
            if method != "bicubic":
                bx.scatter(ps - b[0], lp - b[1], marker="*", s=120, color="C1" if method == "SeeClear" else "C7")
                bx.annotate(f"paper {method} ({ds})", (ps - b[0], lp - b[1]), textcoords="offset points",
                            xytext=(5, 3), fontsize=7)
    bx.axhline(0, color="k", lw=0.8)
    bx.axvline(0, color="k", lw=0.8)
    bx.set_xlabel("Δ PSNR over bicubic (dB)")
    bx.set_ylabel("Δ LPIPS over bicubic")
    bx.set_title("gain over bicubic; ★ the paper's Table 1 (another scale)", fontsize=10)
    fig.tight_layout()
    if path is not None:
        atomic_write_png(path, fig)
        plt.close(fig)
    return fig
