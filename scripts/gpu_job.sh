#!/usr/bin/env bash
# The GPU job of issues 8 and 9, call 1 of 2 (<= 9.5 minutes wall at the defaults):
#   (0) the package imports without pywavelets / papermill / nbval / torchvision (absent on the GPU machine),
#   (s) issue 8's CUDA smoke run: `train` (tiny_full, 30 steps, validated) then `sample` on the held-out clip,
#   (a) the speed benchmark (python -m seeclear_lite bench; Table 5's setting) into $OUT/bench,
#   (b) training of the `base` preset on the compact corpus pack for a wall-clock budget (runtime.max_minutes),
#       with --resume auto so that a later call on the same (still warm) machine continues the run; the run
#       folder is the one notebook 07 uses at the cuda profile (RESULTS_DIR/07_train/base), so call 2
#       (scripts/gpu_notebooks.sh) executes notebook 07 on this very run,
#   (c) `python -m seeclear_lite export`: the best checkpoint as fp16 EMA weights + JSON (config, steps, wall time,
#       devices, pack / corpus-manifest hashes, git commit, validation against bicubic) into $OUT, and a copy in
#       build/gpu_export/ for call 2.
#
# Needs on the machine: python3 with torch, numpy, scipy, einops, pyyaml, tqdm, imageio, scikit-image (all in
# the device image) and omegaconf (installed from the carried build/device_wheels when missing); no network, no
# papermill / nbval / pywavelets (checked below).
#
# The pack is not in git. Build it on a machine with network (here) and put it where the job reads it:
#   python -m seeclear_lite data build && python -m seeclear_lite data pack --out build/gpu_pack/corpus_pack.npz
# (~50.5 MiB; build/ is git-ignored, so name it in the device tool's carry list: carry=["build/gpu_pack"]).
# The run folder ($RUN) is NOT carried: it stays on the machine between calls while the machine is warm,
# which is what --resume auto and call 2 continue from.
#
# Usage (device tool): GIT_COMMIT=<sha> bash scripts/gpu_job.sh        carry=["build/gpu_pack", "build/device_wheels"]
# CPU rehearsal:       PYTHON=.venv/bin/python CONFIG=tiny_full MINUTES=0.5 OUT=/tmp/gj SMOKE_STEPS=4,1,1 \
#                      BENCH_ARGS="--configs tiny --size 64 --steps 2 --repeats 1 --train-steps 2" bash scripts/gpu_job.sh
#
# Knobs (environment): OUT (required), PYTHON (python3), CONFIG (base), MINUTES (4: training budget),
# BENCH_CAP (150 s; paper first, so a cap cuts tiny), BENCH_ARGS, PACK, RESULTS (build/gpu_results; the run is
# $RESULTS/07_train/$CONFIG), STAGES ("auto" = sized from the bench's measured step time so the three stages fit
# the budget; or "N1,N2,N3"), TRAIN_OVERRIDES (extra key=value), GIT_COMMIT, SKIP_BENCH / SKIP_SMOKE (1 = skip),
# SMOKE_STEPS (20,5,5).
# $OUT receives at most 7 files (the device tool returns 8): job.log, bench/{bench.json,bench.md,profile.txt},
# <config>_fp16.pt, <config>_fp16.json, history.csv.
set -uo pipefail

: "${OUT:?set OUT to the output folder}"
PY=${PYTHON:-python3}
CONFIG=${CONFIG:-base}
MINUTES=${MINUTES:-4}
BENCH_CAP=${BENCH_CAP:-150}
BENCH_ARGS=${BENCH_ARGS:-"--configs paper base tiny --repeats 2 --compile --profile-step"}
# absolute: the config records it, call 2's notebook kernel runs in notebooks/, and a resumed run must match
PACK=$(realpath -m "${PACK:-build/gpu_pack/corpus_pack.npz}")
RESULTS=${RESULTS:-build/gpu_results}
RUN=$RESULTS/07_train/$CONFIG
SMOKE_STEPS=${SMOKE_STEPS:-20,5,5}
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

# -- 0. omegaconf from the carried wheels if the image lacks it; the package imports without pywavelets /
#       papermill / nbval / torchvision (absent on the GPU machine) --
if ! "$PY" -c "import omegaconf" 2>/dev/null; then
  "$PY" -m pip install --quiet --no-index --find-links build/device_wheels omegaconf || {
    stamp "ERROR: omegaconf is missing and not in build/device_wheels (carry it: scripts/device_wheels.sh)"; exit 3; }
fi
"$PY" - <<'EOF' || exit 3
import sys
import seeclear_lite.kit.bench, seeclear_lite.training.engine, seeclear_lite.training.cli_train  # noqa: F401
import seeclear_lite.training.checkpoint, seeclear_lite.training.validation, seeclear_lite.data.pack  # noqa: F401
import seeclear_lite.metrics, seeclear_lite.degradation  # noqa: F401
bad = sorted(m for m in sys.modules if m.split(".")[0] in ("pywt", "papermill", "nbval", "torchvision"))
assert not bad, f"seeclear_lite imported {bad} at import time"
import torch
print(f"imports ok; torch {torch.__version__}, cuda available: {torch.cuda.is_available()}")
EOF

# -- (s) issue 8's CUDA smoke run of the train and sample commands (a fresh folder each time) -------------------
if [ "${SKIP_SMOKE:-0}" = 1 ]; then
  stamp "smoke skipped (SKIP_SMOKE=1)"
else
  SMOKE=build/gpu_smoke
  rm -rf "$SMOKE"
  IFS=, read -r S1 S2 S3 <<<"$SMOKE_STEPS"
  stamp "smoke: train tiny_full ${S1}+${S2}+${S3} steps"
  timeout -k 10 240 "$PY" -m seeclear_lite train --config tiny_full --out "$SMOKE/run" "stages.0.steps=$S1" \
    "stages.1.steps=$S2" "stages.2.steps=$S3" "val.every=$((S1 + S2 + S3))" val.lpips=false runtime.progress=false
  stamp "smoke train exited with $?"
  timeout -k 10 120 "$PY" -m seeclear_lite sample --checkpoint "$SMOKE/run/checkpoints/best.pt" \
    --input data/samples/BIx4/val_city --output "$SMOKE/sample" --no-progress
  stamp "smoke sample exited with $?"
  ls "$SMOKE/sample" 2>/dev/null | head
fi

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
from seeclear_lite.config import get_config
run, stages, minutes = Path(os.environ["RUN"]), os.environ["STAGES"], float(os.environ["MINUTES"])
saved = run / "stages.txt"
if saved.is_file():
    print(saved.read_text().strip()); raise SystemExit
n_stages = len(get_config(os.environ["CONFIG"]).stages)
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
# LPIPS: only if its weights are in this machine's cache (they are not carried): else scored on the CPU afterwards.
stamp "export"
mkdir -p build/gpu_export
"$PY" -m seeclear_lite export --run "$RUN" --out "build/gpu_export/${CONFIG}_fp16.pt" --overwrite
rc=$?
cp build/gpu_export/"${CONFIG}"_fp16.pt build/gpu_export/"${CONFIG}"_fp16.json "$OUT"/ 2>/dev/null
stamp "export exited with $rc; files in $OUT:"
ls -l "$OUT" "$OUT/bench"
exit $rc
