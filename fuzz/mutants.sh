#!/usr/bin/env bash
# Mutation check for the fuzz targets: plants ONE known bug at a time into a
# scratch copy of core/, builds the fuzz target that must catch it against
# that copy, runs it from an empty corpus for a bounded time, and reports
# caught / survived per plant (with the time to the crash and the failed
# check's message). Exits non-zero if any plant survives, or if a plant no
# longer applies (the core changed under it: update its text below).
#
# Not run in CI (several minutes: one build and up to SECONDS of fuzzing per
# plant). See fuzz/README.md.
#
# Usage:
#   fuzz/mutants.sh                 # every plant, 60 s each at most
#   fuzz/mutants.sh 30 rate-max retry-elapsed-ge   # chosen plants, 30 s each
#   fuzz/mutants.sh --list          # the plants and what they change
#   MUTANTS_BASELINE=1 fuzz/mutants.sh   # first run each involved target on
#                                         # the unplanted copy (must survive)
#
# Environment:
#   MUTANTS_ALLOW   build-time variables to set while building the targets
#                   (for a check a core is known to fail). Default: none.
#   MUTANTS_DIR     scratch directory (default: a fresh mktemp -d, removed at
#                   the end unless MUTANTS_KEEP=1)
#   MUTANTS_TARGET_DIR  cargo target dir shared by every plant (default
#                   fuzz/target/mutants, so dependencies build once)
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
seconds=60
if [[ "${1:-}" =~ ^[0-9]+$ ]]; then
    seconds="$1"
    shift
fi

: "${MUTANTS_ALLOW=}"

# ---------------------------------------------------------------- the plants
# plant NAME TARGET FILE OLD NEW EXPECT DESCRIPTION
#   FILE is relative to core/src; OLD must occur in it (every occurrence is
#   replaced); EXPECT is an extended regex the panic message of the check
#   meant to catch it should match (another check catching it first still
#   counts as caught, and is shown).
names=() targets=() files=() olds=() news=() expects=() descs=()
plant() {
    names+=("$1") targets+=("$2") files+=("$3") olds+=("$4") news+=("$5") expects+=("$6") descs+=("$7")
}

# Issue 7, item 10: the bugs the targets could not see.
plant rate-max rate rate/mod.rs \
    'Rejected::new(RejectReason::RateLimited, Some(retry_at))' \
    'Rejected::new(RejectReason::RateLimited, { let _ = retry_at; Some(Instant::MAX) })' \
    'never|earliest instant|retry_at' \
    'every limiter answers retry_at = Instant::MAX'
plant retry-elapsed-ge retry retry/mod.rs \
    '.is_some_and(|max| at.saturating_duration_since(self.started) > max)' \
    '.is_some_and(|max| at.saturating_duration_since(self.started) >= max)' \
    'fits max_elapsed|gave up for max_elapsed' \
    'max_elapsed off by one (>= for >): a retry exactly at the limit gives up'
plant retry-deadline-any retry retry/mod.rs \
    '&& (at >= deadline' \
    '&& (true || at >= deadline' \
    'gave up for the deadline|fits max_elapsed' \
    'gives up with Deadline whenever any deadline is set'
plant retry-config-later-field retry retry/mod.rs \
    'if let Some(0) = self.config.max_attempts {' \
    'if let Err(e) = self.config.jitter.validate() { return Err(e); } if let Some(0) = self.config.max_attempts {' \
    'the bad ones, in order' \
    'config validation names a later bad field (jitter checked first)'
plant retry-full-jitter retry retry/backoff.rs \
    'Jitter::Full => rng.below(n.saturating_add(1)),' \
    'Jitter::Full => rng.below(n.saturating_add(2)),' \
    'outside \[' \
    'full jitter can exceed the delay by 1 ns (bound [0, d + 1])'
plant retry-equal-jitter retry retry/backoff.rs \
    'let half = n / 2;' \
    'let half = (n / 2).saturating_sub(1);' \
    'outside \[' \
    'equal jitter can go 1 ns under d / 2'
plant retry-proportional-jitter retry retry/backoff.rs \
    '(n - spread).saturating_add(rng.below(spread.saturating_mul(2).saturating_add(1)))' \
    '(n - spread).saturating_add(1).saturating_add(rng.below(spread.saturating_mul(2).saturating_add(1)))' \
    'outside \[' \
    'proportional jitter shifted up by 1 ns (d + r d + 1 possible)'
plant bulkhead-aimd-max bulkhead bulkhead/adaptive.rs \
    $'            limit: initial,\n            min,\n            max,\n            backoff_ppm' \
    $'            limit: initial,\n            min,\n            max: max.saturating_add(1),\n            backoff_ppm' \
    'not the one asked for|outside \[' \
    'Aimd builds with max_limit one above the one asked for'
plant breaker-time-minimum breaker breaker/machine.rs \
    'None => self.config.minimum_calls,' \
    'None => self.config.minimum_calls.saturating_add(1),' \
    'closed right after a record' \
    'a time window needs one call more than minimum_calls to trip'
plant failfast-gate-never failfast sync.rs \
    'let retry_at = (until != u64::MAX).then(|| Instant::from_nanos(until));' \
    'let retry_at = Some(Instant::from_nanos(until));' \
    'shared fail fast decided otherwise' \
    'the shared gate says Some(MAX) (never) where the machine says None (unknown)'

# The earlier off-by-ones (fuzz/README.md).
plant retry-attempts retry retry/mod.rs \
    $'        self.last_failure = Some(kind);\n        if self\n            .config\n            .max_attempts\n            .is_some_and(|max| self.attempts >= max)' \
    $'        self.last_failure = Some(kind);\n        if self\n            .config\n            .max_attempts\n            .is_some_and(|max| self.attempts > max)' \
    'attempts|last attempt' \
    'the attempt limit off by one'
plant retry-deadline-late retry retry/mod.rs \
    '&& (at >= deadline' \
    '&& (at > deadline' \
    'before the deadline' \
    'the deadline check one nanosecond late'
plant rate-period-early rate rate/gcra.rs \
    'if allowed_from <= now {' \
    'if allowed_from <= now.saturating_add(quota.period_nanos) {' \
    'span|model|earliest|retry_at' \
    'GCRA admits one period early'
plant rate-retry-early rate rate/gcra.rs \
    'Err(rate_limited(Instant::from_nanos(allowed_from)))' \
    'Err(rate_limited(Instant::from_nanos(allowed_from - 1)))' \
    'retry_at|earliest' \
    'GCRA retry_at one nanosecond early'
plant rate-atomic-burst rate rate/gcra.rs \
    'burst: AtomicU64::new(quota.burst as u64),' \
    'burst: AtomicU64::new(quota.burst as u64 + 1),' \
    'AtomicGcra disagree' \
    'AtomicGcra reads its burst as one more'
plant rate-sliding-limit rate rate/window.rs \
    'if used + n <= self.limit {' \
    'if used + n <= self.limit + 1 {' \
    'sliding window' \
    'SlidingWindow admits limit + 1'
plant bulkhead-admit-at-limit bulkhead bulkhead/machine.rs \
    'if self.waiting > 0 || self.in_flight >= limit {' \
    'if self.waiting > 0 || self.in_flight > limit {' \
    'permit .* of limit|admitted as|slots taken' \
    'admits while in_flight == limit'
plant failfast-open-late failfast failfast/machine.rs \
    '&& self.consecutive_failures >= self.config.consecutive_failures' \
    '&& self.consecutive_failures > self.config.consecutive_failures' \
    'did not open it' \
    'opens one failure late'
plant failfast-gate-le failfast sync.rs \
    'time.raw().as_nanos() < until' \
    'time.raw().as_nanos() <= until' \
    'shared fail fast' \
    'the shared gate rejects at the probe instant itself (<=)'
plant breaker-probe-quota breaker breaker/machine.rs \
    'Mode::HalfOpen(round) if round.admitted < self.config.half_open_probes => {' \
    'Mode::HalfOpen(round) if round.admitted <= self.config.half_open_probes => {' \
    'probes out|quota' \
    'half-open admits one probe more than half_open_probes'
plant breaker-retry-early breaker breaker/machine.rs \
    'Mode::Open { until } => Rejected::new(RejectReason::BreakerOpen, Some(until)),' \
    'Mode::Open { until } => Rejected::new(RejectReason::BreakerOpen, Some(Instant::from_nanos(until.as_nanos().saturating_sub(1)))),' \
    'left: Some|retry_at' \
    'an open breaker says retry_at one nanosecond early'

# Issue 7's fixes, so a regression is caught too.
plant rate-gcra-ignores-latest rate rate/gcra.rs \
    $'        let now = self.clock.observe(now).as_nanos();\n        self.tat = decide(self.tat, now, n, self.quota)?;' \
    $'        let now = { self.clock.observe(now); now.as_nanos() };\n        self.tat = decide(self.tat, now, n, self.quota)?;' \
    'clock contract' \
    'Gcra decides at the raw now, not the latest seen (item 3)'
plant breaker-half-open-full-when breaker breaker/machine.rs \
    'Mode::HalfOpen(_) => Rejected::new(RejectReason::BreakerHalfOpenFull, None),' \
    'Mode::HalfOpen(_) => Rejected::new(RejectReason::BreakerHalfOpenFull, Some(Instant::MAX)),' \
    'half-open full must say None' \
    'half-open full names an instant instead of None (item 6)'
plant retry-start-after-success retry retry/mod.rs \
    'Some(_) => return Err(GiveUp::Attempts),' \
    'Some(_) => return Err(GiveUp::Deadline),' \
    'after a success start_attempt' \
    'start_attempt after a success refuses with the wrong reason'

if [[ "${1:-}" == "--list" ]]; then
    for i in "${!names[@]}"; do
        printf '%-26s %-9s core/src/%-22s %s\n' "${names[$i]}" "${targets[$i]}" "${files[$i]}" "${descs[$i]}"
    done
    exit 0
fi

selected=()
if (($# == 0)); then
    selected=("${!names[@]}")
else
    for want in "$@"; do
        found=
        for i in "${!names[@]}"; do
            if [[ "${names[$i]}" == "$want" ]]; then
                selected+=("$i")
                found=1
            fi
        done
        [[ -n "$found" ]] || { echo "mutants.sh: no plant named '$want' (--list)" >&2; exit 2; }
    done
fi

cargo +nightly fuzz --version >/dev/null 2>&1 || {
    echo "mutants.sh: needs cargo-fuzz and nightly (cargo install cargo-fuzz --locked)" >&2
    exit 2
}

work="${MUTANTS_DIR:-$(mktemp -d -t failsafe-mutants.XXXXXX)}"
mkdir -p "$work"
if [[ -z "${MUTANTS_KEEP:-}" && -z "${MUTANTS_DIR:-}" ]]; then
    trap 'rm -rf "$work"' EXIT
fi
export CARGO_TARGET_DIR="${MUTANTS_TARGET_DIR:-$root/fuzz/target/mutants}"
for var in $MUTANTS_ALLOW; do
    export "$var=1"
done

# The copy: core/ and fuzz/ side by side (the fuzz crate's `path = "../core"`
# then points at the copy), under a workspace root that holds only core
# (core inherits its package fields and dependencies from it).
python3 - "$root/Cargo.toml" "$work/Cargo.toml" <<'EOF'
import re, sys
text = open(sys.argv[1]).read()
text = re.sub(r'members = \[[^\]]*\]', 'members = ["core"]', text, count=1)
open(sys.argv[2], "w").write(text)
EOF
rm -rf "$work/fuzz"
mkdir -p "$work/fuzz"
cp -r "$root/fuzz/Cargo.toml" "$root/fuzz/Cargo.lock" "$root/fuzz/fuzz_targets" "$work/fuzz/"

fresh_core() {
    rm -rf "$work/core"
    cp -r "$root/core" "$work/core"
}

apply_plant() { # file old new
    python3 - "$work/core/src/$1" "$2" "$3" <<'EOF'
import sys
path, old, new = sys.argv[1:]
text = open(path).read()
if old not in text:
    sys.exit(f"the text to replace is not in {path}:\n{old}")
open(path, "w").write(text.replace(old, new))
EOF
}

# Runs TARGET against the current copy; sets result, took, runs, message.
fuzz_once() { # target label
    local target="$1" label="$2" log="$work/$2.log"
    (cd "$work/fuzz" && cargo +nightly fuzz build "$target") >"$log.build" 2>&1 || {
        result=build-failed took=- runs=- message="$(grep -m1 -E '^error' "$log.build" || tail -1 "$log.build")"
        return
    }
    rm -rf "$work/corpus-$label" "$work/artifacts-$label"
    mkdir -p "$work/corpus-$label" "$work/artifacts-$label"
    local start end
    start=$(date +%s.%N)
    if (cd "$work/fuzz" && cargo +nightly fuzz run "$target" "$work/corpus-$label" -- \
        -max_total_time="$seconds" -seed=1 -artifact_prefix="$work/artifacts-$label/") >"$log" 2>&1; then
        result=survived
    else
        result=caught
    fi
    end=$(date +%s.%N)
    took=$(python3 -c "print(f'{$end - $start:.1f}')")
    runs=$(grep -oE '^#[0-9]+' "$log" | tail -1 | tr -d '#' || true)
    runs=${runs:-0}
    message=$(grep -m1 -A3 "panicked at" "$log" | tail -n +2 | grep -vE "^stack backtrace|^ +[0-9]+: |^note: " | tr "\n" " " | cut -c1-200 || true)
}

if [[ -n "${MUTANTS_BASELINE:-}" ]]; then
    fresh_core
    declare -A seen=()
    for i in "${selected[@]}"; do
        t="${targets[$i]}"
        [[ -n "${seen[$t]:-}" ]] && continue
        seen[$t]=1
        echo "mutants.sh: baseline: '$t' on the unplanted core for ${seconds}s" >&2
        fuzz_once "$t" "baseline-$t"
        if [[ "$result" != survived ]]; then
            echo "mutants.sh: the unplanted core fails '$t' ($result: $message); fix that (or set MUTANTS_ALLOW) first" >&2
            exit 1
        fi
        echo "baseline $t: survived ${took}s, ${runs} runs" >&2
    done
fi

printf '| plant | target | result | time | runs | message |\n|---|---|---|---|---|---|\n'
failed=0
for i in "${selected[@]}"; do
    name="${names[$i]}"
    echo "mutants.sh: planting '$name' (${descs[$i]}), fuzzing '${targets[$i]}' for up to ${seconds}s" >&2
    fresh_core
    if ! err=$(apply_plant "${files[$i]}" "${olds[$i]}" "${news[$i]}" 2>&1); then
        printf '| %s | %s | NOT APPLIED | - | - | %s |\n' "$name" "${targets[$i]}" "$(echo "$err" | head -1)"
        failed=1
        continue
    fi
    fuzz_once "${targets[$i]}" "$name"
    case "$result" in
        caught)
            if ! grep -qE "${expects[$i]}" <<<"$message"; then
                result="caught (another check)"
            fi
            ;;
        *) failed=1 ;;
    esac
    printf '| %s | %s | %s | %s s | %s | %s |\n' "$name" "${targets[$i]}" "$result" "$took" "$runs" "${message//|/\\|}"
done
fresh_core
exit "$failed"
