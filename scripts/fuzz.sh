#!/usr/bin/env bash
# Runs every fuzz target (fuzz/fuzz_targets/) with libFuzzer for a bounded time each, and
# fails if any of them finds a crash (a panic, a stack overflow, a timeout or too much
# memory). See docs/security.md.
#
#   scripts/fuzz.sh              60 s per target (what CI runs)
#   scripts/fuzz.sh 600          10 minutes per target
#   FUZZ_TARGETS="compile" scripts/fuzz.sh 3600
#   FUZZ_JOBS=2 scripts/fuzz.sh 600      two libFuzzer workers per target
#
# Toolchain: cargo-fuzz (installed here, pinned) on the stable toolchain, with
# RUSTC_BOOTSTRAP=1 because cargo-fuzz passes unstable flags, and `--sanitizer none`
# (nestioc forbids unsafe code; the runs look for panics, overflows, hangs and memory
# blow-ups, with debug assertions and overflow checks on). The seed corpus is every
# example, fixture and stdlib file, copied into fuzz/seeds/<target>/; what libFuzzer
# learns is kept in fuzz/corpus/<target>/ (not committed), crashes in
# fuzz/artifacts/<target>/. A crash is reproduced with
#   RUSTC_BOOTSTRAP=1 cargo fuzz run --fuzz-dir fuzz --sanitizer none -O -a TARGET fuzz/artifacts/TARGET/crash-...
# and becomes a regression fixture (tests/fixtures/invalid/ or tests/it/robustness.rs).
set -euo pipefail
cd "$(dirname "$0")/.."
SECONDS_PER_TARGET="${1:-60}"
TARGETS="${FUZZ_TARGETS:-kdl_front_end lower_check compile}"
JOBS="${FUZZ_JOBS:-1}"
CARGO_FUZZ_VERSION=0.13.2
export RUSTC_BOOTSTRAP=1
export CARGO_TARGET_DIR="${FUZZ_TARGET_DIR:-$PWD/target/fuzz}"

if ! cargo fuzz --version 2>/dev/null | grep -q "$CARGO_FUZZ_VERSION"; then
  echo "== installing cargo-fuzz $CARGO_FUZZ_VERSION"
  cargo install --locked --quiet "cargo-fuzz@$CARGO_FUZZ_VERSION"
fi

echo "== seed corpus"
rm -rf fuzz/seeds
mkdir -p fuzz/seeds/kdl_front_end fuzz/seeds/compile fuzz/seeds/lower_check
# kdl_front_end: every KDL file, one seed each.
find examples tests/fixtures stdlib -name '*.kdl' -not -path '*/generated/*' -print0 | sort -z |
  while IFS= read -r -d '' f; do
    cp "$f" "fuzz/seeds/kdl_front_end/$(echo "$f" | tr '/' '_')"
  done
# compile: every project as one text, files after `//@file <path>` lines.
for dir in examples/*/ tests/fixtures/valid/*/ tests/fixtures/invalid/*/; do
  [ -f "$dir/nestio.kdl" ] || continue
  out="fuzz/seeds/compile/$(echo "${dir%/}" | tr '/' '_')"
  cat "$dir/nestio.kdl" >"$out"
  (cd "$dir" && find . -name '*.kdl' -not -path './generated/*' -not -name nestio.kdl | sort) |
    while read -r f; do
      printf '\n//@file %s\n' "${f#./}" >>"$out"
      cat "$dir/$f" >>"$out"
    done
done
# lower_check: arbitrary bytes; a few fixed seeds so that the first runs are not empty.
for i in 1 2 3 4 5 6 7 8; do
  head -c $((i * 512)) /dev/zero | tr '\0' "\\$(printf '%03o' $((i * 29)))" >"fuzz/seeds/lower_check/seed$i"
done

echo "== build (cargo fuzz build --sanitizer none -O -a)"
cargo fuzz build --fuzz-dir fuzz --sanitizer none -O -a

jobs=()
[ "$JOBS" -gt 1 ] && jobs=(-jobs="$JOBS" -workers="$JOBS")
status=0
for t in $TARGETS; do
  mkdir -p "fuzz/corpus/$t" "fuzz/artifacts/$t"
  echo "== fuzz $t for ${SECONDS_PER_TARGET}s"
  log="fuzz/artifacts/$t/last-run.log"
  if cargo fuzz run --fuzz-dir fuzz --sanitizer none -O -a "$t" "fuzz/corpus/$t" "fuzz/seeds/$t" -- \
    -max_total_time="$SECONDS_PER_TARGET" -timeout=20 -rss_limit_mb=4096 -max_len=65536 \
    "${jobs[@]}" -print_final_stats=1 >"$log" 2>&1; then
    grep -E '^#[0-9]+[[:space:]]+DONE' "$log" | tail -n 1 || true
    grep -E '^(stat::number_of_executed_units|stat::average_exec_per_sec|stat::peak_rss_mb|Done)' "$log" || true
    echo "   $t: no crash; corpus $(find "fuzz/corpus/$t" -type f | wc -l) inputs"
  else
    status=1
    tail -n 60 "$log"
    echo "   $t: CRASH; see fuzz/artifacts/$t/" >&2
  fi
done
exit $status
