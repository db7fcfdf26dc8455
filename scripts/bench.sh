#!/usr/bin/env bash
# Whole-process benchmarks (docs/performance.md). Two modes:
#
# scripts/bench.sh [N...]            scaling of nestioc on its own generated topologies
# scripts/bench.sh compare [N]       nestioc against jrsonnet on the comparison workload
#
# The scaling mode builds nestioc in release mode, generates topologies of N services
# (benches/support/topology.rs), and measures, per N, the median wall time of
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
#
# The compare mode (issue 14's targets) generates the comparison workload of N services
# (default 5,000; benches/comparison/gen.py: per service a Deployment, Service, HPA, PDB,
# VirtualService, DestinationRule, AuthorizationPolicy and PrometheusRule) and measures, in
# one run and interleaved (every measure runs once per binary per round, then the next
# round), median wall time and peak RSS of
#   jrsonnet  jrsonnet's job on the same workload (`jrsonnet -S -m DIR topo.jsonnet`)
#   subset    `nestioc build --target kubernetes,istio,prometheus` into an empty directory
#   full      `nestioc build` (every target the project enables) into an empty directory
#   edit      `nestioc build` over that output after a one-line edit (one service's HPA max)
#   noop      `nestioc build` over that output again, nothing changed
#   undo      `nestioc build` over it after undoing the edit: a second edit, made when the
#             cache directory's spare tree is the one the first edit swapped out
#   check     `nestioc check`
# and the files and bytes of a full build of examples/shop, then prints a Markdown table
# with each measure's ratio to jrsonnet.
#
# Usage: scripts/bench.sh compare [N]   (default 5000)
# Environment: BENCH_RUNS (rounds, default 5), BENCH_DIR, NESTIOC_BIN as above;
# NESTIOC_BASELINE (a second nestioc binary, e.g. an older revision, measured in the same
# rounds for a before/after); JRSONNET (the jrsonnet binary; default: the one in
# ${XDG_CACHE_HOME:-~/.cache}/nestioc-bench, installed there with `cargo install` on first
# use, several minutes); BENCH_GEN (the generator; default benches/comparison/gen.py).
# Needs python3, /usr/bin/time, and about 1.2 GB of disk per binary at 5,000 services.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
mode=scaling
if [ "${1:-}" = compare ]; then
    mode=compare
    shift
fi
sizes=("$@")
[ ${#sizes[@]} -gt 0 ] || [ "$mode" = compare ] || sizes=(100 1000 5000 20000)
runs=${BENCH_RUNS:-5}
work=${BENCH_DIR:-$root/target/bench}
target_dir=${CARGO_TARGET_DIR:-$root/target}
# The default cap on services (10,000) guards untrusted input; these are ours.
export NESTIOC_LIMITS=${NESTIOC_LIMITS:-services=1000000}
# The rebuilds' stat caches (docs/security.md) stay with the benchmark's files.
export NESTIOC_CACHE_DIR=${NESTIOC_CACHE_DIR-$work/nestioc-cache}

# NESTIOC_BIN measures another build of nestioc (an older revision, for a before/after).
bin=${NESTIOC_BIN:-$target_dir/release/nestioc}
if [ "$mode" = scaling ]; then
    echo "== building (release)" >&2
    cargo build --release --locked --quiet --bin nestioc --example gen-topology
elif [ -z "${NESTIOC_BIN:-}" ]; then
    echo "== building (release)" >&2
    cargo build --release --locked --quiet --bin nestioc
fi
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

# The compare mode's helpers. Its times come from the clock around /usr/bin/time, in
# milliseconds: /usr/bin/time's own %e has 10 ms steps, too coarse for `check`.

# Runs a command, prints "milliseconds peak-kb". The command's own output is discarded.
measure_ms() {
    local t s e
    t=$(mktemp)
    s=$(date +%s%N)
    /usr/bin/time -f '%M' -o "$t" "$@" >/dev/null 2>&1 || { cat "$t" >&2; rm -f "$t"; echo "failed: $*" >&2; exit 1; }
    e=$(date +%s%N)
    echo "$(((e - s) / 1000000)) $(tail -n1 "$t")"
    rm -f "$t"
}

# Bytes and files of a directory's regular files: "bytes files".
tree_size() { find "$1" -type f -printf '%s\n' | awk '{b += $1; n++} END {printf "%d %d\n", b, n}'; }

ratio() { awk -v a="$1" -v b="$2" 'BEGIN {if (b > 0) printf "%.2f", a / b; else print "-"}'; }

# The jrsonnet the comparison runs: $JRSONNET, else the pinned version in the user's cache,
# installed there on first use (the issue's targets are stated against this version).
jrsonnet_version=0.5.0-pre98
find_jrsonnet() {
    if [ -n "${JRSONNET:-}" ]; then
        echo "$JRSONNET"
        return
    fi
    local dir=${XDG_CACHE_HOME:-$HOME/.cache}/nestioc-bench/jrsonnet-$jrsonnet_version
    if [ ! -x "$dir/bin/jrsonnet" ]; then
        echo "== installing jrsonnet $jrsonnet_version into $dir (once)" >&2
        nice cargo install --locked --quiet jrsonnet --version "$jrsonnet_version" --root "$dir" >&2
    fi
    echo "$dir/bin/jrsonnet"
}

compare() {
    local n=${1:-5000}
    local gen_py=${BENCH_GEN:-$root/benches/comparison/gen.py}
    local count_docs
    count_docs=$(dirname "$gen_py")/count_docs.py
    local jr
    jr=$(find_jrsonnet)
    local dir=$work/compare-$n
    local w=$dir/workload
    local project=$w/nestioc
    # Each binary is measured under a label; "now" is this tree's (or NESTIOC_BIN).
    local labels=(now) 
    declare -A path=([now]=$bin)
    if [ -n "${NESTIOC_BASELINE:-}" ]; then
        labels+=(baseline)
        path[baseline]=$NESTIOC_BASELINE
    fi
    for l in "${labels[@]}"; do
        [ -x "${path[$l]}" ] || { echo "not an executable: ${path[$l]} ($l)" >&2; exit 1; }
    done
    echo "jrsonnet: $jr ($("$jr" --version 2>&1 | head -n1))"
    echo "baseline: ${NESTIOC_BASELINE:-none}"

    rm -rf "$dir"
    mkdir -p "$dir"
    python3 "$gen_py" "$n" "$w" >/dev/null
    # The one-line edit: the HPA's maximum of a service in the middle of the chain.
    local edited=$project/services/svc-$(((n + 1) / 2)).kdl
    cp "$edited" "$dir/edited.orig"
    sed 's/ max=10 / max=11 /' "$dir/edited.orig" >"$dir/edited.new"
    if cmp -s "$dir/edited.orig" "$dir/edited.new"; then
        echo "the one-line edit found nothing to change in $edited: has gen.py changed?" >&2
        exit 1
    fi
    # An interrupted run puts the edited file back (the workload is regenerated anyway).
    trap "cp $(printf %q "$dir/edited.orig") $(printf %q "$edited") 2>/dev/null || true" EXIT

    # Every sample, keyed "label measure", as "ms kb" lines.
    declare -A samples=()
    local m order round l
    add() { samples[$1]+="$2"$'\n'; }
    echo "== comparison workload, $n services, $runs rounds" >&2
    for round in $(seq "$runs"); do
        echo "   round $round" >&2
        # Alternate which binary goes first, so neither always runs on a cooler cache.
        order=("${labels[@]}")
        if [ $((round % 2)) -eq 0 ] && [ ${#labels[@]} -eq 2 ]; then
            order=(baseline now)
        fi
        rm -rf "$dir/jrsonnet"
        mkdir -p "$dir/jrsonnet"
        sync
        m=$(measure_ms "$jr" -S -m "$dir/jrsonnet" "$w/topo.jsonnet")
        add "jrsonnet" "$m"
        for l in "${order[@]}"; do
            rm -rf "$dir/subset-$l"
            sync
            m=$(measure_ms "${path[$l]}" build "$project" -o "$dir/subset-$l" --target kubernetes,istio,prometheus)
            add "$l subset" "$m"
        done
        for l in "${order[@]}"; do
            rm -rf "$dir/full-$l"
            sync
            m=$(measure_ms "${path[$l]}" build "$project" -o "$dir/full-$l")
            add "$l full" "$m"
        done
        cp "$dir/edited.new" "$edited"
        for l in "${order[@]}"; do
            m=$(measure_ms "${path[$l]}" build "$project" -o "$dir/full-$l")
            add "$l edit" "$m"
        done
        for l in "${order[@]}"; do
            m=$(measure_ms "${path[$l]}" build "$project" -o "$dir/full-$l")
            add "$l noop" "$m"
        done
        # Undoing the edit is a second one-line edit, made when the cache directory's spare
        # tree (docs/security.md) is the tree the first edit swapped out.
        cp "$dir/edited.orig" "$edited"
        for l in "${order[@]}"; do
            m=$(measure_ms "${path[$l]}" build "$project" -o "$dir/full-$l")
            add "$l undo" "$m"
        done
        for l in "${order[@]}"; do
            m=$(measure_ms "${path[$l]}" check "$project")
            add "$l check" "$m"
        done
    done

    # jrsonnet must have done the whole job, or the comparison means nothing.
    local docs
    docs=$(python3 "$count_docs" "$n" "$dir/jrsonnet") || { echo "jrsonnet's output is incomplete: $docs" >&2; exit 1; }

    # Medians: "<label> <measure>" -> ms, and kb.
    med_ms() { printf '%s' "${samples[$1]}" | cut -d' ' -f1 | median | xargs printf '%.0f'; }
    med_kb() { printf '%s' "${samples[$1]}" | cut -d' ' -f2 | median; }
    local jr_ms jr_kb
    jr_ms=$(med_ms jrsonnet) jr_kb=$(med_kb jrsonnet)
    mb() { awk -v k="$1" 'BEGIN {printf "%.0f", k / 1024}'; }

    echo
    echo "### Comparison workload, $n services"
    echo
    echo "Medians of $runs interleaved rounds; ratios to jrsonnet in the same run."
    echo
    local head="| measure | wall | peak RSS | × jrsonnet |" rule="|---|---:|---:|---:|"
    [ ${#labels[@]} -eq 1 ] || { head="| measure | wall | peak RSS | × jrsonnet | baseline wall | baseline peak RSS | baseline × jrsonnet | now / baseline |"; rule="|---|---:|---:|---:|---:|---:|---:|---:|"; }
    echo "$head"
    echo "$rule"
    echo "| jrsonnet \`-S -m\` (8 objects per service) | $jr_ms ms | $(mb "$jr_kb") MB | 1.00 |$([ ${#labels[@]} -eq 1 ] || echo " | | | |")"
    local key name row t
    for key in subset full edit noop undo check; do
        case $key in
        subset) name='`build --target kubernetes,istio,prometheus`, empty directory' ;;
        full) name='`build` (every target), empty directory' ;;
        edit) name='`build` again after a one-line edit' ;;
        noop) name='`build` again, nothing changed' ;;
        undo) name='`build` again after undoing the edit (a second edit)' ;;
        check) name='`check`' ;;
        esac
        t=$(med_ms "now $key")
        row="| $name | $t ms | $(mb "$(med_kb "now $key")") MB | $(ratio "$t" "$jr_ms") |"
        if [ ${#labels[@]} -eq 2 ]; then
            local b
            b=$(med_ms "baseline $key")
            row+=" $b ms | $(mb "$(med_kb "baseline $key")") MB | $(ratio "$b" "$jr_ms") | $(ratio "$t" "$b") |"
        fi
        echo "$row"
    done

    # Output sizes, and the shop's full build (the files-per-service target).
    local shop=$root/examples/shop shop_services
    shop_services=$(cat "$shop"/services/*.kdl | grep -c '^service "')
    echo
    echo "| output | files | bytes | files per service |"
    echo "|---|---:|---:|---:|"
    local size
    read -r -a size <<<"$(tree_size "$dir/jrsonnet")"
    echo "| jrsonnet, $n services | ${size[1]} | ${size[0]} | $(ratio "${size[1]}" "$n") |"
    for l in "${labels[@]}"; do
        read -r -a size <<<"$(tree_size "$dir/subset-$l")"
        echo "| $l: \`--target kubernetes,istio,prometheus\`, $n services | ${size[1]} | ${size[0]} | $(ratio "${size[1]}" "$n") |"
        read -r -a size <<<"$(tree_size "$dir/full-$l")"
        echo "| $l: every target, $n services | ${size[1]} | ${size[0]} | $(ratio "${size[1]}" "$n") |"
        rm -rf "$dir/shop-$l"
        "${path[$l]}" build "$shop" -o "$dir/shop-$l" >/dev/null 2>&1 || { echo "failed: ${path[$l]} build $shop" >&2; exit 1; }
        read -r -a size <<<"$(tree_size "$dir/shop-$l")"
        echo "| $l: every target, examples/shop ($shop_services services) | ${size[1]} | ${size[0]} | $(ratio "${size[1]}" "$shop_services") |"
    done
    echo
    echo "jrsonnet's output (count_docs.py: documents bytes files): $docs"
    trap - EXIT
    rm -rf "$dir"
}

if [ "$mode" = compare ]; then
    [ ${#sizes[@]} -le 1 ] || { echo "usage: scripts/bench.sh compare [N]" >&2; exit 2; }
    compare "${sizes[@]}"
    echo
    echo "load at end: $(cut -d' ' -f1-3 /proc/loadavg)"
    exit 0
fi

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
