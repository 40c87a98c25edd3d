#!/usr/bin/env bash
# The throughput goals of issue 22, measured side by side in one run on this machine, with their
# ratios: `run` and `inspect --no-reuse` on lackey text against `wc -l`, and the eight default
# designs against one (with and without `--cache skylake`) on a recorded trace.
#
#   scripts/perf-goals.sh [DIR]      DIR keeps ls.ptbt and ls.lackey (made when missing;
#                                    default ${TMPDIR:-/tmp}/ptbench-perf)
#   RUNS=30 scripts/perf-goals.sh    rounds (default 20)
#   OLD=path/to/ptbench scripts/perf-goals.sh   also times another build, in the same rounds
#
# Needs python3. Every command runs once per round, rounds one after the other, so that the
# machine's other load falls on all of them alike (hyperfine runs each command's runs together);
# compare only figures of one run, and prefer the medians.
set -euo pipefail
cd "$(dirname "$0")/.."
dir=${1:-${TMPDIR:-/tmp}/ptbench-perf}
command -v python3 >/dev/null || { echo "perf-goals: needs python3" >&2; exit 1; }
cargo build --release --locked -q
export NEW=$PWD/target/release/ptbench
export RUNS=${RUNS:-20}
if [ -n "${OLD:-}" ]; then
  OLD=$(realpath "$OLD")
  export OLD
fi
mkdir -p "$dir"
cd "$dir"
[ -s ls.ptbt ] || "$NEW" record -o ls.ptbt -- ls -l /usr/bin > /dev/null
[ -s ls.lackey ] || "$NEW" convert ls.ptbt -o ls.lackey --to lackey
cat ls.lackey ls.ptbt > /dev/null # into the page cache

python3 - <<'PY'
import os, resource, statistics, subprocess, time

new, old, runs = os.environ["NEW"], os.environ.get("OLD", ""), int(os.environ["RUNS"])
cmds = {"wc": "wc -l ls.lackey"}
for which, pt in (("new", new), ("old", old)):
    if not pt:
        continue
    cmds.update({
        f"{which} run lackey": f"{pt} run -q -d x86-64 --tlb skylake --csv /dev/null ls.lackey",
        f"{which} inspect": f"{pt} inspect --no-reuse ls.lackey",
        f"{which} one": f"{pt} run -q -d x86-64 --tlb skylake --csv /dev/null ls.ptbt",
        f"{which} eight": f"{pt} run -q --tlb skylake --csv /dev/null ls.ptbt",
        f"{which} one cache": f"{pt} run -q -d x86-64 --tlb skylake --cache skylake --csv /dev/null ls.ptbt",
        f"{which} eight cache": f"{pt} run -q --tlb skylake --cache skylake --csv /dev/null ls.ptbt",
    })


def once(k, wall, user):
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t = time.perf_counter()
    subprocess.run(cmds[k].split(), stdout=subprocess.DEVNULL, check=True)
    wall[k].append((time.perf_counter() - t) * 1000)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    user[k] += (after.ru_utime - before.ru_utime) * 1000


# The first round warms up and is not counted.
for r in range(runs + 1):
    if r <= 1:
        wall = {k: [] for k in cmds}
        user = {k: 0.0 for k in cmds}
    for k in cmds:
        once(k, wall, user)
med = {k: statistics.median(v) for k, v in wall.items()}
print(f"{'command':<18} {'median ms':>10} {'min ms':>8} {'user ms':>8}   ({runs} interleaved rounds)")
for k in cmds:
    print(f"{k:<18} {med[k]:>10.1f} {min(wall[k]):>8.1f} {user[k] / runs:>8.1f}")
print()
for which in ("new", "old"):
    if f"{which} one" not in med:
        continue
    m = lambda k: med[f"{which} {k}"]
    print(f"{which}: run on lackey text {m('run lackey') / med['wc']:.2f}x wc -l (goal: at most 3x)")
    print(f"{which}: inspect --no-reuse {med['wc'] / m('inspect'):.2f}x wc -l's speed (goal: at least 0.5x)")
    print(f"{which}: eight designs {m('eight') / m('one'):.2f}x one (goal: at most 1.3x)")
    print(f"{which}: eight designs with caches {m('eight cache') / m('one cache'):.2f}x one (goal: at most 1.3x)")
PY
