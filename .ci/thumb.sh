#!/usr/bin/env bash
# Checks the no_std crates for Cortex-M targets: the plain proof that they
# and every dependency they pull are no_std (and, with --features defmt, that
# the defmt derives compile). A check, not a build: a library's proof needs
# no code generated, and .ci/qemu.sh and .ci/firmware.sh build and run
# firmware from them. Runnable from anywhere; idempotent.
#
#   thumbv7em-none-eabihf  failsafe-core (+ defmt, + serde), failsafe-driver, failsafe-embassy (+ defmt)
#   thumbv6m-none-eabi     failsafe-core, failsafe-embassy with `critical-section`
#                          (no atomic CAS: every shared type runs in a critical
#                          section), and without it the core's compile_error!
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

run cargo check -p failsafe-core --target "$V7EM"
run cargo check -p failsafe-core --target "$V7EM" --features defmt
# serde: the configurations' file forms are no_std and need no allocator
run cargo check -p failsafe-core --target "$V7EM" --features serde
run cargo check -p failsafe-core --target "$V7EM" --features serde,alloc
run cargo check -p failsafe-driver --target "$V7EM"
run cargo check -p failsafe-driver --target "$V7EM" --features defmt
run cargo check -p failsafe-embassy --target "$V7EM"
run cargo check -p failsafe-embassy --target "$V7EM" --features defmt
# The defmt-only code (DefmtObserver) is never compiled by host clippy.
run cargo clippy -p failsafe-embassy --target "$V7EM" --features defmt,critical-section -- -D warnings

run cargo check -p failsafe-core --target "$V6M" --features critical-section
# Without the feature, thumbv6m must stop with the core's compile_error!
# naming it (not an unresolved import deep in a dependency).
echo "+ cargo check -p failsafe-core --target $V6M (must fail, naming the feature)"
if out="$(cargo check -p failsafe-core --target "$V6M" 2>&1)"; then
    die "failsafe-core checked for $V6M without the critical-section feature: the compile_error! guard is gone"
fi
grep -q 'error: failsafe-core: this target has no atomic compare-and-swap' <<<"$out" &&
    grep -q 'Enable the `critical-section` feature' <<<"$out" ||
    die "failsafe-core failed for $V6M without critical-section, but not with the compile_error! naming the feature:
$out"
run cargo check -p failsafe-embassy --target "$V6M" --features critical-section
run cargo check -p failsafe-embassy --target "$V6M" --features critical-section,defmt

echo "thumb builds: ok"
