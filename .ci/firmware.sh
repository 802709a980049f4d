#!/usr/bin/env bash
# Builds and runs the embassy firmware of tests/firmware (embassy-executor,
# a SysTick time driver, a circuit breaker with a 128-call window, a retry
# with exponential backoff and full jitter, a GCRA limiter) under QEMU for
# thumbv7em-none-eabihf (Cortex-M4F, MPS2 AN386), thumbv7m-none-eabi and
# thumbv6m-none-eabi (Cortex-M3, LM3S6965), then builds it without failsafe
# (the `failsafe` feature off: the same tasks, unprotected) and reports what
# failsafe adds on thumbv7em (opt-level "s", LTO, one codegen unit):
# sections, failsafe's share of .text attributed through the debug info,
# the panic call sites reachable from failsafe code, the floating-point
# support linked, ending with one line
#   firmware-size: text_added=<bytes> breaker128_ram=<bytes> float_linked=<yes|no> reachable_panics=<count>
# (tests/firmware/size_report.py). Also checks that the README's firmware
# quick start is src/quick_start.rs verbatim and runs it (src/bin/quick_start.rs)
# on thumbv7em under QEMU, and proves at link time that failsafe's
# firmware paths cannot panic (src/bin/no_panic.rs, linked with
# panic-never, whose handler refers to a symbol that does not exist). Fails
# if the firmware fails or hangs on any target or the proof does not link,
# and if the figures miss the firmware-fitness goals: at most 8 KiB of
# .text added, at most 64 B of RAM for the breaker with a 128-call window,
# no soft-float or libm code, no reachable panic.
# Runnable from anywhere; idempotent.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

die() {
    echo >&2
    echo "########################################################################" >&2
    echo "## ERROR: $*" >&2
    echo "########################################################################" >&2
    exit 1
}

source .ci/ensure.sh
ensure_command qemu-system-arm qemu-system-arm
ensure_command addr2line binutils
ensure_command python3 python3

TARGETS=(thumbv7em-none-eabihf thumbv7m-none-eabi thumbv6m-none-eabi)
MEASURED=thumbv7em-none-eabihf
TIMEOUT=120

command -v rustup >/dev/null 2>&1 || die "rustup not found: cannot add ${TARGETS[*]}"
rustup target add "${TARGETS[@]}" || die "'rustup target add ${TARGETS[*]}' failed"
rustup component add llvm-tools || die "'rustup component add llvm-tools' failed (llvm-size, llvm-nm, llvm-objdump)"
LLVM_BIN="$(dirname "$(ls "$(rustc --print sysroot)"/lib/rustlib/*/bin/llvm-size | head -n 1)")"
export LLVM_BIN

cd tests/firmware
scratch="$(mktemp -d)"
trap 'rm -rf "$scratch"' EXIT

# build_and_run TARGET [cargo flags]: prints the firmware's output, fails on
# a failed check or a hang, copies the ELF to $scratch/TARGET$suffix.
build_and_run() {
    local target="$1" suffix="$2"
    shift 2
    local elf status=0
    echo "+ cargo build --release --target $target $* (tests/firmware)"
    elf="$(cargo build --release --target "$target" --bin failsafe-firmware "$@" --message-format=json-render-diagnostics |
        sed -n 's/.*"executable":"\([^"]*\)".*/\1/p' | tail -n 1)"
    [ -n "$elf" ] && [ -f "$elf" ] || die "cargo build did not report the firmware ELF for $target"
    cp "$elf" "$scratch/$target$suffix"
    echo "+ timeout $TIMEOUT cargo run --release --target $target $*"
    timeout "$TIMEOUT" cargo run --release --target "$target" --bin failsafe-firmware "$@" | tee "$scratch/$target$suffix.out" || status=$?
    if [ "$status" -eq 124 ]; then
        die "the firmware on $target hung (killed after ${TIMEOUT} s)"
    elif [ "$status" -ne 0 ]; then
        die "the firmware on $target failed (exit status $status)"
    fi
}

echo "+ cargo fmt --check; cargo clippy -D warnings, with and without failsafe (tests/firmware)"
cargo fmt --check || die "tests/firmware is not formatted (cargo fmt in tests/firmware)"
cargo clippy --release -- -D warnings || die "clippy warnings in tests/firmware"
cargo clippy --release --no-default-features -- -D warnings || die "clippy warnings in tests/firmware (without failsafe)"

# The README's firmware quick start is src/quick_start.rs, verbatim: the
# fenced block after the marker line below, compared line by line.
echo "+ the README's firmware quick start is tests/firmware/src/quick_start.rs"
marker='<!-- firmware quick start: tests/firmware/src/quick_start.rs -->'
awk -v marker="$marker" '
    $0 == marker { found = 1; next }
    found == 1 && /^```/ { found = 2; next }
    found == 2 && /^```/ { exit }
    found == 2 { print }
' ../../README.md >"$scratch/readme_quick_start.rs"
[ -s "$scratch/readme_quick_start.rs" ] || die "README.md has no block after the line '$marker'"
diff -u src/quick_start.rs "$scratch/readme_quick_start.rs" ||
    die "README.md's firmware quick start differs from tests/firmware/src/quick_start.rs (diff above): copy the file into the README block"

for target in "${TARGETS[@]}"; do
    build_and_run "$target" ""
done

# The quick start as a whole firmware (src/bin/quick_start.rs): built and
# run on thumbv7em, so the README's text is proved to compile and work.
echo "+ timeout $TIMEOUT cargo run --release --target $MEASURED --bin failsafe-quick-start"
status=0
timeout "$TIMEOUT" cargo run --release --target "$MEASURED" --bin failsafe-quick-start || status=$?
[ "$status" -ne 124 ] || die "the quick-start firmware hung (killed after ${TIMEOUT} s)"
[ "$status" -eq 0 ] || die "the quick-start firmware failed (exit status $status)"

# The pipeline on a firmware (src/bin/pipeline.rs): a breaker, a limiter, a
# retry and an attempt timeout in one `static` pipeline, run on thumbv7em.
echo "+ timeout $TIMEOUT cargo run --release --target $MEASURED --bin failsafe-pipeline"
status=0
timeout "$TIMEOUT" cargo run --release --target "$MEASURED" --bin failsafe-pipeline || status=$?
[ "$status" -ne 124 ] || die "the pipeline firmware hung (killed after ${TIMEOUT} s)"
[ "$status" -eq 0 ] || die "the pipeline firmware failed (exit status $status)"
build_and_run "$MEASURED" "-base" --no-default-features

# The link-time proof: failsafe's firmware paths linked with `panic-never`
# (src/bin/no_panic.rs) link only if no panicking branch survives.
for target in thumbv7em-none-eabihf thumbv7m-none-eabi; do
    echo "+ cargo build --release --target $target --bin failsafe-no-panic (the link-time no-panic proof)"
    cargo build --release --target "$target" --bin failsafe-no-panic ||
        die "a panicking branch survives in failsafe's firmware paths on $target: the link with panic-never failed. To find it: RUSTFLAGS='-C link-arg=-Tlink.x -C link-arg=--unresolved-symbols=ignore-all' cargo build --release --target $target --bin failsafe-no-panic, then look for calls to core::panicking::* in llvm-objdump -d and run addr2line -i -f -C on their addresses"
done
echo "no-panic proof: ok (failsafe-no-panic links with panic-never on thumbv7em and thumbv7m)"

ram_line="$(grep -o 'breaker128_ram=.*' "$scratch/$MEASURED.out" | tail -n 1)"
[ -n "$ram_line" ] || die "the firmware did not print its RAM line (breaker128_ram=...)"
echo
echo "==== what failsafe adds to the firmware on $MEASURED (opt-level s, LTO)"
python3 size_report.py "$scratch/$MEASURED" "$scratch/$MEASURED-base" "$ram_line" | tee "$scratch/report"
summary="$(grep '^firmware-size: ' "$scratch/report" | tail -n 1)"
[ -n "$summary" ] || die "size_report.py printed no firmware-size line"
figure() { sed -n "s/.* $1=\([^ ]*\).*/\1/p" <<<"$summary"; }
TEXT_GOAL=8192
[ "$(figure text_added)" -le "$TEXT_GOAL" ] ||
    die "failsafe adds $(figure text_added) B of .text on $MEASURED, over the $TEXT_GOAL B goal (the report above says where)"
RAM_GOAL=64
[ "$(figure breaker128_ram)" -le "$RAM_GOAL" ] ||
    die "the breaker with a 128-call window takes $(figure breaker128_ram) B of RAM on $MEASURED, over the $RAM_GOAL B goal (core/src/breaker/tests.rs firmware_breaker_layout itemises it)"
[ "$(figure float_linked)" = no ] ||
    die "soft-float or libm code is linked on $MEASURED (the report above names it): no pattern option the firmware uses needs floating point"
[ "$(figure reachable_panics)" -eq 0 ] ||
    die "$(figure reachable_panics) panic call site(s) reachable from failsafe code on $MEASURED (listed above)"
