#!/usr/bin/env bash
# A ptbench sweep on a real single-node Slurm: writes a small experiment (generated traces, a few
# designs and TLBs), runs `ptbench sweep --emit-slurm` with 3 shards, starts the cluster with
# scripts/slurm-cluster.sh, runs the generated submit.sh --wait (a job array and a dependent
# merge), stops the cluster, then runs the same sweep locally in one process and checks that the
# merged results.csv equals it, timing columns (wall_seconds, accesses_per_second) aside, that
# the report exists, and that `ptbench merge` names a missing shard.
#
#   scripts/test-slurm-sweep.sh [PTBENCH]     PTBENCH: a built ptbench (default target/release/ptbench)
#
# Builds nothing. Needs root; slurm-cluster.sh installs slurm-wlm and munge when missing.
# Set TEST_SLURM_SWEEP_KEEP=DIR to keep the run's files in DIR (the README's example comes from it).
# Prints "N passed, M failed" and exits non-zero on any failure.
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/.." && pwd)
cluster="$here/slurm-cluster.sh"
bin=${1:-$repo/target/release/ptbench}

passed=0
failed=0
ok() {
  passed=$((passed + 1))
  echo "ok: $* [$SECONDS s]"
}
bad() {
  failed=$((failed + 1))
  echo "FAILED: $*"
}
check() { # check NAME CMD...
  local name=$1
  shift
  if "$@"; then ok "$name"; else bad "$name"; fi
}

if [ ! -x "$bin" ]; then
  echo "test-slurm-sweep: no ptbench binary at $bin (build it: cargo build --release)" >&2
  echo "0 passed, 1 failed"
  exit 1
fi
bin=$(cd "$(dirname "$bin")" && pwd)/$(basename "$bin")

if [ -n "${TEST_SLURM_SWEEP_KEEP:-}" ]; then
  work=$TEST_SLURM_SWEEP_KEEP
  rm -rf "$work"
  mkdir -p "$work"
else
  work=$(mktemp -d "${TMPDIR:-/tmp}/test-slurm-sweep.XXXXXX")
fi
work=$(cd "$work" && pwd)
dir="$work/cluster"
cleanup() {
  bash "$cluster" stop "$dir" >/dev/null 2>&1 || true
  if [ -n "${TEST_SLURM_SWEEP_KEEP:-}" ]; then
    :
  elif [ "$failed" = 0 ]; then
    rm -rf "$work"
  else
    echo "kept $work for inspection"
  fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

t0=$(date +%s.%N)

# --- a small experiment: 3 generated traces of unequal lengths x (2 designs x 2 TLBs) = 12
# cells, so balancing by work gives the long trace's shard fewer cells -------------------
cat >"$work/exp.toml" <<'EOF'
name = "slurm-demo"

[[trace]]
name = "zipf-big"
gen = { pattern = "zipf", accesses = 60000, footprint = "256m", seed = 1 }
[[trace]]
name = "seq"
gen = { pattern = "sequential", accesses = 20000, footprint = "64m", seed = 2 }
[[trace]]
name = "zipf-small"
gen = { pattern = "zipf", accesses = 10000, footprint = "64m", seed = 3 }

[[design]]
spec = "x86-64"
[[design]]
spec = "hashed"

[[tlb]]
spec = "none"
[[tlb]]
spec = "repl=lru"
l1 = ["16x4"]
EOF

# --- the scripts ----------------------------------------------------------------------------------
slurm="$work/run"
"$bin" sweep "$work/exp.toml" --emit-slurm "$slurm" --shards 3 --time 0:10:00 --mem 1G \
  >"$work/emit.out" 2>"$work/emit.err"
rc=$?
check "sweep --emit-slurm exits 0 (rc $rc)" test "$rc" = 0
cat "$work/emit.out"
check "it wrote array.sbatch, merge.sbatch and submit.sh" \
  test -f "$slurm/array.sbatch" -a -f "$slurm/merge.sbatch" -a -x "$slurm/submit.sh"
check "a job array of 3 tasks" grep -qx '#SBATCH --array=0-2' "$slurm/array.sbatch"
check "each task runs its own shard" grep -qF -- '--shard "$I/$SHARDS"' "$slurm/array.sbatch"
check "the scripts run this ptbench" grep -qxF "PTBENCH='$bin'" "$slurm/array.sbatch"
check "estimated work printed per shard" test "$(grep -c '^  shard [0-2]/3:' "$work/emit.out")" = 3
# By work, not count: the 60000-access trace's 4 cells outweigh the others' 8; the first shard
# takes two of them and nothing else.
check "shards balanced by work (2, 5 and 5 cells)" \
  test "$(sed -n 's/^  shard [0-2]\/3: *\([0-9]*\) cells.*/\1/p' "$work/emit.out" | tr '\n' ' ')" = "2 5 5 "
check "nothing ran yet" test ! -e "$slurm/shard-0"

# --- on Slurm -----------------------------------------------------------------------------------
if bash "$cluster" start "$dir" >"$work/cluster-start.out" 2>&1; then
  ok "the cluster started"
  # shellcheck disable=SC1090
  eval "$(bash "$cluster" env "$dir")"
  export PTBENCH_SLURM_POLL=0.5
  ts=$(date +%s.%N)
  "$slurm/submit.sh" --wait >"$work/submit.out" 2>"$work/submit.err"
  rc=$?
  te=$(date +%s.%N)
  cat "$work/submit.out"
  awk -v a="$ts" -v b="$te" 'BEGIN { printf "submit.sh --wait took %.1fs\n", b - a }'
  check "submit.sh --wait exits 0 (rc $rc)" test "$rc" = 0
  check "submit.sh names the array and the dependent merge" \
    grep -qE '^merge: job [0-9]+ \(after [0-9]+\)$' "$work/submit.out"
  jid=$(sed -n 's/^shards: job \([0-9]*\)$/\1/p' "$work/submit.out")
  for i in 0 1 2; do
    st=$(scontrol -o show job "${jid}_$i" 2>/dev/null | head -n 1 | tr ' ' '\n' | sed -n 's/^JobState=//p')
    check "array task $i COMPLETED ($st)" test "$st" = COMPLETED
  done
else
  bad "the cluster started"
  cat "$work/cluster-start.out"
fi
bash "$cluster" stop "$dir" >/dev/null 2>&1
check "the cluster stopped" test -z "$(pgrep -f -- "$dir/" || true)"

merged="$slurm/merged/results.csv"
check "merged results.csv exists" test -s "$merged"
check "the report exists beside it" test -s "$slurm/merged/report.html"
for i in 0 1 2; do
  check "shard $i's log under run/logs" test -s "$slurm/logs/shard-$i.out"
done

# --- the same sweep in one process --------------------------------------------------------------
"$bin" sweep "$work/exp.toml" --out "$work/local" --no-report >"$work/local.out" 2>"$work/local.err"
rc=$?
check "the local sweep exits 0 (rc $rc)" test "$rc" = 0

# The rows without the timing columns, sorted by cell key (the last column).
untimed() {
  python3 - "$1" <<'EOF'
import csv, sys
with open(sys.argv[1], newline="") as f:
    rows = list(csv.reader(f))
head, body = rows[0], rows[1:]
keep = [i for i, h in enumerate(head) if h not in ("wall_seconds", "accesses_per_second")]
if len(keep) != len(head) - 2:
    sys.exit(f"{sys.argv[1]}: no wall_seconds/accesses_per_second columns in {head}")
cell = head.index("cell")
print(",".join(head[i] for i in keep))
for r in sorted(body, key=lambda r: r[cell]):
    print(",".join(r[i] for i in keep))
EOF
}
untimed "$merged" >"$work/merged.untimed" 2>"$work/untimed.err"
untimed "$work/local/results.csv" >"$work/local.untimed" 2>>"$work/untimed.err"
rows=$(($(wc -l <"$work/local.untimed") - 1))
check "the local sweep has the 12 cells ($rows rows)" test "$rows" = 12
check "Slurm's merged results.csv equals the local one, timing columns aside" \
  cmp -s "$work/merged.untimed" "$work/local.untimed"
cmp -s "$work/merged.untimed" "$work/local.untimed" || diff "$work/merged.untimed" "$work/local.untimed" | head -n 10

# --- a failed shard is named by merge -----------------------------------------------------------
cp -r "$slurm" "$work/broken"
rm "$work/broken/shard-1/results.csv"
"$bin" merge "$work/broken/shard-0" "$work/broken/shard-1" "$work/broken/shard-2" \
  --out "$work/broken/merged2" >"$work/merge.out" 2>"$work/merge.err"
rc=$?
check "merge with shard 1 missing exits 1 (rc $rc)" test "$rc" = 1
check "and names it as missing" grep -qi "missing.*shard-1\|shard-1.*missing\|missing.*1/3" "$work/merge.err"
sed 's/^/  merge says: /' "$work/merge.err"
"$bin" merge "$work/broken/shard-0" "$work/broken/shard-2" --out "$work/broken/merged3" \
  >"$work/merge2.out" 2>"$work/merge2.err"
rc=$?
check "merge of 2 of 3 shards exits 1 (rc $rc)" test "$rc" = 1
check "and lists the missing shard 1/3" grep -q "1/3" "$work/merge2.err"
sed 's/^/  merge says: /' "$work/merge2.err"

# As merge.sbatch calls it (each shard's results.csv by name), with shard 2's folder gone too.
rm -rf "$work/broken/shard-2"
"$bin" merge "$work/broken/shard-0/results.csv" "$work/broken/shard-1/results.csv" \
  "$work/broken/shard-2/results.csv" --out "$work/broken/merged4" >"$work/merge3.out" 2>"$work/merge3.err"
rc=$?
check "merge of merge.sbatch's list with shards 1 and 2 gone exits 1 (rc $rc)" test "$rc" = 1
check "and names the missing files" grep -q "shard-2/results.csv" "$work/merge3.err"
check "and lists shards 1/3 and 2/3" grep -q "missing shards: 1/3, 2/3" "$work/merge3.err"
sed 's/^/  merge says: /' "$work/merge3.err"

t1=$(date +%s.%N)
awk -v a="$t0" -v b="$t1" 'BEGIN { printf "took %.1fs\n", b - a }'
if [ "$failed" != 0 ]; then
  for f in "$work"/*.err "$slurm"/logs/*.out "$dir"/log/*.log; do
    [ -s "$f" ] && { echo "----- $f"; tail -n 20 "$f"; }
  done
fi
echo "$passed passed, $failed failed"
[ "$failed" = 0 ]
