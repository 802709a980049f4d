#!/usr/bin/env bash
# Smoke-fuzzes the core state machines: builds the cargo-fuzz targets in
# fuzz/ with nightly and runs each for a short while. A crash, a failed
# invariant or a leak found by libFuzzer fails the script (and CI).
#
# Usage: .ci/fuzz.sh [seconds per target]   (default 20, so about 200 s of
# fuzzing for the ten targets; FUZZ_SECONDS also works)
#
# Reproducible by default: each target starts from an empty scratch corpus
# plus the committed crash inputs in fuzz/regressions/<target>/ (replayed
# first) with libFuzzer's seed FUZZ_SEED (default 1), so the inputs tried
# are the same on every machine; a slower machine tries a prefix of them.
# FUZZ_SEED=0 explores instead: a random seed and the persistent corpus in
# fuzz/corpus/<target>/.
#
# The mutation check (fuzz/mutants.sh: do the targets catch planted bugs?)
# takes about half an hour and is not run here.
set -euo pipefail

seconds="${1:-${FUZZ_SECONDS:-20}}"
seed="${FUZZ_SEED:-1}"
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
targets=(breaker retry rate bulkhead failfast plan cache cache_driver toggle config_files chaos shared_state)

die() {
    echo "fuzz.sh: ERROR: $*" >&2
    exit 1
}

if ! cargo fuzz --version >/dev/null 2>&1; then
    echo "fuzz.sh: installing cargo-fuzz"
    cargo install cargo-fuzz --locked || die "could not install cargo-fuzz (cargo install cargo-fuzz --locked)"
fi

toolchains="$(rustup toolchain list 2>/dev/null || true)"
if ! grep -q '^nightly' <<<"$toolchains"; then
    echo "fuzz.sh: installing a nightly toolchain"
    rustup toolchain install nightly --profile minimal \
        || die "no nightly toolchain and 'rustup toolchain install nightly' failed: cargo-fuzz needs nightly (-Zsanitizer)"
fi
cargo +nightly --version >/dev/null 2>&1 || die "the nightly toolchain is listed but does not run"

cd "$root/fuzz"
# Every target in one build (cargo links them side by side); each run
# below then finds its target built.
echo "fuzz.sh: building ${#targets[@]} targets"
cargo +nightly fuzz build || die "the fuzz targets do not build (cargo +nightly fuzz build)"
scratch="$(mktemp -d)"
trap 'rm -rf "$scratch"' EXIT
for target in "${targets[@]}"; do
    if [[ "$seed" == 0 ]]; then
        corpus=("corpus/$target")
        mkdir -p "corpus/$target"
        seed_flag=()
    else
        corpus=("$scratch/$target")
        mkdir -p "$scratch/$target"
        seed_flag=("-seed=$seed")
    fi
    if [[ -d "regressions/$target" ]]; then
        corpus+=("regressions/$target")
    fi
    echo "fuzz.sh: fuzzing '$target' for ${seconds}s (seed ${seed/#0/random})"
    # cargo fuzz exits non-zero on a crash and leaves the input in
    # fuzz/artifacts/$target/; `cargo +nightly fuzz run $target <file>` replays it.
    cargo +nightly fuzz run "$target" "${corpus[@]}" -- -max_total_time="$seconds" "${seed_flag[@]}" \
        || die "fuzz target '$target' failed; reproducer(s) in fuzz/artifacts/$target/ (keep one in fuzz/regressions/$target/ once fixed)"
done
echo "fuzz.sh: ok (${#targets[@]} target(s), ${seconds}s each, no crash)"
