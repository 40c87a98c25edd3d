#!/usr/bin/env bash
# Tests scripts/slurm-cluster.sh on a real single-node Slurm: a job array, a dependent job
# (--dependency=afterok), a failed task rerun alone, start twice, a stale folder, `run` stopping
# the cluster when its command fails, and no daemon left behind; then the job scripts that the
# crate ptbench-slurm generates (array, dependent merge, submit.sh --wait, a failed shard rerun
# alone with --shards), run with a stand-in ptbench, under paths with spaces, quotes and %.
# Needs root; installs slurm-wlm and munge when missing. The generator is the example `emit`,
# built with cargo (or $PTBENCH_SLURM_EMIT, one already built). Prints "N passed, M failed" and
# exits non-zero on any failure.
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
cluster="$here/slurm-cluster.sh"

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

work=$(mktemp -d "${TMPDIR:-/tmp}/test-slurm.XXXXXX")
dir="$work/cluster"
out="$work/out"
mkdir -p "$out/logs"
cleanup() {
  bash "$cluster" stop "$dir" >/dev/null 2>&1 || true
  if [ "$failed" = 0 ]; then rm -rf "$work"; else echo "kept $work for inspection"; fi
}
trap cleanup EXIT

# Processes whose command line names this test's folder (daemons, job scripts).
ours() { pgrep -f -- "$work/" || true; }

# wait_gone JOBID...: poll until no listed job is pending or running (bounded).
wait_gone() {
  local i
  for ((i = 0; i < 300; i++)); do
    [ -z "$(squeue -h -j "$(
      IFS=,
      echo "$*"
    )" -o %i 2>/dev/null)" ] && return 0
    sleep 0.1
  done
  echo "jobs $* still queued after 30s:" >&2
  squeue >&2
  return 1
}

# job_field JOBID FIELD: a field of `scontrol show job` (first task for arrays).
job_field() {
  scontrol -o show job "$1" 2>/dev/null | head -n 1 | tr ' ' '\n' | sed -n "s/^$2=//p"
}

t0=$(date +%s.%N)

# --- the script generator (built before the cluster starts) ---------------------------------------
emit=${PTBENCH_SLURM_EMIT:-}
if [ -z "$emit" ]; then
  repo=$(cd "$here/.." && pwd)
  if (cd "$repo" && cargo build --quiet --locked -p ptbench-slurm --example emit) >"$work/cargo.err" 2>&1; then
    emit="${CARGO_TARGET_DIR:-$repo/target}/debug/examples/emit"
  fi
fi
check "the generator is built" test -x "$emit"

# --- start, and start again over a running cluster --------------------------------------------
check "start" bash "$cluster" start "$dir"
check "start again over a running cluster" bash "$cluster" start "$dir"
check "env prints SLURM_CONF" grep -qx "export SLURM_CONF='$dir/slurm.conf'" <(bash "$cluster" env "$dir")
# shellcheck disable=SC1090
eval "$(bash "$cluster" env "$dir")"
check "the node is idle" test "$(sinfo -h -N -o %T)" = idle
check "slurm.conf is ours, not /etc's" test "$(scontrol show config | sed -n 's/^SLURM_CONF *= *//p')" = "$dir/slurm.conf"

# --- a job array and a dependent job -----------------------------------------------------------
cat >"$work/task.sh" <<'EOF'
#!/bin/bash
set -euo pipefail
# Fails once for the task named in $FAIL_TASK, so it can be rerun alone.
if [ "${FAIL_TASK:-}" = "$SLURM_ARRAY_TASK_ID" ] && [ ! -e "$OUT/failed-once-$SLURM_ARRAY_TASK_ID" ]; then
  touch "$OUT/failed-once-$SLURM_ARRAY_TASK_ID"
  exit 3
fi
echo "$SLURM_ARRAY_TASK_ID" >"$OUT/out-$SLURM_ARRAY_TASK_ID"
EOF
cat >"$work/concat.sh" <<'EOF'
#!/bin/bash
set -euo pipefail
cat "$OUT"/out-0 "$OUT"/out-1 "$OUT"/out-2 "$OUT"/out-3 >"$OUT/all"
EOF
export OUT="$out"

jid=$(sbatch --parsable --wait --array=0-3 --output="$out/logs/task-%A_%a.out" "$work/task.sh" 2>"$work/sbatch.err")
rc=$?
check "sbatch --wait --array=0-3 exits 0" test "$rc" = 0
jid=${jid%%;*}
check "array job id is a number ($jid)" test -n "$jid" -a -z "${jid//[0-9]/}"
for i in 0 1 2 3; do
  check "task $i wrote its id" test "$(cat "$out/out-$i" 2>/dev/null)" = "$i"
  check "task $i COMPLETED" test "$(job_field "${jid}_$i" JobState)" = COMPLETED
done

dep=$(sbatch --parsable --dependency="afterok:$jid" --output="$out/logs/concat-%j.out" "$work/concat.sh")
check "dependent job submitted ($dep)" test -n "$dep"
check "dependent job finished" wait_gone "$dep"
check "dependent job COMPLETED" test "$(job_field "$dep" JobState)" = COMPLETED
check "dependent job output exact" test "$(cat "$out/all" 2>/dev/null)" = "$(printf '0\n1\n2\n3')"

# --- a failed task holds the dependent job; rerun alone, then merge -------------------------------
rm -f "$out"/out-* "$out/all"
jid=$(FAIL_TASK=2 sbatch --parsable --array=0-3 --output="$out/logs/task-%A_%a.out" "$work/task.sh")
dep=$(sbatch --parsable --dependency="afterok:$jid" --output="$out/logs/concat-%j.out" "$work/concat.sh")
check "array with a failing task finished" wait_gone "$jid"
check "task 2 FAILED" test "$(job_field "${jid}_2" JobState)" = FAILED
check "task 2 exit code 3" test "$(job_field "${jid}_2" ExitCode)" = 3:0
reason=""
for ((i = 0; i < 100; i++)); do
  reason=$(job_field "$dep" Reason)
  [ "$reason" = DependencyNeverSatisfied ] && break
  sleep 0.1
done
check "dependent job held: $reason" test "$reason" = DependencyNeverSatisfied
check "dependent job did not run" test ! -e "$out/all"
scancel "$dep"
rerun=$(sbatch --parsable --array=2 --output="$out/logs/task-%A_%a.out" "$work/task.sh")
dep=$(sbatch --parsable --dependency="afterok:$rerun" --output="$out/logs/concat-%j.out" "$work/concat.sh")
check "rerun and dependent job finished" wait_gone "$rerun" "$dep"
check "rerun task COMPLETED" test "$(job_field "${rerun}_2" JobState)" = COMPLETED
check "merge after rerun exact" test "$(cat "$out/all" 2>/dev/null)" = "$(printf '0\n1\n2\n3')"

# --- the generated scripts, with a stand-in ptbench ------------------------------------------------
# The stand-in: `sweep EXP --out D --shard I/N` writes the cells c of EXP with c % N == I as
# "cell,square" (and fails once when a file fail-I lies beside EXP); `merge F... --out D` refuses
# missing files and concatenates sorted by cell; `report CSV --out D` writes a line.
odd="$work/odd 'dir' \"q\" 100%"
mkdir -p "$odd"
cat >"$odd/ptbench stub" <<'EOF'
#!/bin/bash
set -euo pipefail
cmd=$1
shift
case "$cmd" in
  sweep)
    exp=$1 out=$3 shard=$5
    [ "$2" = --out ] && [ "$4" = --shard ] || exit 2
    i=${shard%/*} n=${shard#*/}
    if [ -e "$(dirname "$exp")/fail-$i" ]; then
      rm "$(dirname "$exp")/fail-$i"
      echo "shard $i: failing once" >&2
      exit 4
    fi
    mkdir -p "$out"
    {
      echo cell,square
      while read -r c; do if [ $((c % n)) = "$i" ]; then echo "$c,$((c * c))"; fi; done <"$exp"
    } >"$out/results.csv"
    ;;
  merge)
    files=()
    while [ "$1" != --out ]; do
      files+=("$1")
      shift
    done
    out=$2 missing=()
    for f in "${files[@]}"; do [ -f "$f" ] || missing+=("$f"); done
    [ "${#missing[@]}" = 0 ] || { echo "merge: missing ${missing[*]}" >&2; exit 1; }
    mkdir -p "$out"
    { echo cell,square; for f in "${files[@]}"; do tail -n +2 "$f"; done | sort -t, -k1,1n; } >"$out/results.csv"
    ;;
  report) echo "report of $1" >"$3/report.txt" ;;
  *) exit 2 ;;
esac
EOF
chmod +x "$odd/ptbench stub"
seq 1 23 >"$odd/exp.toml"
"$odd/ptbench stub" sweep "$odd/exp.toml" --out "$odd/local" --shard 0/1
gen_dir="$odd/slurm scripts"
gen_out="$odd/out"
check "emit writes the three scripts" "$emit" "$gen_dir" 4 "$odd/ptbench stub" "$odd/exp.toml" "$gen_out" >/dev/null
export PTBENCH_SLURM_POLL=0.2
touch "$odd/fail-1"
"$gen_dir/submit.sh" --wait >"$work/submit1.out" 2>"$work/submit1.err"
rc=$?
check "submit.sh --wait fails when a shard fails (rc $rc)" test "$rc" = 1
check "submit.sh prints both job ids" grep -qE '^merge: job [0-9]+ \(after [0-9]+\)$' "$work/submit1.out"
check "submit.sh names the failed shard" grep -q "shards not completed: 1$" "$work/submit1.err"
check "no merge over a failed shard" test ! -e "$gen_out/merged/results.csv"
check "shard 1's log under OUT/logs tells why" grep -q "shard 1: failing once" "$gen_out/logs/shard-1.out"
"$gen_dir/submit.sh" --wait --shards 1 >"$work/submit2.out" 2>"$work/submit2.err"
rc=$?
check "submit.sh --wait --shards 1 reruns it alone and merges (rc $rc)" test "$rc" = 0
check "merged results equal the run in one process" cmp -s "$odd/local/results.csv" "$gen_out/merged/results.csv"
check "report written beside the merged results" grep -qxF "report of $gen_out/merged/results.csv" "$gen_out/merged/report.txt"
check "a log per shard and the merge's under OUT/logs" test -e "$gen_out/logs/shard-0.out" -a -e "$gen_out/logs/shard-3.out" -a -e "$gen_out/logs/merge.out"
rm -rf "$gen_out"
"$gen_dir/submit.sh" --wait >"$work/submit3.out" 2>"$work/submit3.err"
rc=$?
check "a clean submit.sh --wait completes (rc $rc)" test "$rc" = 0
check "and merges the same results" cmp -s "$odd/local/results.csv" "$gen_out/merged/results.csv"

# --- stop leaves nothing behind ------------------------------------------------------------------
pids=$(cat "$dir"/pids/*.pid 2>/dev/null | tr '\n' ' ')
rm -rf "$dir/pids" # stop must find its daemons even without their saved pids
check "stop" bash "$cluster" stop "$dir"
left=""
for p in $pids; do kill -0 "$p" 2>/dev/null && left="$left $p"; done
check "no daemon left after stop (${pids% })" test -z "$left$(ours)"
check "stop again is harmless" bash "$cluster" stop "$dir"

# --- a stale folder (daemons killed hard), then run with a failing command -----------------------
bash "$cluster" start "$dir" >/dev/null 2>&1
# shellcheck disable=SC2046
kill -KILL $(cat "$dir"/pids/*.pid) 2>/dev/null
sleep 0.2
bash "$cluster" run "$dir" -- bash -c 'test "$SLURM_CONF" = "$1/slurm.conf" && sinfo -h -N -o %T | grep -qx idle && exit 7' _ "$dir" 2>"$work/run.err"
rc=$?
check "run over a stale folder runs the command with SLURM_CONF and returns its status (7, got $rc)" test "$rc" = 7
check "run stopped the cluster" test -z "$(ours)"

t1=$(date +%s.%N)
awk -v a="$t0" -v b="$t1" 'BEGIN { printf "took %.1fs\n", b - a }'
if [ "$failed" != 0 ]; then
  for f in "$dir"/log/*.log "$work"/*.err; do
    [ -s "$f" ] && { echo "----- $f"; tail -n 30 "$f"; }
  done
fi
echo "$passed passed, $failed failed"
[ "$failed" = 0 ]
