#!/usr/bin/env bash
# Whole-process benchmark (docs/performance.md): builds nestioc in release mode, generates
# topologies of N services (benches/support/topology.rs), and measures, per N, the median
# wall time of
#   check    `nestioc check`                            (no output)
#   subset   `nestioc build --target kubernetes,istio,prometheus` into an empty directory
#   copy     `cp -r` of the subset's output into an empty directory (the floor; same run,
#            interleaved with the builds)
#   full     `nestioc build` (every target) into an empty directory, with its peak RSS
#   again    `nestioc build` over its own previous output (nothing to write)
#   verify   `nestioc build --check` over that output
# then prints one Markdown table per N and the `--timings` of one full build.
#
# Usage: scripts/bench.sh [N...]        (default: 100 1000 5000 20000)
# Environment: BENCH_RUNS (default 5; 1 above 5,000 services for full/again/verify),
# BENCH_DIR (default target/bench), NESTIOC_JOBS (threads; default one per core),
# NESTIOC_BIN (the nestioc binary to measure; default: this tree's), CARGO_TARGET_DIR. Needs about 300 KB of disk per service for every target, twice.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
sizes=("$@")
[ ${#sizes[@]} -gt 0 ] || sizes=(100 1000 5000 20000)
runs=${BENCH_RUNS:-5}
work=${BENCH_DIR:-$root/target/bench}
target_dir=${CARGO_TARGET_DIR:-$root/target}
# The default cap on services (10,000) guards untrusted input; these are ours.
export NESTIOC_LIMITS=${NESTIOC_LIMITS:-services=1000000}

echo "== building (release)" >&2
cargo build --release --locked --quiet --bin nestioc --example gen-topology
# NESTIOC_BIN measures another build of nestioc (an older revision, for a before/after).
bin=${NESTIOC_BIN:-$target_dir/release/nestioc}
gen=$target_dir/release/examples/gen-topology
mkdir -p "$work"

echo "== machine" >&2
cpu=$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')
echo "machine: $(nproc) cores, $cpu, $(free -g | awk '/Mem:/ {print $2}') GB RAM, $(uname -sr)"
echo "load at start: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "binary: $bin"
echo "threads: ${NESTIOC_JOBS:-one per core}"

# Runs a command, prints "seconds peak-kb". The command's own output is discarded.
measure() {
    local t
    t=$(mktemp)
    /usr/bin/time -f '%e %M' -o "$t" "$@" >/dev/null 2>&1 || { cat "$t" >&2; rm -f "$t"; echo "failed: $*" >&2; exit 1; }
    tail -n1 "$t"
    rm -f "$t"
}

median() { sort -n | awk '{a[NR]=$1} END {if (NR % 2) print a[(NR+1)/2]; else printf "%.3f\n", (a[NR/2]+a[NR/2+1])/2}'; }

ms() { awk -v s="$1" 'BEGIN {printf "%.0f", s * 1000}'; }

for n in "${sizes[@]}"; do
    project=$work/n$n
    "$gen" "$n" "$project" >/dev/null 2>&1
    out=$work/out-$n
    copy=$work/copy-$n
    r=$runs
    [ "$n" -le 5000 ] || r=1
    echo "== $n services ($runs runs, $r for the full build)" >&2
    check=() subset=() floor=() full=() rss=() again=() verify=()
    for _ in $(seq "$runs"); do
        check+=("$(measure "$bin" check "$project" | cut -d' ' -f1)")
        rm -rf "$out" "$copy"; sync
        subset+=("$(measure "$bin" build "$project" -o "$out" --target kubernetes,istio,prometheus | cut -d' ' -f1)")
        sync
        floor+=("$(measure cp -r "$out" "$copy" | cut -d' ' -f1)")
    done
    subset_bytes=$(du -s --apparent-size --bytes "$out" | cut -f1)
    subset_files=$(find "$out" -type f | wc -l)
    for _ in $(seq "$r"); do
        rm -rf "$out" "$copy"; sync
        m=$(measure "$bin" build "$project" -o "$out")
        full+=("${m% *}") rss+=("${m#* }")
        again+=("$(measure "$bin" build "$project" -o "$out" | cut -d' ' -f1)")
        verify+=("$(measure "$bin" build "$project" -o "$out" --check | cut -d' ' -f1)")
    done
    full_bytes=$(du -s --apparent-size --bytes "$out" | cut -f1)
    full_files=$(find "$out" -type f | wc -l)
    med() { printf '%s\n' "$@" | median; }
    c=$(med "${check[@]}") s=$(med "${subset[@]}") f=$(med "${floor[@]}")
    echo
    echo "### $n services"
    echo
    echo "| measure | median | runs | notes |"
    echo "|---|---:|---:|---|"
    echo "| \`nestioc check\` | $(ms "$c") ms | $runs | |"
    echo "| subset build (\`--target kubernetes,istio,prometheus\`) | $(ms "$s") ms | $runs | $subset_files files, $((subset_bytes / 1000000)) MB |"
    echo "| \`cp -r\` of the subset's output (floor) | $(ms "$f") ms | $runs | subset / floor = $(awk -v a="$s" -v b="$f" 'BEGIN {printf "%.2f", a / b}') |"
    echo "| full build (every target) | $(ms "$(med "${full[@]}")") ms | $r | $full_files files, $((full_bytes / 1000000)) MB; peak RSS $(( $(med "${rss[@]}" | cut -d. -f1) / 1024 )) MB |"
    echo "| full build again (nothing changed) | $(ms "$(med "${again[@]}")") ms | $r | |"
    echo "| \`nestioc build --check\` (up to date) | $(ms "$(med "${verify[@]}")") ms | $r | |"
    echo
    echo "Timings of one full build into an empty directory:"
    echo
    rm -rf "$out"; sync
    echo '```'
    "$bin" build "$project" -o "$out" --timings 2>&1 | sed -n '/^timings:/,$p'
    echo '```'
    rm -rf "$out" "$copy"
done
echo
echo "load at end: $(cut -d' ' -f1-3 /proc/loadavg)"
