#!/usr/bin/env bash
# tests/fuzz.sh [SECONDS_PER_TARGET]: builds every cargo fuzz target of tests/fuzz and runs each
# for a short pass (default 20 s), seeded from the shared corpus (tests/fuzz/seeds.py), from the
# hand-made seeds in tests/fuzz/seeds/ and from the crashers kept in tests/fuzz/regressions/.
# Fails if any target crashes, times out or runs out of memory; the input is left in
# $WORK/artifacts/TARGET/ and the command to reproduce it is printed.
#
# Needs the nightly toolchain and cargo-fuzz (`cargo install cargo-fuzz`), and python3 for the
# seeds. Environment: CARGO_TARGET_DIR (build directory, default target/), HYGIE_FUZZ_WORK
# (corpora and artifacts, default $CARGO_TARGET_DIR/fuzz-work), HYGIE_FUZZ_TARGETS (a subset,
# space-separated), HYGIE_FUZZ_RUNS (run each target for this many executions instead of a
# time, or whichever comes first when SECONDS_PER_TARGET is given too: the long runs of
# docs/fuzzing.md), HYGIE_FUZZ_SANITIZER (address, the default, or none: several times faster;
# unsafe code is forbidden, so what the targets look for, panics and broken invariants, is
# caught either way). Corpora persist in $HYGIE_FUZZ_WORK between passes, so each pass starts
# where the last one stopped; nothing is written inside the repository.
set -euo pipefail

seconds=${1:-20}
root=$(cd "$(dirname "$0")/.." && pwd)
fuzz_dir="$root/tests/fuzz"
build_dir=${CARGO_TARGET_DIR:-$root/target}
sanitizer=${HYGIE_FUZZ_SANITIZER:-address}
# One build directory per sanitizer: switching would otherwise rebuild everything.
case "$sanitizer" in
    address) target_dir="$build_dir/fuzz" ;;
    none) target_dir="$build_dir/fuzz-none" ;;
    *)
        echo "HYGIE_FUZZ_SANITIZER is address or none, not $sanitizer" >&2
        exit 2
        ;;
esac
work=${HYGIE_FUZZ_WORK:-$build_dir/fuzz-work}
fuzz=(cargo +nightly fuzz)

if ! "${fuzz[@]}" --version >/dev/null 2>&1; then
    echo "cargo-fuzz on the nightly toolchain is needed: cargo install cargo-fuzz" >&2
    exit 2
fi

read -r -a targets <<<"${HYGIE_FUZZ_TARGETS:-$("${fuzz[@]}" list --fuzz-dir "$fuzz_dir" | tr '\n' ' ')}"
start=$(date +%s)

mkdir -p "$work"
# A seed directory of its own: two passes may run side by side (one per core).
generated=$(mktemp -d "$work/seeds.XXXXXX")
trap 'rm -rf "$generated"' EXIT
python3 "$fuzz_dir/seeds.py" "$generated" >/dev/null
if [ -n "${HYGIE_FUZZ_RUNS:-}" ]; then
    budget=(-runs="$HYGIE_FUZZ_RUNS")
    # With a count, SECONDS_PER_TARGET if given still caps each run: whichever comes first.
    if [ -n "${1:-}" ]; then budget+=(-max_total_time="$seconds"); fi
else
    budget=(-max_total_time="$seconds")
fi
"${fuzz[@]}" build --fuzz-dir "$fuzz_dir" --target-dir "$target_dir" -s "$sanitizer"
built=$(date +%s)

# No allocation stacks and no leak check: a Rust panic, not a use-after-free, is what these
# targets find (unsafe code is forbidden), and the stacks halve the speed of alloc-heavy ones.
export ASAN_OPTIONS=${ASAN_OPTIONS:-malloc_context_size=0:detect_leaks=0}
failed=()
for target in "${targets[@]}"; do
    corpus="$work/corpus/$target"
    artifacts="$work/artifacts/$target/"
    mkdir -p "$corpus" "$artifacts"
    seeds=()
    for dir in "$generated/$target" "$fuzz_dir/seeds/$target" "$fuzz_dir/regressions/$target"; do
        if [ -d "$dir" ]; then seeds+=("$dir"); fi
    done
    log="$work/$target.log"
    # One process per target: the machine has two cores, and the build is already done.
    if "${fuzz[@]}" run --fuzz-dir "$fuzz_dir" --target-dir "$target_dir" -s "$sanitizer" "$target" \
        "$corpus" "${seeds[@]}" -- \
        "${budget[@]}" -timeout=10 -rss_limit_mb=2048 \
        -artifact_prefix="$artifacts" -print_final_stats=1 >"$log" 2>&1; then
        runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
        took=$(sed -n 's/^Done [0-9]* runs in \([0-9]*\) second.*/\1/p' "$log" | tail -1)
        echo "ok      $target: ${runs:-?} executions in ${took:-$seconds}s"
    else
        echo "FAILED  $target (log: $log)"
        grep -E '^(==[0-9]+==|SUMMARY|thread .* panicked|Test unit written)' "$log" | head -5 || true
        echo "        reproduce: cargo +nightly fuzz run --fuzz-dir tests/fuzz -s $sanitizer $target $artifacts<file>"
        failed+=("$target")
    fi
done

end=$(date +%s)
echo "build $((built - start))s, ${#targets[@]} targets $((end - built))s, total $((end - start))s"
if [ ${#failed[@]} -gt 0 ]; then
    echo "crashed: ${failed[*]}" >&2
    exit 1
fi
