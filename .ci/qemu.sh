#!/usr/bin/env bash
# Runs the firmware scenarios of tests/qemu on an emulated Cortex-M3 (QEMU
# lm3s6965evb), built twice: for thumbv7m-none-eabi (Cortex-M3: 32-bit CAS,
# no 64-bit atomics) and thumbv6m-none-eabi (Cortex-M0: no CAS at all; the
# Cortex-M3 runs its code unchanged). The scenarios: a circuit-breaker
# timeline, then SysTick and thread mode hammering one static rate limiter,
# breaker, fail fast and bulkhead for 20,000 interrupts with exact counts.
# Prints each release binary's .text and .bss sizes. Fails if a scenario
# fails (the firmware exits QEMU with EXIT_FAILURE) or hangs (an interrupt
# spinning on a lock thread mode holds: killed after a timeout).
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

TARGETS=(thumbv7m-none-eabi thumbv6m-none-eabi)
# A scenario takes a few seconds; a hang is stopped after this many.
TIMEOUT=120

command -v rustup >/dev/null 2>&1 || die "rustup not found: cannot add ${TARGETS[*]}"
rustup target add "${TARGETS[@]}" || die "'rustup target add ${TARGETS[*]}' failed"

cd tests/qemu
cargo fmt --check || die "tests/qemu is not formatted (cargo fmt in tests/qemu)"

llvm_tools_size="$(ls "$(rustc --print sysroot)"/lib/rustlib/*/bin/llvm-size 2>/dev/null | head -n 1 || true)"

# Size of section $2 of ELF $1 in bytes: arm-none-eabi-size, llvm-size
# (system or rustup's llvm-tools), or readelf; empty if none works.
section_bytes() {
    local elf="$1" section="$2" tool bytes hex
    for tool in arm-none-eabi-size llvm-size "$llvm_tools_size"; do
        if [ -n "$tool" ] && command -v "$tool" >/dev/null 2>&1; then
            bytes="$("$tool" -A "$elf" | awk -v s="$section" '$1 == s { print $2 }')"
            if [ -n "$bytes" ]; then
                echo "$bytes"
                return
            fi
        fi
    done
    if command -v readelf >/dev/null 2>&1; then
        hex="$(readelf -S -W "$elf" | sed 's/^ *\[ *[0-9]*\]//' | awk -v s="$section" '$1 == s { print $5 }')"
        [ -n "$hex" ] && echo "$((16#$hex))"
    fi
}

sizes=()
for target in "${TARGETS[@]}"; do
    # Build first, and learn where the ELF went (CARGO_TARGET_DIR may be set).
    echo "+ cargo build --release --target $target (tests/qemu)"
    elf="$(cargo build --release --target "$target" --message-format=json-render-diagnostics |
        sed -n 's/.*"executable":"\([^"]*\)".*/\1/p' | tail -n 1)"
    [ -n "$elf" ] && [ -f "$elf" ] || die "cargo build did not report the firmware ELF for $target"

    echo "+ timeout $TIMEOUT cargo run --release --target $target (tests/qemu)"
    status=0
    timeout "$TIMEOUT" cargo run --release --target "$target" || status=$?
    if [ "$status" -eq 124 ]; then
        die "the QEMU scenario on $target hung (killed after ${TIMEOUT} s): an interrupt handler spinning on a lock?"
    elif [ "$status" -ne 0 ]; then
        die "the QEMU scenario on $target failed (exit status $status)"
    fi

    text_bytes="$(section_bytes "$elf" .text)"
    bss_bytes="$(section_bytes "$elf" .bss)"
    if [ -n "$text_bytes" ]; then
        sizes+=("$(basename "$elf") ($target, release): .text $text_bytes bytes, .bss ${bss_bytes:-?} bytes")
    else
        echo "warning: no size tool found (arm-none-eabi-size, llvm-size, readelf): sizes not reported" >&2
    fi
done
for line in "${sizes[@]}"; do
    echo "$line"
done
