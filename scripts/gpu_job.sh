#!/usr/bin/env bash
# The GPU job of issue 9, in ONE command (<= 9 minutes wall at the defaults):
#   (a) the speed benchmark (python -m seeclear_lite bench; Table 5's setting) into $OUT/bench,
#   (b) training of the `base` preset on the compact corpus pack for a wall-clock budget (runtime.max_minutes),
#       with --resume auto so that a second call on the same (still warm) machine continues the run,
#   (c) the best checkpoint exported as fp16 weights + a JSON (config, steps, wall time, device, git commit,
#       pack/manifest hashes, validation metrics of the exported weights against bicubic) into $OUT.
#
# Needs on the machine: python3 with torch, numpy, scipy, einops, pyyaml, tqdm, imageio, scikit-image (all in
# the device image); no network, no papermill / nbval / pywavelets (checked below).
#
# The pack is not in git. Build it on a machine with network (here) and put it where the job reads it:
#   python -m seeclear_lite data build && python -m seeclear_lite data pack --out build/gpu_pack/corpus_pack.npz
# (~50.5 MiB; build/ is git-ignored, so name it in the device tool's carry list: carry=["build/gpu_pack"]).
# The run folder ($RUN, default build/gpu_runs/<config>) is NOT carried: it stays on the machine between calls
# while the machine is warm, which is what --resume auto continues from.
#
# Usage (device tool): GIT_COMMIT=<sha> bash scripts/gpu_job.sh
# CPU rehearsal:       PYTHON=.venv/bin/python CONFIG=tiny_full MINUTES=0.5 OUT=/tmp/gj \
#                      BENCH_ARGS="--configs tiny --size 64 --steps 2 --repeats 1 --train-steps 2" bash scripts/gpu_job.sh
#
# Knobs (environment): OUT (required), PYTHON (python3), CONFIG (base), MINUTES (4: training budget),
# BENCH_CAP (190 s; paper first, so a cap cuts tiny), BENCH_ARGS, PACK, RUN, STAGES ("auto" = sized from the bench's measured step time so the
# three stages fit the budget; or "N1,N2,N3"), TRAIN_OVERRIDES (extra key=value), GIT_COMMIT, SKIP_BENCH (1 = skip (a)).
# $OUT receives at most 7 files (the device tool returns 8): job.log, bench/{bench.json,bench.md,profile.txt},
# <config>_fp16.pt, <config>_fp16.json, history.csv.
set -uo pipefail

: "${OUT:?set OUT to the output folder}"
PY=${PYTHON:-python3}
CONFIG=${CONFIG:-base}
MINUTES=${MINUTES:-4}
BENCH_CAP=${BENCH_CAP:-190}
BENCH_ARGS=${BENCH_ARGS:-"--configs paper base tiny --repeats 2 --compile --profile-step"}
PACK=${PACK:-build/gpu_pack/corpus_pack.npz}
RUN=${RUN:-build/gpu_runs/$CONFIG}
STAGES=${STAGES:-auto}
TRAIN_OVERRIDES=${TRAIN_OVERRIDES:-}
export PYTHONUNBUFFERED=1 CONFIG MINUTES PACK RUN STAGES OUT
mkdir -p "$OUT/bench" "$RUN"
exec > >(tee -a "$OUT/job.log") 2>&1
T0=$(date +%s)
stamp() { echo "[gpu_job +$(( $(date +%s) - T0 ))s] $*"; }

GIT_COMMIT=${GIT_COMMIT:-$(git rev-parse HEAD 2>/dev/null || echo unknown)}
export GIT_COMMIT
stamp "start $(date -u +%FT%TZ) config=$CONFIG minutes=$MINUTES pack=$PACK run=$RUN commit=$GIT_COMMIT"
command -v nvidia-smi >/dev/null && nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
if [ ! -f "$PACK" ]; then
  stamp "ERROR: no pack at $PACK (carry it: carry=[\"$(dirname "$PACK")\"]; build it as in this script's header)"
  exit 2
fi
ls -l "$PACK"

# -- 0. the package imports without pywavelets / papermill / nbval / torchvision (absent on the GPU machine) --
"$PY" - <<'EOF' || exit 3
import sys
import seeclear_lite.training.bench, seeclear_lite.training.engine, seeclear_lite.training.cli_train  # noqa: F401
import seeclear_lite.training.checkpoint, seeclear_lite.training.validation, seeclear_lite.data.pack  # noqa: F401
import seeclear_lite.metrics, seeclear_lite.degradation  # noqa: F401
bad = sorted(m for m in sys.modules if m.split(".")[0] in ("pywt", "papermill", "nbval", "torchvision"))
assert not bad, f"seeclear_lite imported {bad} at import time"
import torch
print(f"imports ok; torch {torch.__version__}, cuda available: {torch.cuda.is_available()}")
EOF

# -- (a) benchmark, time-capped (bench.json is rewritten after every measurement, so a cap keeps what was done) --
# SKIP_BENCH=1 on a follow-up call that only continues training (the stage lengths are already in $RUN/stages.txt).
if [ "${SKIP_BENCH:-0}" = 1 ]; then
  stamp "bench skipped (SKIP_BENCH=1)"
else
  stamp "bench (cap ${BENCH_CAP}s): $BENCH_ARGS"
  # shellcheck disable=SC2086
  timeout -k 10 "$BENCH_CAP" "$PY" -m seeclear_lite bench $BENCH_ARGS --train-preset "$CONFIG" --pack "$PACK" \
    --out "$OUT/bench"
  rc=$?
  [ $rc -eq 124 ] && stamp "bench hit its ${BENCH_CAP}s cap: bench.json holds what finished"
  [ $rc -ne 0 ] && [ $rc -ne 124 ] && stamp "bench exited with $rc (going on with training)"
fi

# -- (b) training for a wall-clock budget, resumable --------------------------------------------------------------
# Stage lengths: chosen once per run folder ($RUN/stages.txt) and reused on resume (a resumed run must have the
# same configuration). "auto": from the bench's measured seconds per training step, so the three stages of
# Sec. 4.1 fit ~85% of the budget (validation + checkpoints take the rest).
OVR=$("$PY" - <<'EOF'
import json, math, os
from pathlib import Path
from seeclear_lite.training.config import get_train_config
run, stages, minutes = Path(os.environ["RUN"]), os.environ["STAGES"], float(os.environ["MINUTES"])
saved = run / "stages.txt"
if saved.is_file():
    print(saved.read_text().strip()); raise SystemExit
n_stages = len(get_train_config(os.environ["CONFIG"]).stages)
if stages == "auto":
    step_s, src = None, "default (no bench measurement)"
    try:
        tr = json.loads((Path(os.environ["OUT"]) / "bench" / "bench.json").read_text())["training"]
        if tr and tr["status"] == "ok":
            step_s, src = tr["seconds_per_step"], f"bench: {tr['seconds_per_step']:.4f} s/step"
    except (OSError, ValueError, KeyError):
        pass
    total = max(30, int(0.85 * minutes * 60 / step_s)) if step_s else 3000
    split = {1: [1.0], 3: [0.8, 0.1, 0.1]}.get(n_stages, [1 / n_stages] * n_stages)
    steps = [max(1, int(total * f)) for f in split]
else:
    steps, src = [int(s) for s in stages.split(",")], "STAGES"
    assert len(steps) == n_stages, f"STAGES needs {n_stages} numbers for {os.environ['CONFIG']}"
total = sum(steps)
every = max(1, math.ceil(total / 4))
ovr = [f"stages.{i}.steps={n}" for i, n in enumerate(steps)]
ovr += [f"optim.warmup_steps={min(1000, max(1, steps[0] // 20))}"]
ovr += [f"val.every={every}", f"runtime.ckpt_every={every}"]
run.mkdir(parents=True, exist_ok=True)
saved.write_text(" ".join(ovr) + "\n")
print(" ".join(ovr))
import sys; print(f"stage lengths {steps} from {src}", file=sys.stderr)
EOF
) || exit 4
stamp "train $CONFIG for ${MINUTES} min: $OVR $TRAIN_OVERRIDES"
LIMIT=$("$PY" -c "import os; print(int(float(os.environ['MINUTES']) * 60 + 90))")
# LPIPS is off during training: its VGG weights (56 MiB) do not fit the transfer beside the pack; score LPIPS
# afterwards on the CPU from the exported checkpoint (python -m seeclear_lite evaluate).
# shellcheck disable=SC2086
timeout -k 20 "$LIMIT" "$PY" -m seeclear_lite train --config "$CONFIG" --out "$RUN" --resume auto \
  data.source=pack "data.root=$PACK" val.source=pack "val.root=$PACK" val.lpips=false \
  "runtime.max_minutes=$MINUTES" runtime.progress=false $OVR $TRAIN_OVERRIDES
rc=$?
stamp "train exited with $rc"
cp "$RUN/history.csv" "$OUT/history.csv" 2>/dev/null || true

# -- (c) export: best (else latest) checkpoint -> fp16 EMA weights + JSON, scored against bicubic ------------------
"$PY" - <<'EOF'
import datetime, hashlib, json, os, time
from pathlib import Path
import torch
from seeclear_lite import __version__
from seeclear_lite.data.samples import VALIDATION_CLIP, sample_root
from seeclear_lite.evaluation import evaluate
from seeclear_lite.training.checkpoint import CHECKPOINT_FORMAT, CheckpointManager, load_checkpoint
from seeclear_lite.training.config import TrainConfig
from seeclear_lite.utils import get_device
from seeclear_lite.utils.io import atomic_torch_save, atomic_write_text

run, out, name = Path(os.environ["RUN"]), Path(os.environ["OUT"]), os.environ["CONFIG"]
mgr = CheckpointManager(run / "checkpoints")
src = mgr.best_path if mgr.best_path.is_file() else mgr.latest()
if src is None:
    raise SystemExit(f"export: no checkpoint in {run / 'checkpoints'}")
ck = load_checkpoint(src)
cfg = TrainConfig.from_dict(ck["config"])
ema = ck["ema"] if ck.get("ema") is not None else ck["model"]
half = {k: (v.half() if v.is_floating_point() else v) for k, v in ema.items()}
export = {"format": CHECKPOINT_FORMAT, "kit_version": ck.get("kit_version"), "torch_version": str(torch.__version__),
          "config": ck["config"], "model_config": ck["model_config"], "model": half, "ema": half,  # one storage
          "step": ck["step"], "stage": ck["stage"], "best": ck.get("best"), "timing": ck.get("timing"),
          "weights": "EMA, float16"}
pt = out / f"{name}_fp16.pt"
atomic_torch_save(export, pt)
size = pt.stat().st_size

# score the exported weights exactly as shipped (fp16 -> the model's fp32) with the kit's own evaluation
# harness, on the held-out sample clip, against bicubic (the same code as `python -m seeclear_lite evaluate`)
device = get_device()
t0 = time.perf_counter()
metrics = {}
for key, method in (("bicubic", "bicubic"), ("model", "checkpoint")):
    res = evaluate(sample_root(), run / f"eval_{method}", method=method,
                   checkpoint=pt if method == "checkpoint" else None, clips=[VALIDATION_CLIP], use_lpips=False,
                   overwrite=True, device=device, progress=False, log=lambda *a, **k: None, seed=cfg.val.seed)
    metrics[key] = res["average"]
frames = len(list((sample_root() / "GT" / VALIDATION_CLIP).glob("*.png")))

pack = Path(os.environ["PACK"])
h = hashlib.sha256()
with open(pack, "rb") as f:
    for chunk in iter(lambda: f.read(1 << 20), b""):
        h.update(chunk)
import numpy as np
with np.load(pack, allow_pickle=False) as z:
    manifest_sha = hashlib.sha256(bytes(z["manifest"])).hexdigest()
hist = ck.get("history") or []
timing = ck.get("timing") or {}
info = {"checkpoint": pt.name, "size_bytes": size, "source_checkpoint": src.name, "preset": cfg.preset,
        "model": cfg.model.name, "step": ck["step"], "total_steps_planned": cfg.total_steps,
        "stages": [dict(s.__dict__) for s in cfg.stages],
        "training_seconds": timing.get("data_s", 0.0) + timing.get("compute_s", 0.0), "timing": timing,
        "device": torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu",
        "torch": str(torch.__version__), "kit_version": __version__, "git_commit": os.environ.get("GIT_COMMIT"),
        "pack": pack.name, "pack_sha256": h.hexdigest(), "corpus_manifest_sha256": manifest_sha,
        "exported": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "validation": {"clip": VALIDATION_CLIP, "frames": frames, "seed": cfg.val.seed, "form": cfg.diffusion.form,
                       "metrics": metrics, "seconds": time.perf_counter() - t0,
                       "lpips": "not computed on the GPU machine (VGG weights not carried): run evaluate on the CPU"},
        "best_during_training": ck.get("best"),
        "val_history": [{k: r.get(k) for k in ("step", "stage", "val_psnr", "val_ssim")} for r in hist
                        if r.get("val_psnr") is not None],
        "config": ck["config"]}
atomic_write_text(out / f"{name}_fp16.json", json.dumps(info, indent=1) + "\n")
m, b = metrics["model"], metrics["bicubic"]
print(f"export: {pt} ({size / 2**20:.2f} MiB) from {src.name} at step {ck['step']}/{cfg.total_steps}")
print(f"held-out {VALIDATION_CLIP} ({frames} frames): model PSNR {m['psnr_rgb']:.2f} dB SSIM {m['ssim_rgb']:.4f} | "
      f"bicubic PSNR {b['psnr_rgb']:.2f} dB SSIM {b['ssim_rgb']:.4f} | tMAE model {m['tmae']:.4f} "
      f"bicubic {b['tmae']:.4f}")
assert size <= 16 * 2**20, f"{pt} is {size / 2**20:.1f} MiB, over the 16 MiB limit"
EOF
rc=$?
stamp "export exited with $rc; files in $OUT:"
ls -l "$OUT" "$OUT/bench"
exit $rc
