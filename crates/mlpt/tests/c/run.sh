#!/usr/bin/env bash
# The C test of libmlpt (crates/mlpt): for each (LEVELS, POBITS) below, builds the static library
# with MLPT_LEVELS/MLPT_POBITS into its own target directory (target/mlpt-L<L>-P<P>, so switching
# geometry never rebuilds another one), compiles tests/c/test_mlpt.c with cc against it, counting
# pages by wrapping posix_memalign and free, runs it, and runs it again under valgrind, which must
# find no block in use at exit and no error. For 4/12 it also links the shared library, checks
# that a config.h for another geometry fails to link, and that valgrind does flag the root table
# when the program keeps it to the end (so the leak check is not vacuous). Prints "N passed, M failed"; exits non-zero
# on any failure. Run from anywhere: bash crates/mlpt/tests/c/run.sh
set -uo pipefail
cd "$(dirname "$0")/../../../.."
repo=$(pwd)
src=crates/mlpt/tests/c/test_mlpt.c
inc=crates/mlpt/include
cflags=(-std=c11 -O1 -g -Wall -Wextra -Werror -I"$inc")
configs=("4 12" "1 12" "2 12" "3 9" "6 10")

passed=0
failed=0
step() { # step NAME COMMAND...: runs COMMAND, its output in $log, and counts it
  local name=$1
  shift
  if "$@" >"$log" 2>&1; then
    passed=$((passed + 1))
    echo "ok   $name"
  else
    failed=$((failed + 1))
    echo "FAIL $name"
    sed 's/^/     | /' "$log"
    return 1
  fi
}

if ! command -v valgrind >/dev/null 2>&1; then
  echo "run.sh: valgrind is not installed (apt-get install valgrind)" >&2
  exit 1
fi

for cfg in "${configs[@]}"; do
  read -r L P <<<"$cfg"
  dir="$repo/target/mlpt-L$L-P$P"
  mkdir -p "$dir"
  log="$dir/step.log"
  bin="$dir/test_mlpt"
  rm -f "$bin" "$bin".*
  step "L=$L P=$P: cargo build (MLPT_LEVELS=$L MLPT_POBITS=$P)" \
    env MLPT_LEVELS="$L" MLPT_POBITS="$P" CARGO_TARGET_DIR="$dir" \
    cargo build -p ptbench-mlpt --release --locked --quiet || continue
  step "L=$L P=$P: cc test_mlpt.c libmlpt.a -Wl,--wrap=posix_memalign,--wrap=free" \
    cc "${cflags[@]}" -DLEVELS="$L" -DPOBITS="$P" -DMLPT_COUNT "$src" "$dir/release/libmlpt.a" \
    -Wl,--wrap=posix_memalign -Wl,--wrap=free -o "$bin" || continue
  step "L=$L P=$P: test_mlpt" "$bin"
  grep -h "^example\|checks passed" "$log" | sed 's/^/     /'
  step "L=$L P=$P: valgrind --leak-check=full --errors-for-leak-kinds=all test_mlpt" \
    valgrind --leak-check=full --errors-for-leak-kinds=all --error-exitcode=1 "$bin"
  grep -h "in use at exit\|ERROR SUMMARY" "$log" | sed 's/^==[0-9]*== */     valgrind: /'

  if [ "$L $P" = "4 12" ]; then
    step "L=$L P=$P: cc test_mlpt.c -lmlpt (the shared library)" \
      cc "${cflags[@]}" "$src" -L"$dir/release" -lmlpt -Wl,-rpath,"$dir/release" -o "$bin.so" &&
      step "L=$L P=$P: test_mlpt linked to libmlpt.so" "$bin.so"
    grep -h "checks passed" "$log" | sed 's/^/     /'
    mismatch() { # a config.h for LEVELS=3 must not link against a LEVELS=4 library
      ! cc "${cflags[@]}" -DLEVELS=3 "$src" "$dir/release/libmlpt.a" -o "$bin.mismatch" &&
        ! test -e "$bin.mismatch"
    }
    step "L=$L P=$P: cc -DLEVELS=3 against it fails to link" mismatch
    grep -ho "undefined reference to .mlpt_config[a-z_0-9]*." "$log" | sed 's/^/     /'
    keeps_root() { # the leak check is live: a program that keeps the root at exit fails it
      cc "${cflags[@]}" -DMLPT_COUNT -DMLPT_KEEP_ROOT "$src" "$dir/release/libmlpt.a" \
        -Wl,--wrap=posix_memalign -Wl,--wrap=free -o "$bin.keep" || return 1
      valgrind --leak-check=full --errors-for-leak-kinds=all --error-exitcode=1 \
        --log-file="$bin.keep.vg" "$bin.keep"
      local rc=$?
      cat "$bin.keep.vg"
      [ "$rc" -eq 1 ] && grep -q "definitely lost: 0 bytes in 0 blocks" "$bin.keep.vg" &&
        grep -q "still reachable: 4,096 bytes in 1 blocks" "$bin.keep.vg"
    }
    step "L=$L P=$P: valgrind flags the root if the program keeps it" keeps_root
    grep -h "definitely lost:\|still reachable:" "$log" | sed 's/^==[0-9]*== */     valgrind: /'
  fi
done

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
