#!/usr/bin/env bash
# Builds the no_std crates for Cortex-M targets: the plain proof that they
# and every dependency they pull are no_std (and, with --features defmt, that
# the defmt derives compile). Runnable from anywhere; idempotent.
#
#   thumbv7em-none-eabihf  failsafe-core, failsafe-driver, failsafe-embassy (+ defmt)
#   thumbv6m-none-eabi     failsafe-core, failsafe-embassy with `critical-section`
#                          (no atomic CAS: 64-bit atomics go through a critical section)
#   thumbv7m-none-eabi     added here for .ci/qemu.sh
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

TARGETS=(thumbv7em-none-eabihf thumbv6m-none-eabi thumbv7m-none-eabi)

die() {
    echo >&2
    echo "########################################################################" >&2
    echo "## ERROR: $*" >&2
    echo "########################################################################" >&2
    exit 1
}

command -v rustup >/dev/null 2>&1 || die "rustup not found: cannot add the thumb targets (${TARGETS[*]})"
rustup target add "${TARGETS[@]}" ||
    die "'rustup target add ${TARGETS[*]}' failed: the no_std builds cannot run"
installed="$(rustup target list --installed)"
for t in "${TARGETS[@]}"; do
    grep -qx "$t" <<<"$installed" || die "target $t is still not installed after 'rustup target add'"
done

run() {
    echo "+ $*"
    "$@"
}

V7EM=thumbv7em-none-eabihf
V6M=thumbv6m-none-eabi

run cargo build -p failsafe-core --target "$V7EM"
run cargo build -p failsafe-core --target "$V7EM" --features defmt
run cargo build -p failsafe-driver --target "$V7EM"
run cargo build -p failsafe-driver --target "$V7EM" --features defmt
run cargo build -p failsafe-embassy --target "$V7EM"
run cargo build -p failsafe-embassy --target "$V7EM" --features defmt
# The defmt-only code (DefmtObserver) is never compiled by host clippy.
run cargo clippy -p failsafe-embassy --target "$V7EM" --features defmt,critical-section -- -D warnings

run cargo build -p failsafe-core --target "$V6M" --features critical-section
run cargo build -p failsafe-embassy --target "$V6M" --features critical-section
run cargo build -p failsafe-embassy --target "$V6M" --features critical-section,defmt

echo "thumb builds: ok"
