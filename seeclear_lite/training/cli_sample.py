"""``python -m seeclear_lite sample``: super-resolve a whole LR video with a trained checkpoint (Algorithm 1).

The video (a folder of LR frames, or a video file: .mp4, .gif, ...) is split into non-overlapping clips of
m = 5 frames, the last one reflect-padded and cropped back; each clip is sampled with the checkpoint's EMA
weights; a CaTeGory memory, if the model has one, is carried from clip to clip. Frames stream: LR frames are
decoded as the sampler needs them and every SR frame is written as soon as its clip is done, so memory does
not grow with the length of the video. Writes into ``--output``:
* ``SR/%08d.png``      the super-resolved frames (8-bit RGB PNG)
* ``bicubic/%08d.png`` MATLAB-bicubic x4 of the same frames (the baseline)
* ``side_by_side.gif`` bicubic | SeeClear-lite, frame by frame (the first ``--gif-frames`` frames)
* ``sample.json``      checkpoint, settings, frames, seconds per frame on this device

Example::
    python -m seeclear_lite sample --checkpoint runs/tiny/checkpoints/best.pt \\
        --input data/samples/BIx4/val_city --output results/sample_val_city
"""

from __future__ import annotations

import argparse
import itertools
import math
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch

from .. import __version__
from ..data.io import list_frames, to_uint8, write_image
from ..degradation import bicubic_upsample
from ..diffusion import POSTERIOR_FORMS, BlurringResShift
from ..utils import get_device
from ..utils.io import StagedOutput, atomic_write_bytes, atomic_write_text, check_output_dir
from ..utils.lock import FolderLock, LockedError, check_seed, output_option, refuse_overlap
from .checkpoint import CheckpointError, default_checkpoint, load_model
from .sampling import NOISE_MODES, VideoSampler, fast_path, iter_frames
from .tiling import TiledSampler, TilePlan, plan_tiles

#: ``--max-psnr`` for sample and evaluate, with the trade-off measured by ``tradeoff`` (README, "The reverse chain
#: on the perception-distortion plane").
MAX_PSNR_HELP = ("the highest-PSNR output: the network's one-step estimate x0_hat(x_T) (= --steps 1), one call per "
                 "clip and the least drawn detail. The shipped small.pt was trained for it and samples this way by "
                 "default. Measured for small.pt against bicubic on whole frames of four validation clips (PSNR-Y / "
                 "LPIPS-VGG): this +1.33 dB / -0.054; --steps 2 +1.02 / -0.056 (its lowest LPIPS, 0.029 lower than "
                 "this on printed text); the mean of two first steps +1.34 / -0.054 (0.01 dB more for two calls); "
                 "--steps 4 +0.51 / -0.040 (longer chains trade PSNR for drawn texture)")
#: What ``sample`` writes into ``--output`` (and replaces with ``--overwrite``).
OUTPUTS = ("SR", "bicubic", "side_by_side.gif", "sample.json")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.description = __doc__.split("\n\n")[0].replace("``", "")
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.epilog = "\n\n".join(__doc__.split("\n\n")[1:])
    parser.add_argument("--checkpoint", type=Path, default=None,
                        help="a checkpoint written by `train` or `export` (default: the shipped data/checkpoints/small.pt)")
    parser.add_argument("--input", type=Path, required=True, help="folder of LR frames or an LR video file")
    parser.add_argument("--output", required=True, help="results folder")
    group = parser.add_mutually_exclusive_group()
    group.add_argument("--steps", type=int, default=None, metavar="K",
                       help="network calls per clip on the re-spaced schedule, 1..T (default: the checkpoint's "
                            "diffusion.steps, else T); `python -m seeclear_lite tradeoff` scores each choice")
    group.add_argument("--max-psnr", action="store_true", help=MAX_PSNR_HELP)
    parser.add_argument("--noise", choices=NOISE_MODES, default=None,
                        help="the sampler's noise: per frame (fresh, Algorithm 1), one draw shared by a clip's "
                             "frames (shared: less flicker), or shared and the same for every clip (fixed); default: "
                             "the checkpoint's diffusion.noise")
    parser.add_argument("--form", choices=POSTERIOR_FORMS, default=None,
                        help="posterior form of the reverse step (default: the checkpoint's diffusion.form)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the sampler's noise")
    parser.add_argument("--max-frames", type=int, default=None, help="only the first N frames")
    parser.add_argument("--no-ema", action="store_true", help="use the raw weights instead of the EMA weights")
    parser.add_argument("--device", default=None, help="device (default: CUDA if available, else CPU)")
    parser.add_argument("--fps", type=float, default=8.0, help="frame rate of the GIF")
    parser.add_argument("--gif-frames", type=int, default=120,
                        help="frames in side_by_side.gif (kept in memory until the end; 0 = no GIF frames)")
    parser.add_argument("--tile", type=int, default=None, metavar="N",
                        help="sample in overlapping tiles of N x N LR pixels (default: only when a whole frame would "
                             "not fit in memory, which is estimated before sampling)")
    parser.add_argument("--overwrite", action="store_true", help="replace earlier results in --output")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    parser.add_argument("--no-fast", action="store_true", help="plain eager fp32 instead of the CPU fast path")


def read_video(path: Path, max_frames: int | None = None) -> torch.Tensor:
    """LR frames ``[T, 3, h, w]`` in [0, 1] from a folder of images or a video file (all in memory; the
    ``sample`` command itself streams with :func:`seeclear_lite.training.sampling.iter_frames`)."""
    frames = list(_checked_frames(Path(path), max_frames))
    return torch.stack(frames)


def _checked_frames(path: Path, max_frames: int | None = None):
    """:func:`iter_frames` with ``--input`` in the messages and a check that all frames have one size."""
    if not path.exists():
        raise FileNotFoundError(f"--input {path} does not exist: give a folder of LR frames (%08d.png) or a "
                                f"video file.")
    size = None
    try:
        for i, f in enumerate(iter_frames(path, max_frames)):
            if size is not None and tuple(f.shape) != size:
                raise ValueError(f"--input {path}: frame {i} has size {tuple(f.shape)} but frame 0 has {size}; "
                                 f"all frames must match.")
            size = tuple(f.shape)
            yield f
    except ValueError as err:
        msg = str(err)
        raise ValueError(msg if msg.startswith("--input") else f"--input {msg}") from None
    except (OSError, RuntimeError, KeyError, IndexError, StopIteration) as err:   # the video decoder's own errors
        if path.is_dir():
            raise
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise ValueError(f"--input {path} cannot be decoded as a video ({first}): the file is damaged or not a "
                         f"video; give a folder of PNG frames, or convert the video (e.g. ffmpeg -i IN -c:v libx264 "
                         f"OUT.mp4).") from None


def encode_gif(frames: list[np.ndarray], fps: float) -> bytes:
    import imageio.v3 as iio

    return iio.imwrite("<bytes>", np.stack(frames), extension=".gif", duration=1000.0 / fps, loop=0)


def weights_used(ckpt: dict, use_ema: bool) -> str:
    """``"EMA"`` or ``"raw"``: the weights :func:`~.checkpoint.load_model` took. An export holds only EMA weights
    (``model`` and ``ema`` are the same tensors), so it samples with EMA weights even when asked for the raw ones."""
    ema, model = ckpt.get("ema"), ckpt.get("model") or {}
    if ema is None:
        return "raw"
    if use_ema or str(ckpt.get("weights", "")).startswith("EMA"):
        return "EMA"
    same = bool(model) and set(model) == set(ema) and all(
        model[k].data_ptr() == ema[k].data_ptr() or torch.equal(model[k], ema[k]) for k in model)
    return "EMA" if same else "raw"


def run(checkpoint, source, output, *, steps=None, form=None, seed=0, max_frames=None, use_ema=True, device=None,
        fps=8.0, overwrite=False, progress=True, gif_frames=120, fast=True, log=print, tile=None,
        noise=None) -> dict:
    """The ``sample`` command as a function; returns what ``sample.json`` holds. ``--output`` is locked against a
    second writer, arguments, the checkpoint and the input frames are checked before anything is written, and the
    results go to a staging folder that replaces the old ones in ``output`` only when complete."""
    if not fps > 0 or not math.isfinite(fps):
        raise ValueError(f"--fps must be a number > 0 (frames per second of the GIF), got {fps}.")
    if gif_frames < 0:
        raise ValueError(f"--gif-frames must be >= 0, got {gif_frames}.")
    if max_frames is not None and max_frames < 1:
        raise ValueError(f"--max-frames must be >= 1, got {max_frames}.")
    check_seed(seed)
    output = output_option(output, "--output")
    checkpoint = default_checkpoint() if checkpoint is None else checkpoint
    refuse_overlap(output, "--output", [("--input", source), ("--checkpoint", checkpoint)])
    if output.exists() and not output.is_dir():
        raise NotADirectoryError(f"--output {output} is a file; give a folder.")
    with FolderLock(output, "--output", "sample"):
        return _run(checkpoint, source, output, steps=steps, form=form, seed=seed, max_frames=max_frames,
                    use_ema=use_ema, device=device, fps=fps, overwrite=overwrite, progress=progress,
                    gif_frames=gif_frames, fast=fast, log=log, tile=tile, noise=noise)


def _run(checkpoint, source, output, *, steps, form, seed, max_frames, use_ema, device, fps, overwrite, progress,
         gif_frames, fast, log, tile, noise=None) -> dict:
    check_output_dir(output, OUTPUTS, overwrite, option="--output")
    device = get_device(device=device)
    model, cfg, ckpt = load_model(checkpoint, use_ema=use_ema, device=device)
    weights = weights_used(ckpt, use_ema)
    if not use_ema and weights == "EMA":
        print(f"note: {checkpoint} holds EMA weights only (an export), so --no-ema has no other weights to use: "
              f"sampling with the EMA weights (sample.json says so).", file=sys.stderr)
    fast_path(model, device, fast)
    T = cfg.diffusion.T
    steps = steps if steps is not None else cfg.diffusion.steps
    if steps is not None and (isinstance(steps, bool) or not 1 <= steps <= T):
        raise ValueError(f"--steps {steps}: give 1..{T} network calls per clip (this model's T is {T}).")
    calls = steps or T
    noise = noise or cfg.diffusion.noise
    form = form or cfg.diffusion.form
    total = None
    if Path(source).is_dir():
        total = sum(1 for _ in _checked_frames(Path(source), max_frames))   # every frame decodes, one size
    frames = _checked_frames(Path(source), max_frames)
    first = next(frames)                     # decoding errors surface before anything is written
    diffusion = BlurringResShift.from_config(cfg.diffusion)
    sampler = VideoSampler(model, diffusion, clip_length=cfg.data.clip_length, form=form, seed=seed, device=device,
                           progress=progress, steps=steps, noise=noise)
    h, w = first.shape[-2:]
    plan = (plan_tiles(model, cfg, (h, w), device, tile=tile) if tile is not None or h * w > 32 * 32
            else TilePlan(None, 0, float("nan"), float("nan")))     # as small as the estimate's own probes
    if plan.tile is not None:
        sampler = TiledSampler(sampler, plan.tile, plan.overlap)
        log(f"note: {plan.reason}")
    log(f"sampling {total if total is not None else 'all'} frames {first.shape[-1]}x{first.shape[-2]} -> x4 on "
        f"{device} ({calls} of T = {T} steps, noise {noise}, form {form!r}, clips of {cfg.data.clip_length}"
        f"{f', tiles of {plan.tile} LR px' if plan.tile else ''})")
    pending: dict[int, torch.Tensor] = {}    # LR frames read but not yet written (at most one clip)

    def lr_frames():
        for i, f in enumerate(itertools.chain([first], frames)):
            pending[i] = f
            yield f

    with StagedOutput(output, OUTPUTS, overwrite, option="--output") as stage:
        gif, n = [], 0
        t0 = time.perf_counter()
        try:
            for i, sr in sampler.stream(lr_frames(), total):
                bic = bicubic_upsample(pending.pop(i)[None].double()).float().clamp(0, 1)[0]
                write_image(stage.path / "SR" / f"{i:08d}.png", sr)
                write_image(stage.path / "bicubic" / f"{i:08d}.png", bic)
                if len(gif) < gif_frames:
                    gif.append(torch.cat([to_uint8(bic), to_uint8(sr)], dim=-1).permute(1, 2, 0).numpy())
                n += 1
        except RuntimeError as err:          # the estimate was short: one line, and the earlier results stay
            text = str(err).lower()
            if "out of memory" not in text and "alloc" not in text:
                raise
            raise MemoryError(f"sampling {first.shape[-1]}x{first.shape[-2]} frames ran out of memory on {device}: "
                              f"pass --tile {max(16, (plan.tile or max(first.shape[-2:])) // 2)} (smaller tiles need "
                              f"less), or downscale the input.") from None
        wall = time.perf_counter() - t0
        if gif:
            atomic_write_bytes(stage.path / "side_by_side.gif", encode_gif(gif, fps))
        record = {"checkpoint": str(checkpoint), "step": int(ckpt["step"]), "kit_version": __version__,
                  "input": str(source), "frames": n, "lr_size": [int(first.shape[-2]), int(first.shape[-1])],
                  "steps": calls, "T": T, "noise": noise, "form": form, "seed": seed, "ema": weights == "EMA", "weights": weights,
                  "ema_requested": use_ema, "device": str(device),
                  "clip_length": cfg.data.clip_length, "clips": len(sampler.times),
                  "tile": {"lr_px": plan.tile, "overlap": plan.overlap} if plan.tile else None,
                  "seconds_per_frame": sum(sampler.times) / n, "wall_seconds": wall}
        atomic_write_text(stage.path / "sample.json", json.dumps(record, indent=1) + "\n")
        stage.commit()
    log(f"{n} frames in {wall:.1f} s: {record['seconds_per_frame'] * 1000:.0f} ms per frame (sampling only) on "
        f"{device}; frames in {output / 'SR'}, comparison in {output / 'side_by_side.gif'}")
    return record


def main(args: argparse.Namespace) -> int:
    try:
        run(args.checkpoint, args.input, args.output, steps=1 if args.max_psnr else args.steps, form=args.form,
            seed=args.seed, noise=args.noise,
            max_frames=args.max_frames, use_ema=not args.no_ema, device=args.device, fps=args.fps,
            overwrite=args.overwrite, progress=not args.no_progress, gif_frames=args.gif_frames, fast=not args.no_fast,
            tile=args.tile)
    except (CheckpointError, FileNotFoundError, FileExistsError, NotADirectoryError, ValueError, LockedError,
            MemoryError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    return 0
