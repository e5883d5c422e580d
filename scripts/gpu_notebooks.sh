#!/usr/bin/env bash
# The GPU job of issue 9, call 2 of 2 (~3-4 minutes): the executed reference copies of notebooks 07 and 08.
# Runs on the machine that call 1 (scripts/gpu_job.sh) left warm: its run folder ($RESULTS/07_train/$CONFIG) and
# the pack are still there (ignored paths stay between calls while the machine is held).
#   (0) install papermill + ipykernel from the carried wheels (the device image has neither; no network there),
#   (1) notebook 07 at the cuda profile: it resumes call 1's run (same preset and overrides, --resume auto),
#       trains NB_MINUTES more and plots the whole run's loss and validation curves,
#   (2) `python -m seeclear_lite export` of that run -> data/checkpoints/$CONFIG.pt (+ .json) on the machine,
#   (3) notebook 08 at the cuda profile with CHECKPOINT = that export (its baseline is trained in the notebook,
#       as documented there), Algorithm 1 on whole frames of the held-out clip,
# and returns in $OUT: 07_train.ipynb, 08_sample_evaluate.ipynb, summary.json, <config>_fp16.pt / .json, nb.log.
#
# Usage (device tool), after call 1 on the same warm machine:
#   GIT_COMMIT=<sha> bash scripts/gpu_notebooks.sh      carry=["build/device_wheels"]
# Wheels: PYTHON=python3 bash scripts/device_wheels.sh here first (~9.3 MiB, Python 3.12).
# CPU rehearsal (a clean venv without papermill; cp311 wheels; small profile, a fresh run):
#   PYVER=3.11 DEST=/tmp/w311 bash scripts/device_wheels.sh
#   PYTHON=/tmp/devenv/bin/python WHEELS=/tmp/w311 NB_PROFILE=smoke CKPT_DIR=/tmp/gn_ckpt OUT=/tmp/gn \
#   RESULTS=/tmp/gn_results bash scripts/gpu_notebooks.sh
#
# Knobs: OUT (required), PYTHON (python3), WHEELS (build/device_wheels), SITE (/tmp/seeclear_site), CONFIG (base),
# RESULTS (build/gpu_results), PACK (build/gpu_pack/corpus_pack.npz), NB_MINUTES (1: more training inside 07),
# NB_PROFILE (cuda; smoke/cpu rehearse the plumbing on a CPU with the notebooks' small settings), CKPT_DIR
# (data/checkpoints: where notebooks, sample and evaluate look for the shipped checkpoint).
set -uo pipefail

: "${OUT:?set OUT to the output folder}"
PY=${PYTHON:-python3}
WHEELS=${WHEELS:-build/device_wheels}
SITE=${SITE:-/tmp/seeclear_site}
CONFIG=${CONFIG:-base}
RESULTS=${RESULTS:-build/gpu_results}
# absolute: the config records it, call 2's notebook kernel runs in notebooks/, and a resumed run must match
PACK=$(realpath -m "${PACK:-build/gpu_pack/corpus_pack.npz}")
NB_MINUTES=${NB_MINUTES:-1}
NB_PROFILE=${NB_PROFILE:-cuda}
# where the export goes on the machine (absolute: notebook 08's kernel runs in notebooks/)
CKPT_DIR=$(realpath -m "${CKPT_DIR:-data/checkpoints}")
RUN=$RESULTS/07_train/$CONFIG
mkdir -p "$OUT"
exec > >(tee -a "$OUT/nb.log") 2>&1
T0=$(date +%s)
stamp() { echo "[gpu_notebooks +$(( $(date +%s) - T0 ))s] $*"; }
export PYTHONUNBUFFERED=1 GIT_COMMIT=${GIT_COMMIT:-$(git rev-parse HEAD 2>/dev/null || echo unknown)}
stamp "start $(date -u +%FT%TZ) profile=$NB_PROFILE config=$CONFIG run=$RUN commit=$GIT_COMMIT"

# -- (0) papermill + a Jupyter kernel from the carried wheels ------------------------------------------------------
ls "$WHEELS"/*.whl >/dev/null 2>&1 || { stamp "ERROR: no wheels in $WHEELS (run scripts/device_wheels.sh here and carry it)"; exit 2; }
"$PY" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target "$SITE" "$WHEELS"/*.whl \
  || { stamp "ERROR: installing the wheels failed"; exit 2; }
# the repository first (the kernel runs in notebooks/, where `import seeclear_lite` would not find the package)
export PYTHONPATH="$PWD:$SITE${PYTHONPATH:+:$PYTHONPATH}"
export JUPYTER_RUNTIME_DIR=/tmp/jupyter_runtime IPYTHONDIR=/tmp/ipython MPLCONFIGDIR=/tmp/mpl MPLBACKEND=Agg
"$PY" - <<'EOF' || exit 3
import papermill, ipykernel, nbclient, seeclear_lite
from jupyter_client.kernelspec import KernelSpecManager
specs = KernelSpecManager().find_kernel_specs()
assert "python3" in specs, f"no python3 kernel spec: {specs}"
print(f"papermill {papermill.__version__}, ipykernel {ipykernel.__version__}, kernels {sorted(specs)}, "
      f"seeclear_lite {seeclear_lite.__version__} from {seeclear_lite.__file__}")
EOF

# -- (1) notebook 07: resumes call 1's run with the same configuration (stage lengths in $RUN/stages.txt) -------
NB07_OVR=$("$PY" - <<EOF
import json, os
from pathlib import Path
saved = Path("$RUN") / "stages.txt"
ovr = saved.read_text().split() if saved.is_file() else []
ovr += ["data.source=pack", "data.root=$PACK", "val.source=pack", "val.root=$PACK", "val.lpips=false",
        "runtime.max_minutes=$NB_MINUTES"]
print(json.dumps(ovr))
EOF
)
if [ "$NB_PROFILE" = cuda ] && [ ! -f "$RUN/stages.txt" ]; then
  stamp "note: no call-1 run at $RUN: notebook 07 starts a new $CONFIG run of $NB_MINUTES min"
fi
stamp "notebook 07 ($NB_PROFILE): OVERRIDES=$NB07_OVR"
"$PY" -m seeclear_lite run --profile "$NB_PROFILE" --only 07 --out "$RESULTS" -p "CUDA_PRESET=$CONFIG" \
  -p "OVERRIDES=$NB07_OVR"
rc07=$?
stamp "notebook 07 exited with $rc07"

# -- (2) export the run notebook 07 continued (at small profiles: its small run) ----------------------------------
SRC=$RUN
[ "$NB_PROFILE" = cuda ] || SRC=$(ls -d "$RESULTS"/07_train/*/ | head -1)
mkdir -p "$CKPT_DIR"
"$PY" -m seeclear_lite export --run "$SRC" --out "$CKPT_DIR/$CONFIG.pt" --overwrite
rcx=$?
stamp "export of $SRC exited with $rcx"
cp "$CKPT_DIR/$CONFIG.pt" "$OUT/${CONFIG}_fp16.pt" 2>/dev/null
cp "$CKPT_DIR/$CONFIG.json" "$OUT/${CONFIG}_fp16.json" 2>/dev/null

# -- (3) notebook 08 with that checkpoint ---------------------------------------------------------------------------
stamp "notebook 08 ($NB_PROFILE) with CHECKPOINT=$CKPT_DIR/$CONFIG.pt"
"$PY" -m seeclear_lite run --profile "$NB_PROFILE" --only 08 --out "$RESULTS" -p "CHECKPOINT=$CKPT_DIR/$CONFIG.pt"
rc08=$?
stamp "notebook 08 exited with $rc08"

cp "$RESULTS"/07_train.ipynb "$RESULTS"/08_sample_evaluate.ipynb "$RESULTS"/summary.json "$OUT"/ 2>/dev/null
ls -l "$OUT"
[ $rc07 -eq 0 ] && [ $rcx -eq 0 ] && [ $rc08 -eq 0 ]
