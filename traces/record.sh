#!/usr/bin/env bash
# Re-record every ptbench memory trace in this folder with valgrind's lackey.
# Usage: bash traces/record.sh   (from any directory)
# Writes NAME.lackey.gz next to this script and prints per-trace statistics.
set -euo pipefail

TRACES="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT
cd "$WORK"

# Run the traced program with a minimal, fixed environment so the trace does
# not depend on the caller's locale, environment size, etc.  Relative file
# names are used so the temp dir name never reaches the guest program.
record() {
    local name="$1"; shift
    echo "recording $name: $*" >&2
    env -i PATH=/usr/bin:/bin LC_ALL=C \
        valgrind --tool=lackey --trace-mem=yes --log-file="$name.lackey" "$@" > /dev/null
    gzip -9 -n -c "$name.lackey" > "$TRACES/$name.lackey.gz"
    gzip -t "$TRACES/$name.lackey.gz"
    rm -f "$name.lackey"
}

# --- generated inputs (deterministic) ---
seq 1 1500 | shuf --random-source=<(yes) > sort-input.txt   # 1500 shuffled numbers
seq 1 1500 | shuf --random-source=<(yes) > gzip-input.txt   # 1500 shuffled numbers
seq 1 2500 > sha-input.txt                                  # 11393 bytes
gcc -O1 -static -o listwalk "$TRACES/src/listwalk.c"

# --- traces ---
record sort      /usr/bin/sort sort-input.txt
record gzip      /usr/bin/gzip -9 -c gzip-input.txt
record sha256sum /usr/bin/sha256sum sha-input.txt
record listwalk  ./listwalk

# --- large-footprint programs, through ptbench's own recorder into its binary format ---
# (needs a built ptbench: cargo build --release; zstd -19 packs them well under 10 MB)
PTBENCH="${PTBENCH:-$TRACES/../target/release/ptbench}"
if [ -x "$PTBENCH" ] && command -v zstd > /dev/null; then
    for prog in hashprobe transpose; do
        gcc -O1 -static -o "$prog" "$TRACES/src/$prog.c"
        echo "recording $prog with ptbench record" >&2
        env -i PATH=/usr/bin:/bin LC_ALL=C "$PTBENCH" record -o "$prog.ptbt" -- "./$prog" > /dev/null
        zstd -19 -T0 -q -f "$prog.ptbt" -o "$TRACES/$prog.ptbt.zst"
        rm -f "$prog.ptbt"
    done
else
    echo "skipping hashprobe and transpose: build ptbench (cargo build --release) and install zstd" >&2
fi

# --- statistics (same numbers as in README.md) ---
if command -v python3 > /dev/null; then
python3 - "$TRACES"/*.lackey.gz <<'PY'
import gzip, os, sys
print(f"{'file':22} {'bytes':>9} {'lines':>9} {'instr':>9} {'L':>8} {'S':>8} {'M':>8} {'loads':>8} {'stores':>8} {'pages':>6}")
for path in sys.argv[1:]:
    lines = instr = l = s = m = 0
    pages = set()
    with gzip.open(path, "rt") as f:
        for line in f:
            lines += 1
            kind = line[:2]
            if kind == "I ": instr += 1
            elif kind == " L": l += 1
            elif kind == " S": s += 1
            elif kind == " M": m += 1
            else: continue
            addr = int(line[3:].split(",")[0], 16)
            pages.add(addr >> 12)
    print(f"{os.path.basename(path):22} {os.path.getsize(path):9} {lines:9} {instr:9} {l:8} {s:8} {m:8} {l+m:8} {s+m:8} {len(pages):6}")
PY
fi
