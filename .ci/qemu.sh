#!/usr/bin/env bash
# Runs the circuit-breaker scenario of tests/qemu on an emulated Cortex-M3
# (QEMU lm3s6965evb) and prints the release binary's .text size. Fails if the
# scenario fails (the firmware exits QEMU with EXIT_FAILURE) or hangs.
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

if ! command -v qemu-system-arm >/dev/null 2>&1; then
    echo "qemu-system-arm not found: installing it"
    if [ "$(id -u)" -eq 0 ]; then
        apt-get update && apt-get install -y qemu-system-arm
    elif command -v sudo >/dev/null 2>&1; then
        sudo apt-get update && sudo apt-get install -y qemu-system-arm
    else
        die "qemu-system-arm is missing and cannot be installed (not root, no sudo)"
    fi
    command -v qemu-system-arm >/dev/null 2>&1 || die "qemu-system-arm still missing after apt-get install"
fi

command -v rustup >/dev/null 2>&1 || die "rustup not found: cannot add thumbv7m-none-eabi"
rustup target add thumbv7m-none-eabi || die "'rustup target add thumbv7m-none-eabi' failed"

cd tests/qemu

# Build first, and learn where the ELF went (CARGO_TARGET_DIR may be set).
elf="$(cargo build --release --message-format=json-render-diagnostics |
    sed -n 's/.*"executable":"\([^"]*\)".*/\1/p' | tail -n 1)"
[ -n "$elf" ] && [ -f "$elf" ] || die "cargo build did not report the firmware ELF"

echo "+ cargo run --release (tests/qemu)"
timeout 300 cargo run --release || die "the QEMU scenario failed (exit status $?)"

# .text size: arm-none-eabi-size, llvm-size (system or rustup's llvm-tools), or readelf.
text_bytes=""
llvm_tools_size="$(ls "$(rustc --print sysroot)"/lib/rustlib/*/bin/llvm-size 2>/dev/null | head -n 1 || true)"
for tool in arm-none-eabi-size llvm-size "$llvm_tools_size"; do
    if [ -n "$tool" ] && command -v "$tool" >/dev/null 2>&1; then
        text_bytes="$("$tool" -A "$elf" | awk '$1 == ".text" { print $2 }')"
        [ -n "$text_bytes" ] && break
    fi
done
if [ -z "$text_bytes" ] && command -v readelf >/dev/null 2>&1; then
    hex="$(readelf -S -W "$elf" | sed 's/^ *\[ *[0-9]*\]//' | awk '$1 == ".text" { print $5 }')"
    [ -n "$hex" ] && text_bytes="$((16#$hex))"
fi
if [ -n "$text_bytes" ]; then
    echo ".text of $(basename "$elf") (thumbv7m-none-eabi, release): $text_bytes bytes"
else
    echo "warning: no size tool found (arm-none-eabi-size, llvm-size, readelf): .text size not reported" >&2
fi
