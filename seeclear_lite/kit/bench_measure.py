"""The measurements behind ``python -m seeclear_lite bench`` (:mod:`.bench`, the command and its tables): sampling
speed per variant in Table 5's setting, the machine's peak, one sampling step's profile, training throughput and
the evaluation metrics' cost. :func:`measure_bench` takes plain arguments and returns the report as a dict."""

from __future__ import annotations

import datetime as _dt
import statistics
import tempfile
import time
from pathlib import Path

import torch

from ..config import get_config
from ..diffusion import BlurringResShift
from ..evaluation.harness import load_lpips_pair
from ..metrics import get_lpips, psnr, ssim, temporal_error, temporal_lpips
from ..metrics.clip_scores import ClipScores
from ..models import build_model
from ..models.info import flop_report, parameter_report
from ..training.engine import Trainer
from ..training.sampling import fast_path, sample_clip
from ..utils import get_device
from ..utils.device import device_name, set_channels_last


#: The paper's figures (Table 5), measured on the authors' hardware, not on this machine.
PAPER_FIGURES = {"seeclear_params_m": 229.23, "seeclear_s_per_frame": 1.142, "resshift_s_per_frame": 1.12,
                 "note": "Table 5 of the paper, 512x512 output from 128x128 input, T = 15, on the authors' "
                         "hardware (not this machine)"}

#: name -> (bf16 autocast, channels-last, torch.compile). Two CPU variants change something else (see VARIANT_NOTES).
VARIANTS = {
    "eager_fp32": (False, False, False),
    "fp32_channels_last": (False, True, False),
    "bf16": (True, False, False),
    "bf16_channels_last": (True, True, False),
    "fp32_channels_last_compile": (False, True, True),
    "bf16_channels_last_compile": (True, True, True),
    "eager_fp32_1thread": (False, False, False),
    "recompute_per_step": (False, False, False),
}
VARIANT_NOTES = {
    "eager_fp32_1thread": "eager fp32 with torch.set_num_threads(1) (the others use every core)",
    "recompute_per_step": "eager fp32, but the clip's condition (distiller, clip tokens, memory read, LR pyramid) "
                          "computed again at every diffusion step: what Algorithm 1's once-per-clip work saves",
}
#: The variant ``sample``, ``evaluate --method checkpoint``, notebook 08 and training use on a CPU (``--no-fast``
#: / ``runtime.fast=false`` turn it off): the fastest one measured whose output stays within 1e-2 of eager fp32.
CPU_FAST_VARIANT = "fp32_channels_last"
BENCH_FORMAT = "seeclear-lite-bench/1"
#: A variant may become the default only if its output stays this close to eager fp32 (mean |diff| on [0, 1]).
ACCURACY = 1e-2


class _TimedNet(torch.nn.Module):
    """The model as the sampler sees it: bf16 autocast around its calls only (the diffusion arithmetic stays
    float32), and an optional hook run before each network call (the profiler's step marker)."""

    def __init__(self, module, amp: bool, device_type: str, recompute: bool = False):
        super().__init__()
        self.module, self.amp, self.device_type, self.recompute = module, amp, device_type, recompute
        self.before_call = None
        self._condition_args = None

    def forward(self, x_t, y, t, cond=None, **kwargs):
        if self.before_call is not None:
            self.before_call()
        with torch.autocast(self.device_type, dtype=torch.bfloat16, enabled=self.amp):
            if self.recompute:                  # what Algorithm 1 would cost without its once-per-clip work
                cond = self.module.condition(*self._condition_args)
            return self.module(x_t, y, t, cond, **kwargs)

    def condition(self, *args, **kwargs):
        self._condition_args = args
        with torch.autocast(self.device_type, dtype=torch.bfloat16, enabled=self.amp):
            return self.module.condition(*args, **kwargs)

    def update_memory(self, *args, **kwargs):
        with torch.autocast(self.device_type, dtype=torch.bfloat16, enabled=self.amp):
            return self.module.update_memory(*args, **kwargs)


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def device_description(device: torch.device) -> dict:
    d = {"type": device.type, "torch": str(torch.__version__), "name": device_name(device)}
    if device.type == "cuda":
        p = torch.cuda.get_device_properties(device)
        d.update(memory_gib=round(p.total_memory / 2**30, 1), cuda=torch.version.cuda,
                 cudnn=torch.backends.cudnn.version())
    else:
        d.update(threads=torch.get_num_threads())
    return d


def native_bf16() -> tuple[bool, str]:
    """(does this CPU do bf16 arithmetic natively?, why): AVX-512 BF16 or AMX in the CPU flags, which oneDNN
    uses for bf16 matmuls and convolutions; without them bf16 is emulated and only slower."""
    try:
        flags = next(line for line in open("/proc/cpuinfo", encoding="utf-8") if line.startswith("flags")).split()
    except (OSError, StopIteration):
        return False, "no /proc/cpuinfo to read the CPU flags from"
    have = [f for f in ("amx_bf16", "avx512_bf16") if f in flags]
    return (bool(have), f"CPU flags: {', '.join(have)}" if have else "no avx512_bf16 / amx_bf16 in the CPU flags: "
                                                                   "bf16 would be emulated")


def skip_reason(variant: str, device: torch.device, compile_asked: bool) -> str | None:
    """Why ``variant`` is not measured on ``device`` (None = it is)."""
    amp, _, comp = VARIANTS[variant]
    if comp and not compile_asked:
        return "torch.compile not asked (pass --compile; compiling takes minutes)"
    if device.type == "cuda" and variant in VARIANT_NOTES:
        return "a CPU variant"
    if amp and device.type == "cpu":
        ok, why = native_bf16()
        if not ok:
            return why
    return None


def measure_peak(device: torch.device, seconds: float = 1.0) -> dict:
    """The machine's own throughput on large, well-shaped work, per dtype: a 2048² matrix multiply and a 3×3
    convolution (64 -> 64 channels on 5 × 128² maps, channels-last). The best of a few timed repeats."""
    out = {}
    dtypes = [("fp32", torch.float32)]
    if device.type == "cuda" or native_bf16()[0]:
        dtypes.append(("bf16", torch.bfloat16))
    g = torch.Generator(device=device).manual_seed(0)
    for name, dt in dtypes:
        a = torch.randn(2048, 2048, device=device, generator=g).to(dt)
        b = torch.randn(2048, 2048, device=device, generator=g).to(dt)
        x = torch.randn(5, 64, 128, 128, device=device, generator=g).to(dt).contiguous(memory_format=torch.channels_last)
        w = torch.randn(64, 64, 3, 3, device=device, generator=g).to(dt).contiguous(memory_format=torch.channels_last)
        work = {"matmul_gflops": (lambda: a @ b, 2 * 2048 ** 3),
                "conv3x3_gflops": (lambda: torch.nn.functional.conv2d(x, w, padding=1), 2 * 5 * 128 * 128 * 64 * 64 * 9)}
        res = {}
        for key, (fn, flops) in work.items():
            fn()
            best, t_end = float("inf"), time.perf_counter() + seconds
            while time.perf_counter() < t_end:
                _sync(device)
                t0 = time.perf_counter()
                fn()
                _sync(device)
                best = min(best, time.perf_counter() - t0)
            res[key] = flops / best / 1e9
        res["peak_gflops"] = max(res.values())
        out[name] = res
    return out


def build_bench_model(name: str, steps: int, device: torch.device, seed: int):
    """(model in eval mode on ``device``, its Blurring ResShift with T = ``steps``)."""
    cfg = get_config(name, {"diffusion.T": steps})
    torch.manual_seed(seed)
    model = build_model(cfg.model)
    # The output layer starts at zero (ResShift-style), which makes a fresh network's output independent of all
    # it computes inside: the variants' outputs would agree exactly whatever their numerics. Small random
    # weights there make the accuracy column ("mean abs diff" vs eager fp32) measure something.
    with torch.no_grad():
        for p in model.parameters():
            if p.dim() > 1 and not p.any():
                torch.nn.init.normal_(p, std=0.02)
    return model.to(device).eval(), BlurringResShift.from_config(cfg.diffusion)


def time_variant(model, diffusion, lr01: torch.Tensor, variant: str, *, warmup: int, repeats: int, seed: int,
                 calls: int | None = None):
    """Time ``sample_clip`` (Algorithm 1 on one clip, ``calls`` network calls on the re-spaced schedule; None: all
    T) for ``variant``; returns (result dict, SR output)."""
    device = lr01.device
    amp, channels_last, comp = VARIANTS[variant]
    set_channels_last(model, channels_last)
    net = _TimedNet(torch.compile(model) if comp else model, amp, device.type,
                    recompute=variant == "recompute_per_step")
    threads = torch.get_num_threads()
    if variant == "eager_fp32_1thread":
        torch.set_num_threads(1)
    m = lr01.shape[1]
    # cuDNN autotuning for the fast variants only (the eager reference keeps PyTorch's defaults)
    prev_benchmark = torch.backends.cudnn.benchmark
    torch.backends.cudnn.benchmark = bool(amp and device.type == "cuda")
    if device.type == "cuda":
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats(device)
    times, out = [], None
    t_first = time.perf_counter()
    try:
        for i in range(warmup + repeats):
            gen = torch.Generator(device=device).manual_seed(seed)
            _sync(device)
            t0 = time.perf_counter()
            out, _ = sample_clip(net, diffusion, lr01, generator=gen, steps=calls)
            _sync(device)
            if i == 0:
                first = time.perf_counter() - t_first
            if i >= warmup:
                times.append(time.perf_counter() - t0)
    finally:
        torch.backends.cudnn.benchmark = prev_benchmark
        torch.set_num_threads(threads)
    per_frame = [t / m for t in times]
    res = {"status": "ok", "seconds_per_frame": statistics.median(per_frame), "seconds_per_frame_min": min(per_frame),
           "seconds_per_clip": statistics.median(times), "times_s": [round(t, 6) for t in times],
           "first_clip_s": first, "output_finite": bool(torch.isfinite(out).all()),
           "cudnn_benchmark": bool(amp and device.type == "cuda")}
    if device.type == "cuda":
        res["peak_memory_mib"] = torch.cuda.max_memory_allocated(device) / 2**20
    model.to(memory_format=torch.contiguous_format)
    return res, net, out


def profile_one_step(net: _TimedNet, diffusion, lr01: torch.Tensor, seed: int, title: str, rows: int = 25) -> str:
    """``torch.profiler`` tables of one sampling step: the span from one network call to the next (one network
    evaluation + one posterior update, t = T), by device time (CUDA) and by CPU time."""
    from torch.profiler import ProfilerActivity, profile, schedule

    device = lr01.device
    acts = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if device.type == "cuda" else [])
    gen = torch.Generator(device=device).manual_seed(seed)
    # step 0 (warm-up state): from the start to the first network call (distiller, prior);
    # step 1 (active): the first network call up to the second one = one sampling step
    with profile(activities=acts, schedule=schedule(wait=0, warmup=1, active=1, repeat=1)) as prof:
        net.before_call = prof.step
        try:
            sample_clip(net, diffusion, lr01, generator=gen)
            _sync(device)
        finally:
            net.before_call = None
    avg = prof.key_averages()
    parts = [f"== {title}: one sampling step (network + posterior update) =="]
    keys = (["self_device_time_total", "self_cuda_time_total"] if device.type == "cuda" else []) + ["self_cpu_time_total"]
    done = set()
    for key in keys:
        kind = "cpu" if "cpu" in key else "device"
        if kind in done:
            continue
        try:
            table = avg.table(sort_by=key, row_limit=rows)
        except (KeyError, AttributeError, ValueError, RuntimeError):
            continue
        done.add(kind)
        parts.append(f"-- sorted by {key} --\n{table}")
    return "\n".join(parts) + "\n"


@torch.no_grad()
def measure_evaluation(device: torch.device, frames: int = 6, size: tuple = (576, 720), seed: int = 0) -> dict:
    """Seconds per frame of the evaluation's metrics (PSNR / SSIM RGB and Y, LPIPS-VGG, tMAE, tLP) on Vid4-sized
    frames, two ways in one run: each transition's AlexNet features computed on its own with contiguous tensors
    (how the harness worked before), and the harness now (each frame's features once, the CPU fast path)."""
    frames = max(2, frames)                             # tLP needs a transition
    g = torch.Generator().manual_seed(seed)
    sr = torch.rand(frames, 3, *size, generator=g)
    gt = (sr + 0.05 * torch.rand(sr.shape, generator=g)).clamp(0, 1)
    vgg, alex = get_lpips("vgg", device), get_lpips("alex", device)

    def before():
        for m in (vgg, alex):
            fast_path(m, device, enabled=False)
        for k in ("psnr", "ssim"):
            fn = psnr if k == "psnr" else ssim
            fn(sr, gt), fn(sr, gt, y_channel=True)
        vgg(sr.to(device), gt.to(device))
        pairs = lambda x: torch.stack([x[:-1], x[1:]], 1).to(device)  # noqa: E731
        temporal_lpips(pairs(sr), pairs(gt), net=alex)
        temporal_error(pairs(sr), pairs(gt))

    def now():
        lp_vgg, lp_alex = load_lpips_pair(device, True, fast=True)
        ClipScores(0, lp_vgg, lp_alex, device).add(sr, gt)

    out = {"frames": frames, "size": list(size)}
    for name, fn in (("before_s_per_frame", before), ("now_s_per_frame", now)):
        fn()
        _sync(device)
        t0 = time.perf_counter()
        fn()
        _sync(device)
        out[name] = (time.perf_counter() - t0) / frames
    out["speedup"] = out["before_s_per_frame"] / out["now_s_per_frame"]
    for m in (vgg, alex):
        fast_path(m, device, enabled=False)
    return out


def measure_training(preset: str, device: torch.device, steps: int, warmup: int, pack: Path | None, seed: int) -> dict:
    """Throughput of the engine's training step (:meth:`Trainer._train_step`, the preset's first stage)."""
    out = {}
    for name, fast in (("eager_fp32", False), ("fast", True)):
        out[name] = _measure_training(preset, device, steps, warmup, pack, seed, fast)
        if out[name]["status"] != "ok":
            return out[name]
    res = dict(out["fast"])
    res["eager_fp32"] = out["eager_fp32"]
    res["speedup_vs_eager"] = out["eager_fp32"]["seconds_per_step"] / out["fast"]["seconds_per_step"]
    return res


def _measure_training(preset: str, device: torch.device, steps: int, warmup: int, pack: Path | None, seed: int,
                      fast: bool) -> dict:
    overrides = {"val.every": 0, "runtime.progress": False, "seed": seed, "runtime.fast": fast}
    if pack is not None:
        overrides.update({"data.source": "pack", "data.root": str(pack)})
    elif get_config(preset).data.source in ("corpus", "basicsr", "pack"):
        # the sample clips have 8 frames: one m-frame clip per sample (recorded in the report)
        overrides.update({"data.source": "samples", "data.num_workers": 0, "data.clips_per_sample": 1})
    cfg = get_config(preset, overrides)
    with tempfile.TemporaryDirectory() as tmp:
        trainer = Trainer(cfg, tmp, device=device, log=lambda *a, **k: None)
        trainer._enter_stage(0)

        def batches():
            epoch = 0
            while True:
                yield from trainer._loader(epoch, 0)
                epoch += 1

        it = batches()
        if device.type == "cuda":
            torch.cuda.reset_peak_memory_stats(device)
        times, losses = [], []
        for i in range(warmup + steps):
            batch = next(it)
            _sync(device)
            t0 = time.perf_counter()
            out = trainer._train_step(batch)
            _sync(device)
            if i >= warmup:
                times.append(time.perf_counter() - t0)
                losses.append(out["loss"])
    step_s = statistics.median(times)
    b, k, m = cfg.data.batch_size, cfg.data.clips_per_sample, cfg.data.clip_length
    res = {"status": "ok", "preset": preset, "stage": cfg.stages[0].name,
           "data": cfg.data.source, "batch_size": b, "clips_per_sample": k, "clip_length": m,
           "gt_patch": cfg.data.gt_patch, "amp": trainer.amp, "fast": fast, "steps_timed": steps,
           "seconds_per_step": step_s,
           "samples_per_s": b / step_s, "clips_per_s": b * k / step_s, "frames_per_s": b * k * m / step_s,
           "loss_finite": all(map(lambda v: v == v and abs(v) != float("inf"), losses)),
           "note": "compute of the engine's step only (data loading excluded); a sample = clips_per_sample "
                   "consecutive m-frame clips"}
    if device.type == "cuda":
        res["peak_memory_mib"] = torch.cuda.max_memory_allocated(device) / 2**20
    return res


def _failure(err: BaseException) -> dict:
    return {"status": "failed", "reason": f"{type(err).__name__}: {str(err).splitlines()[0] if str(err) else ''}"[:300]}


def _measure_config(entry: dict, name: str, device: torch.device, *, settings: dict, peak: dict, use_compile: bool,
                    profile_step: bool, seed: int, save, log) -> str:
    """Fill ``entry`` with configuration ``name``'s FLOPs and variants (``save(profile_text)`` after each one);
    returns the profile of its fastest variant (``profile_step``)."""
    size, steps, clip_length = settings["size"], settings["steps"], settings["clip_length"]
    calls = settings["calls"]
    variants, lr_size = settings["variants"], settings["lr_size"]
    profile_text = ""
    try:
        model, diffusion = build_bench_model(name, steps, device, seed)
        pad = model.config.pad_multiple
        if size % pad:
            raise ValueError(f"size {size} is not a multiple of {pad}, the frame-size multiple of the "
                             f"{name!r} configuration")
    except (ValueError, RuntimeError) as err:
        entry["variants"] = {v: _failure(err) for v in variants}
        save(profile_text)
        return profile_text
    g = torch.Generator().manual_seed(seed)
    lr01 = torch.rand(1, clip_length, 3, lr_size, lr_size, generator=g).to(device)
    try:   # counted FLOPs per output frame (meta tensors, seconds): gives each variant's achieved TFLOP/s
        entry["flops_per_frame"] = flop_report(name, size=size, steps=calls,
                                               clip_length=clip_length)["flops_per_frame"]
    except (ValueError, RuntimeError) as err:
        entry["flops_per_frame"] = None
        entry["flops_note"] = f"{type(err).__name__}: {err}"
    state = {"ref": None, "best": None}

    def measure(v):
        reason = skip_reason(v, device, use_compile)
        if reason is not None:
            entry["variants"][v] = {"status": "skipped", "reason": reason}
            return
        try:
            res, net, out = time_variant(model, diffusion, lr01, v, warmup=settings["warmup"],
                                         repeats=settings["repeats"], seed=seed, calls=calls)
        except (RuntimeError, torch.cuda.OutOfMemoryError) as err:   # e.g. out of memory, compile errors
            entry["variants"][v] = _failure(err)
            log(f"[bench] {name} {v}: {entry['variants'][v]['reason']}")
            if device.type == "cuda":
                torch.cuda.empty_cache()
            return
        if state["ref"] is None:
            state["ref"] = (res["seconds_per_frame"], out)
        ref = state["ref"]
        res["speedup_vs_eager"] = ref[0] / res["seconds_per_frame"]
        res["mean_abs_diff_vs_eager"] = float((out.float() - ref[1].float()).abs().mean())
        if entry["flops_per_frame"]:
            res["tflops_per_s"] = entry["flops_per_frame"] / res["seconds_per_frame"] / 1e12
            res["gflops_per_s"] = res["tflops_per_s"] * 1e3
            dtype = "bf16" if VARIANTS[v][0] else "fp32"
            if dtype in peak:
                res["fraction_of_peak"] = res["gflops_per_s"] / peak[dtype]["peak_gflops"]
                res["peak_dtype"] = dtype
        if v in VARIANT_NOTES:
            res["note"] = VARIANT_NOTES[v]
        entry["variants"][v] = res
        log(f"[bench] {name} {v}: {res['seconds_per_frame']:.4f} s/frame ({res['speedup_vs_eager']:.2f}x)")
        best = state["best"]
        usable = res["mean_abs_diff_vs_eager"] <= ACCURACY and v not in VARIANT_NOTES
        if usable and (best is None or res["seconds_per_frame"] < best[1]["seconds_per_frame"]):
            state["best"] = (v, res, net)
        save(profile_text)

    # the variants without torch.compile first, then the profile of the fastest of them, then the compiled
    # ones: compiling takes minutes, and a time cap that stops it keeps the eager numbers and the profile
    for v in [v for v in variants if not VARIANTS[v][2]]:
        measure(v)
    if profile_step and state["best"] is not None:
        v, _, net = state["best"]
        amp, channels_last, _ = VARIANTS[v]
        set_channels_last(model, channels_last)
        try:
            profile_text += profile_one_step(net, diffusion, lr01, seed, f"{name} / {v} / {device_name(device)}")
        except RuntimeError as err:
            profile_text += f"== {name} / {v}: profiling failed: {err} ==\n"
        model.to(memory_format=torch.contiguous_format)
        save(profile_text)
    for v in [v for v in variants if VARIANTS[v][2]]:
        measure(v)
    entry["fastest"] = state["best"][0] if state["best"] else None
    model = diffusion = None   # free this configuration before the next one is built
    if device.type == "cuda":
        torch.cuda.empty_cache()
    save(profile_text)
    return profile_text


def measure_bench(configs=("tiny", "base", "paper"), *, size: int = 512, steps: int = 15, calls: int | None = None,
                  clip_length: int = 5, repeats: int = 3, warmup: int = 1, variants=tuple(VARIANTS), use_compile: bool = False,
                  profile_step: bool = False, train_preset: str = "base", train_steps: int = 10, train_warmup: int = 3,
                  eval_frames: int = 6, pack: Path | None = None, device=None, seed: int = 0, on_update=None,
                  log=print) -> dict:
    """Every measurement of the benchmark (module docstring of :mod:`.bench`), as one report dict: the machine's
    peak, training throughput (``train_steps`` > 0), the evaluation metrics' cost (``eval_frames`` > 0), then per
    configuration its parameters, counted FLOPs and each variant's timing. ``on_update(report, profile_text)`` is
    called after every measurement, so that a time-capped run keeps what was done. ``calls``: network calls per clip
    (the T = ``steps`` schedule re-spaced, as ``sample --steps K``; None: T)."""
    device = get_device(device=device)
    if size % 4 or size < 4:
        raise ValueError(f"size (--size) must be a positive multiple of 4 (x4 super-resolution), got {size}.")
    if steps < 2:
        raise ValueError(f"steps (--steps, the diffusion's T) must be >= 2, got {steps}; Table 5 uses 15.")
    if calls is not None and (isinstance(calls, bool) or not isinstance(calls, int) or not 1 <= calls <= steps):
        raise ValueError(f"calls (--calls) must be an int in 1..T = {steps} (network calls per clip), got {calls!r}; "
                         f"leave it out to time all T steps.")
    if repeats < 1 or warmup < 0 or clip_length < 1:
        raise ValueError("repeats and clip_length must be >= 1 and warmup >= 0 (--repeats, --clip-length, --warmup).")
    variants = ["eager_fp32"] + [v for v in variants if v != "eager_fp32"]
    lr_size = size // 4
    report = {"format": BENCH_FORMAT, "started": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
              "device": device_description(device),
              "settings": {"size": size, "lr_size": lr_size, "steps": steps, "calls": calls or steps,
                           "clip_length": clip_length,
                           "repeats": repeats, "warmup": warmup, "variants": variants,
                           "compile": bool(use_compile)},
              "paper": PAPER_FIGURES, "configs": {}, "training": None}
    t_start = time.perf_counter()
    profile_text = ""

    def save(text=None):          # the report so far, with the profiles so far (``text``: this configuration's too)
        if on_update is not None:
            on_update(report, profile_text if text is None else text)

    report["device"]["native_bf16"] = native_bf16()[1] if device.type == "cpu" else "CUDA"
    report["peak"] = measure_peak(device)
    log("[bench] peak: " + ", ".join(f"{k} {v['peak_gflops']:.0f} GFLOP/s" for k, v in report["peak"].items()))
    # training throughput first: it is cheap, and a time-capped run (scripts/gpu_job.sh) sizes its training from it
    if train_steps > 0:
        try:
            report["training"] = measure_training(train_preset, device, train_steps, train_warmup, pack, seed)
        except (RuntimeError, ValueError, FileNotFoundError) as err:
            report["training"] = _failure(err)
    else:
        report["training"] = {"status": "skipped", "reason": "--train-steps 0"}
    if report["training"]["status"] == "ok":
        log(f"[bench] training {train_preset}: {report['training']['seconds_per_step']:.4f} s/step "
            f"({report['training']['speedup_vs_eager']:.2f}x eager fp32)")
    if eval_frames > 0:
        report["evaluation"] = measure_evaluation(device, eval_frames, seed=seed)
        log(f"[bench] evaluation metrics, 720x576: {report['evaluation']['before_s_per_frame']:.2f} -> "
            f"{report['evaluation']['now_s_per_frame']:.2f} s/frame")
    if device.type == "cuda":
        torch.cuda.empty_cache()
    save()
    for name in configs:
        entry = {"parameters": parameter_report(name), "variants": {}}
        report["configs"][name] = entry
        profile_text += _measure_config(entry, name, device, settings=report["settings"], peak=report["peak"],
                                        use_compile=use_compile, profile_step=profile_step, seed=seed,
                                        save=lambda extra: save(profile_text + extra), log=log)
        save()
    report["wall_s"] = time.perf_counter() - t_start
    save()
    return report
