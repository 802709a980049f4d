# The workspace's feature set for every whole-workspace cargo run in CI
# (the tests, clippy, the docs, the examples and the bench smoke), sourced
# by .ci/test and .ci/run: one feature set means cargo builds each crate
# once, not once per step. failsafe-core's `serde`, `alloc` and `arbitrary` make
# tests/tests/config_files.rs and the core's doc tests of `serde_support`
# and `arbitrary` run; failsafe-redis's `registry` its registry tests.
# shellcheck shell=bash
WORKSPACE_FEATURES="failsafe-core/serde,failsafe-core/alloc,failsafe-core/arbitrary,failsafe-redis/registry"
# The whole workspace with that feature set (the embassy mock-time tests
# stay out: their driver cannot link beside embassy-time's std one).
# shellcheck disable=SC2034
WORKSPACE=(--workspace --exclude failsafe-embassy-mock-tests --features "$WORKSPACE_FEATURES")
