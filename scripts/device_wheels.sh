#!/usr/bin/env bash
# Download the wheels of scripts/device_wheels.txt for the GPU machine's Python (3.12, manylinux x86_64) into
# build/device_wheels/ (git-ignored; name it in the device tool's carry list). Run here, where the package
# index is reachable. PYVER=3.11 fetches the same set for this machine's Python, for a CPU rehearsal.
set -euo pipefail
PYVER=${PYVER:-3.12}
DEST=${DEST:-build/device_wheels}
PY=${PYTHON:-python3}
rm -rf "$DEST"
mkdir -p "$DEST"
"$PY" -m pip download --quiet --no-deps --only-binary=:all: --python-version "$PYVER" --implementation cp \
  --platform manylinux_2_28_x86_64 --platform manylinux_2_27_x86_64 --platform manylinux_2_26_x86_64 \
  --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 --platform manylinux_2_5_x86_64 \
  --platform manylinux1_x86_64 -d "$DEST" -r scripts/device_wheels.txt 2> >(grep -v "is ignored: it is neither" >&2)
n=$(ls "$DEST"/*.whl | wc -l)
want=$(grep -c '==' scripts/device_wheels.txt)
[ "$n" -eq "$want" ] || { echo "expected $want wheels, got $n in $DEST" >&2; exit 1; }
echo "$n wheels for Python $PYVER in $DEST ($(du -sh "$DEST" | cut -f1))"
