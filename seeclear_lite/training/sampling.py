"""Super-resolving clips and whole videos with a trained network (Algorithm 1, clip by clip).

A video is split into non-overlapping clips of m = 5 frames (Sec. 3: "The LR video is initially split into
non-overlapping clips composed of m frames"); the last, shorter clip is reflect-padded in time to m frames
and cropped back. Each clip is sampled with :meth:`seeclear_lite.diffusion.BlurringResShift.sample` (its m
frames in parallel). When the model has a CaTeGory memory (Sec. 3.3), the memory state of one clip is
updated after that clip's last diffusion step and carried to the next (Algorithm 1 lines 42-44).

Streaming
---------
:meth:`VideoSampler.stream` reads LR frames from any iterable (e.g. :func:`iter_frames`, which decodes a
folder of images or a video file one frame at a time), keeps at most one clip of m LR frames, and yields
each SR frame as soon as its clip is sampled, so that peak memory depends on the frame size and m, never on
the length of the video (``tests/test_video_streaming.py`` checks 10 against 40 frames). ``on_frame(index,
sr)`` is a callback alternative to iterating (e.g. write each frame to disk). ``VideoSampler(...)(lr)`` is
the convenience form that returns the whole video as one tensor (it holds every frame, by design).

Conditioning
------------
Each clip is conditioned once (:meth:`seeclear_lite.models.SeeClear.condition`: the Semantic Distiller, the
clip tokens, the memory read and the LR pyramid; Algorithm 1 lines 5-7 and 24), then denoised in T steps, then
the memory is updated from the decoder features of the last step (:meth:`~seeclear_lite.models.SeeClear.update_memory`).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Callable, Iterable, Iterator

import torch

from ..config import NOISE_MODES
from ..data.io import list_frames, read_image, uint8_to_float
from ..diffusion import BlurringResShift
from ..utils import get_device
from ..utils.device import set_channels_last
from ..utils.ranges import to_diffusion_range, to_image_range
from .checkpoint import load_model


def fast_path(model, device, enabled: bool = True):
    """The CPU fast path (``python -m seeclear_lite bench`` measures it against the other variants): channels-last
    convolution weights, which oneDNN runs faster on a CPU, with the output within 1e-6 of eager fp32. On CUDA, and
    with ``enabled=False``, the model is left as it is. Returns the model."""
    fast = enabled and torch.device(device).type == "cpu"
    return set_channels_last(model, fast)


def denoiser(model, diffusion, cond, features: dict | None = None) -> Callable:
    """``net(x_t, y, t) -> x0_hat`` for :meth:`BlurringResShift.sample` (notebooks, trajectories): scales x_t as
    the diffusion says and calls the model with the clip's condition (Alg. 1 lines 8-40). With ``features`` (a
    dict) the decoder features of the latest call are kept in ``features["feats"]``."""
    def net(x_t, y, t):
        out = model(diffusion.scale_model_input(x_t, t), y, t, cond, return_features=features is not None)
        if features is None:
            return out
        x0_hat, features["feats"] = out
        return x0_hat
    return net




def draw_noise(y: torch.Tensor, generator: torch.Generator | None, mode: str = "fresh") -> torch.Tensor:
    """Standard normal noise shaped like ``y [B, m, 3, H, W]``: independent per frame (``fresh``), or one frame's
    draw repeated over the m frames (``shared``/``fixed``), so that drawn detail does not change from frame to
    frame where the scene does not."""
    if mode == "fresh" or y.dim() != 5:
        return torch.randn(y.shape, generator=generator, dtype=y.dtype, device=y.device)
    one = torch.randn((y.shape[0], 1, *y.shape[2:]), generator=generator, dtype=y.dtype, device=y.device)
    return one.expand(y.shape).contiguous()


@torch.no_grad()
def sample_clip(model, diffusion, lr01: torch.Tensor, *, form: str = "consistent",
                generator: torch.Generator | None = None, memory=None, progress: bool = False,
                callback: Callable | None = None, steps=None, x_start: torch.Tensor | None = None,
                noise: str = "fresh"):
    """One batch of clips ``lr01 [B, m, 3, h, w]`` ([0, 1]) -> ``(sr01 [B, m, 3, H, W], memory for the next clip)``
    (Algorithm 1 for one clip; the memory is None for a model without CaTeGory).

    The reverse loop lives here, where the clip's condition and the decoder features are, and takes one
    :meth:`~seeclear_lite.diffusion.BlurringResShift.step` per network call. ``steps``: None (all T), an int
    k (k network calls on the re-spaced schedule; 1 = the one-step estimate x0_hat(x_T)) or a descending list
    of steps; ``x_start`` (pixels, [-1, 1]) starts the chain at that list's first step. ``noise``: one of
    :data:`NOISE_MODES` (:func:`draw_noise`). The m frames of a clip
    go through the network together. ``sr01`` is the last x0 estimate mapped to [0, 1] and clamped (not
    quantized). ``callback(t, x_t, x0_hat)`` sees every step (trajectories)."""
    y = diffusion.upsample_lr(to_diffusion_range(lr01))
    cond = model.condition(lr01, y, memory)                                  # lines 5-7, 24
    ts = diffusion.chain_steps(steps, x_start is not None)
    u_l = diffusion.to_freq(y)
    if noise not in NOISE_MODES:
        raise ValueError(f"noise must be one of {NOISE_MODES}, got {noise!r}.")
    if x_start is not None:
        u = diffusion.to_freq(x_start.to(y.dtype))
    elif noise == "fresh":
        u = diffusion.prior_sample(y, generator)
    else:                                                                    # Eq. 6 with the shared draw
        u = u_l + diffusion.kappa * float(diffusion.eta[-1]) ** 0.5 * draw_noise(y, generator, noise)
    pairs = list(zip(ts, ts[1:] + [0]))
    if progress:
        from tqdm.auto import tqdm

        pairs = tqdm(pairs, desc="sampling", leave=False)
    for t, s in pairs:                                                       # lines 8-41
        x_t = diffusion.from_freq(u)
        t_batch = torch.full((y.shape[0],), t, dtype=torch.long, device=y.device)
        x0_hat, feats = model(diffusion.scale_model_input(x_t, t), y, t_batch, cond, return_features=True)
        x0_hat = x0_hat.to(y.dtype).clamp(-1.0, 1.0)
        if callback is not None:
            callback(t, x_t, x0_hat)
        if s == 0:
            break
        eps = None if noise == "fresh" else draw_noise(y, generator, noise)
        u = diffusion.step(u, diffusion.to_freq(x0_hat), u_l, t, s, form, generator, noise=eps)
    new_memory = model.update_memory(memory, feats, cond)                   # lines 42-44
    return to_image_range(x0_hat).clamp(0.0, 1.0), new_memory


def split_clips(num_frames: int, m: int) -> list[tuple[int, int]]:
    """Non-overlapping ``[start, stop)`` clips of ``m`` frames; the last may be shorter (padded later)."""
    if num_frames < 1 or m < 1:
        raise ValueError(f"need at least one frame and m >= 1, got {num_frames} frames, m={m}.")
    return [(s, min(s + m, num_frames)) for s in range(0, num_frames, m)]


def reflect_pad_time(frames: torch.Tensor, m: int) -> torch.Tensor:
    """``[n, ...]`` with n <= m -> ``[m, ...]`` by reflecting in time (n = 3, m = 5: 0 1 2 1 0)."""
    n = frames.shape[0]
    if n == m:
        return frames
    idx, i, step = [], 0, 1
    while len(idx) < m:
        idx.append(i)
        if n == 1:
            continue
        if not 0 <= i + step < n:
            step = -step
        i += step
    return frames[torch.tensor(idx, device=frames.device)]


def iter_frames(source, max_frames: int | None = None) -> Iterator[torch.Tensor]:
    """LR frames ``[3, h, w]`` in [0, 1], decoded one at a time (lazily) from a folder of images (sorted by
    name) or a video file (.mp4, .gif, ... through imageio); at most ``max_frames``. Nothing is read before
    the consumer asks for the frame, so a long video never sits in memory."""
    import numpy as np

    path = Path(source)
    if not path.exists():
        raise FileNotFoundError(f"{path} does not exist: give a folder of LR frames (%08d.png) or a video file.")
    if max_frames is not None and max_frames < 1:
        raise ValueError(f"max_frames must be >= 1 (or None for all frames), got {max_frames}.")
    if path.is_dir():
        files = list_frames(path)[:max_frames]
        if not files:
            raise ValueError(f"{path} holds no image files (.png, .jpg, ...).")
        for f in files:
            yield read_image(f)
        return
    if path.suffix.lower() not in VIDEO_EXTENSIONS:
        raise ValueError(f"{path} is neither a folder nor a video file ({', '.join(VIDEO_EXTENSIONS)}).")
    import imageio.v3 as iio

    n = 0
    for f in iio.imiter(path):
        if max_frames is not None and n >= max_frames:
            break
        f = np.asarray(f)
        if f.ndim == 2:
            f = np.repeat(f[..., None], 3, axis=-1)
        n += 1
        yield uint8_to_float(f[..., :3])
    if n == 0:
        raise ValueError(f"{path}: no frames could be decoded.")


#: Video containers :func:`iter_frames` decodes (anything else must be a folder of images).
VIDEO_EXTENSIONS = (".mp4", ".avi", ".mov", ".mkv", ".webm", ".mpg", ".mpeg", ".gif")


class VideoSampler:
    """Algorithm 1 over a whole video, clip by clip, with the CaTeGory memory carried from clip to clip.

    * ``sampler.stream(frames)`` -- the streaming form: ``frames`` is any iterable of LR frames ``[3, h, w]``
      in [0, 1] (a generator, :func:`iter_frames`, or a ``[T, 3, h, w]`` tensor); yields ``(index, sr)`` with
      ``sr [3, H, W]`` on the CPU as soon as the frame's clip is done. At most one clip is held.
    * ``sampler.clips(lr)`` -- the same, one clip at a time: ``(start, stop, sr [stop-start, 3, H, W])``.
    * ``sampler(lr)`` -- ``lr [T, 3, h, w]`` -> ``[T, 3, H, W]`` (holds the whole video).

    Clips of ``clip_length`` (m) frames, non-overlapping; the last, shorter one is reflect-padded to m
    frames and its padding cropped off the output. ``seed`` fixes the sampler's noise (one generator for the
    video, on the model's device). ``carry_memory=False`` samples every clip from the learned memory
    (C̄, T̄) instead of the updated one: the "without memory update" ablation of notebook 06.
    ``steps`` (None = all T) is the number of network calls per clip on the re-spaced schedule (1 = the
    one-step estimate), or the descending list of steps themselves, from T (e.g. ``[15, 3]``); ``noise`` how the
    noise is drawn (:data:`NOISE_MODES`). ``progress`` shows a bar over clips and one over the diffusion steps of
    each clip. ``times`` holds the seconds spent on each clip; ``memories`` the memory state after each clip when
    ``keep_memories``.
    """

    def __init__(self, model, diffusion, clip_length: int = 5, form: str = "consistent", seed: int = 0,
                 device=None, progress: bool = False, carry_memory: bool = True, keep_memories: bool = False,
                 steps: int | list | None = None, noise: str = "fresh"):
        if noise not in NOISE_MODES:
            raise ValueError(f"noise must be one of {', '.join(NOISE_MODES)}, got {noise!r}.")
        self.noise = noise
        if int(clip_length) < 1:
            raise ValueError(f"clip_length (m) must be >= 1, got {clip_length}.")
        diffusion.chain_steps(steps)                           # checked here, before any frame is read
        self.steps = steps
        self.model, self.diffusion, self.m, self.form = model.eval(), diffusion, int(clip_length), form
        self.device = device if device is not None else next(model.parameters()).device
        self.seed, self.progress = seed, progress
        self.carry_memory, self.keep_memories = carry_memory, keep_memories
        self.times: list[float] = []
        self.memories: list = []

    def _check_frame(self, frame, index: int, size) -> tuple:
        if not isinstance(frame, torch.Tensor) or frame.dim() != 3 or frame.shape[0] != 3:
            shape = tuple(frame.shape) if isinstance(frame, torch.Tensor) else type(frame).__name__
            raise ValueError(f"frame {index} must be an RGB tensor [3, h, w] in [0, 1], got {shape}; a whole "
                             f"video goes in as a [T, 3, h, w] tensor or an iterable of frames.")
        if size is not None and tuple(frame.shape) != size:
            raise ValueError(f"frame {index} has shape {tuple(frame.shape)} but the video's first frame has "
                             f"{size}: every frame of a video must have the same size.")
        return tuple(frame.shape)

    def _run_clip(self, buffer: list, gen, memory):
        """Sample one clip of n <= m buffered LR frames -> (sr [n, 3, H, W] on the CPU, memory for the next)."""
        n = len(buffer)
        clip = reflect_pad_time(torch.stack(buffer).to(self.device), self.m)[None]   # [1, m, 3, h, w]
        t0 = time.perf_counter()
        if self.noise == "fixed":                          # the same noise field for every clip of the video
            gen.manual_seed(self.seed)
        sr, new_memory = sample_clip(self.model, self.diffusion, clip, form=self.form, generator=gen,
                                     memory=memory if self.carry_memory else None, progress=self.progress,
                                     steps=self.steps, noise=self.noise)
        sr = sr[0, :n].float().cpu()                      # crop the reflected padding back off
        self.times.append(time.perf_counter() - t0)
        if self.keep_memories and new_memory is not None:
            self.memories.append(new_memory)
        return sr, (new_memory if self.carry_memory else None)

    def _clip_stream(self, frames: Iterable[torch.Tensor], total: int | None = None):
        """Yield ``(start, stop, sr)`` clip by clip, reading ``frames`` lazily (at most m LR frames held)."""
        if isinstance(frames, torch.Tensor):
            if frames.dim() != 4:
                raise ValueError(f"lr must be a video [T, 3, h, w] in [0, 1], got shape {tuple(frames.shape)}.")
            total = frames.shape[0]
        elif total is None and hasattr(frames, "__len__"):
            total = len(frames)
        gen = torch.Generator(device=self.device).manual_seed(self.seed)
        self.times, self.memories = [], []
        bar = None
        if self.progress:
            from tqdm.auto import tqdm

            bar = tqdm(total=None if total is None else -(-total // self.m), desc="clips", unit="clip")
        memory, buffer, start, size = None, [], 0, None
        try:
            for i, frame in enumerate(frames):
                size = self._check_frame(frame, i, size)
                buffer.append(frame)
                if len(buffer) == self.m:
                    sr, memory = self._run_clip(buffer, gen, memory)
                    buffer = []
                    if bar is not None:
                        bar.update(1)
                    yield start, start + self.m, sr
                    start += self.m
            if buffer:                                    # the last, shorter clip (reflect-padded)
                sr, memory = self._run_clip(buffer, gen, memory)
                if bar is not None:
                    bar.update(1)
                yield start, start + len(buffer), sr
                start += len(buffer)
        finally:
            if bar is not None:
                bar.close()
        if start == 0:
            raise ValueError("the video has no frames: give at least one LR frame [3, h, w].")

    def clips(self, lr, total: int | None = None):
        """Yield ``(start, stop, sr01 [stop-start, 3, H, W] on the CPU)`` clip by clip (streaming)."""
        return self._clip_stream(lr, total)

    def stream(self, frames, total: int | None = None,
               on_frame: Callable[[int, torch.Tensor], None] | None = None) -> Iterator[tuple[int, torch.Tensor]]:
        """Yield ``(index, sr [3, H, W])`` frame by frame (see the class doc); ``on_frame(index, sr)`` is
        called for each frame as well. ``total`` (number of frames, if known) sizes the progress bar."""
        for start, _, sr in self._clip_stream(frames, total):
            for k in range(sr.shape[0]):
                if on_frame is not None:
                    on_frame(start + k, sr[k])
                yield start + k, sr[k]

    def run(self, frames, on_frame: Callable[[int, torch.Tensor], None], total: int | None = None) -> int:
        """Sample the whole video, handing each SR frame to ``on_frame(index, sr)`` (e.g. write it to disk);
        keeps nothing. Returns the number of frames."""
        n = 0
        for _ in self.stream(frames, total, on_frame):
            n += 1
        return n

    def __call__(self, lr: torch.Tensor) -> torch.Tensor:
        return torch.cat([sr for _, _, sr in self.clips(lr)])


def checkpoint_super_resolver(checkpoint, device=None, form: str | None = None, seed: int = 0, use_ema: bool = True,
                              fast: bool = True, steps: int | None = None, noise: str | None = None):
    """``sr = f(lr)``: a whole video ``lr [T, 3, h, w]`` in [0, 1] -> ``[T, 3, 4h, 4w]`` in [0, 1] with a trained
    checkpoint (EMA weights, the checkpoint's posterior form unless ``form``, the CPU fast path unless
    ``fast=False``; ``steps`` network calls per clip, default the checkpoint's ``diffusion.steps``, else T), clip by clip with memory. The SR function the evaluation harness and notebook 08 plug in;
    ``f.sampler.times`` holds seconds per clip."""
    device = get_device(device=device)
    model, cfg, _ = load_model(checkpoint, use_ema=use_ema, device=device)
    fast_path(model, device, fast)
    sampler = VideoSampler(model, BlurringResShift.from_config(cfg.diffusion), clip_length=cfg.data.clip_length,
                           form=form or cfg.diffusion.form, seed=seed, device=device,
                           steps=steps if steps is not None else cfg.diffusion.steps,
                           noise=noise or cfg.diffusion.noise)

    def super_resolve(lr: torch.Tensor) -> torch.Tensor:
        return sampler(lr)

    super_resolve.sampler, super_resolve.config = sampler, cfg
    return super_resolve
