//! The built-in suite (an embedded TOML file of the same shape as a
//! user's own), and running a whole suite.

use failsafe_core::Instant;
use failsafe_core::bulkhead::BulkheadConfig;
use failsafe_core::rate::Quota;

use crate::run::{RunError, RunReport, run};
use crate::spec::{PipelineSpec, ScenarioSpec, SharingSpec, SuiteSpec};

/// The built-in suite's file.
pub const DEFAULT: &str = include_str!("default.toml");

/// A suite file that does not parse, with where.
#[derive(Debug)]
pub struct ParseError(pub String);

impl core::fmt::Display for ParseError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for ParseError {}

/// Parses a suite file; `origin` names it in errors (which give the line
/// and column, and the field).
///
/// # Errors
///
/// The TOML or a value does not fit, or a scenario names a pipeline the
/// file does not define.
pub fn parse(text: &str, origin: &str) -> Result<SuiteSpec, ParseError> {
    let suite: SuiteSpec = toml::from_str(text).map_err(|e| {
        let at = e
            .span()
            .map(|s| {
                let line = text[..s.start].matches('\n').count() + 1;
                let line_start = text[..s.start].rfind('\n').map_or(0, |i| i + 1);
                let col = s.start - line_start + 1;
                (
                    format!("{origin}:{line}:{col}: "),
                    key_before(&text[line_start..s.start]),
                )
            })
            .unwrap_or_else(|| (format!("{origin}: "), None));
        let (at, table) = at;
        // A field of a `kind`-tagged table names itself in its message
        // (the span is the table's): `table.field`.
        let (key, message) = match e
            .message()
            .strip_prefix(crate::spec::FIELD_MARK)
            .and_then(|m| m.split_once("`: "))
        {
            Some((field, rest)) => (
                Some(table.map_or_else(|| field.to_string(), |t| format!("{t}.{field}"))),
                rest,
            ),
            None => (table.map(str::to_string), e.message()),
        };
        match key {
            Some(key) => ParseError(format!("{at}`{key}`: {message}")),
            None => ParseError(format!("{at}{message}")),
        }
    })?;
    for s in &suite.scenarios {
        for p in &s.pipelines {
            if !suite.pipelines.iter().any(|q| &q.name == p) {
                return Err(ParseError(format!(
                    "{origin}: scenario \"{}\" names pipeline \"{p}\", which is not defined",
                    s.name
                )));
            }
        }
    }
    check(&suite, origin)?;
    Ok(suite)
}

/// What a file can say that would make a run silently empty, ignored,
/// mixed up, wrong or endless, or abort it: no scenario or no pipeline, a
/// blank name, a pipeline or scenario defined twice (or two scenarios
/// whose plots would share a file), a pipeline run by no scenario or one
/// the core cannot build, a setting that applies to nothing, a scenario
/// with no traffic or more than the engine takes ([`check_traffic`]), a
/// recovery it cannot measure, too many instances or a time series too
/// fine to hold.
fn check(suite: &SuiteSpec, origin: &str) -> Result<(), ParseError> {
    let fail = |what: String| Err(ParseError(format!("{origin}: {what}")));
    if suite.scenarios.is_empty() {
        return fail(
            "`scenario` is empty: nothing to run (give at least one `[[scenario]]`)".into(),
        );
    }
    if suite.pipelines.is_empty() {
        return fail(
            "`pipeline` is empty: every scenario runs with the file's pipelines, so nothing would run (give at least one `[[pipeline]]`; one with only a `name` is no protection)".into(),
        );
    }
    let blank = |name: &String| name.trim().is_empty();
    if let Some(i) = suite.scenarios.iter().map(|s| &s.name).position(blank) {
        return fail(format!(
            "scenario number {}: `name` is blank: give it one (it names the scenario in the report and its plot's file)",
            i + 1
        ));
    }
    if let Some(i) = suite.pipelines.iter().map(|p| &p.name).position(blank) {
        return fail(format!(
            "pipeline number {}: `name` is blank: give it one (it names the pipeline in the report)",
            i + 1
        ));
    }
    for (i, s) in suite.scenarios.iter().enumerate() {
        // Compared without case: `A.svg` and `a.svg` are one file on
        // macOS and Windows.
        let stem = crate::report::file_stem(&s.name);
        if let Some(twin) = suite.scenarios[..i]
            .iter()
            .find(|t| crate::report::file_stem(&t.name).eq_ignore_ascii_case(&stem))
        {
            return fail(if twin.name == s.name {
                format!("scenario \"{}\" is defined twice", s.name)
            } else {
                format!(
                    "scenarios \"{}\" and \"{}\" would both plot to {stem}.svg: rename one",
                    twin.name, s.name
                )
            });
        }
        let run = s
            .duration
            .saturating_add(s.drain.unwrap_or(crate::engine::DRAIN));
        let points = run.as_nanos() / crate::run::bucket_of(s).as_nanos().max(1);
        if points > u128::from(crate::spec::MAX_POINTS) {
            return fail(format!(
                "scenario \"{}\": `bucket` makes {points} points of time series over the run and its drain, more than {}: choose a wider one",
                s.name,
                crate::spec::MAX_POINTS
            ));
        }
    }
    for (i, p) in suite.pipelines.iter().enumerate() {
        if suite.pipelines[..i].iter().any(|q| q.name == p.name) {
            return fail(format!("pipeline \"{}\" is defined twice", p.name));
        }
        if p.breaker_window.is_some() && p.breaker.is_none() {
            return fail(format!(
                "pipeline \"{}\": `breaker_window` without a `breaker` applies to nothing",
                p.name
            ));
        }
        if p.budget.is_some() && p.retry.is_none() {
            return fail(format!(
                "pipeline \"{}\": `budget` without a `retry` applies to nothing",
                p.name
            ));
        }
        if let Err(e) = p.build() {
            return fail(e.to_string());
        }
        let runs = suite
            .scenarios
            .iter()
            .any(|s| s.pipelines.is_empty() || s.pipelines.contains(&p.name));
        if !runs {
            return fail(format!(
                "pipeline \"{}\" runs in no scenario: add its name to a scenario's `pipelines`, or empty that list to run every pipeline",
                p.name
            ));
        }
    }
    for s in &suite.scenarios {
        check_shared(suite, s, &fail)?;
        if s.clients.is_some() && s.rate_per_sec != 0.0 {
            return fail(format!(
                "scenario \"{}\" gives both `clients` (each makes one call at time zero) and `rate_per_sec` (open traffic): give one",
                s.name
            ));
        }
        check_traffic(s, &fail)?;
    }
    Ok(())
}

/// A scenario's traffic: some, and not more than the engine can take or
/// a run can finish; its recovery within it.
fn check_traffic(
    s: &ScenarioSpec,
    fail: &dyn Fn(String) -> Result<(), ParseError>,
) -> Result<(), ParseError> {
    use crate::spec::{MAX_CALLS, MAX_CLIENTS, MAX_RATE_PER_SEC};
    let name = &s.name;
    if let Some(n) = s.clients
        && n > MAX_CLIENTS
    {
        return fail(format!(
            "scenario \"{name}\": `clients` must be at most {MAX_CLIENTS} (the calls the engine holds in flight at once), not {n}"
        ));
    }
    if s.rate_per_sec > MAX_RATE_PER_SEC {
        return fail(format!(
            "scenario \"{name}\": `rate_per_sec` must be at most {MAX_RATE_PER_SEC:e} (arrival gaps are whole nanoseconds: a faster rate would send too many calls), not {:e}",
            s.rate_per_sec
        ));
    }
    let traffic = match s.clients {
        Some(n) => n > 0,
        None => s.rate_per_sec.is_finite() && s.rate_per_sec > 0.0,
    };
    if !traffic {
        return fail(format!(
            "scenario \"{name}\" sends no calls: give `rate_per_sec` above zero, or `clients`"
        ));
    }
    let calls = s.rate_per_sec * s.duration.as_secs_f64();
    if s.clients.is_none() && calls > MAX_CALLS {
        return fail(format!(
            "scenario \"{name}\": `duration` ({:?}) at `rate_per_sec` {} makes about {calls:.1e} calls, more than {MAX_CALLS:e}: shorten `duration` or lower `rate_per_sec`",
            s.duration, s.rate_per_sec
        ));
    }
    // The virtual clock counts nanoseconds in a u64 (about 584 years).
    let drain = s.drain.unwrap_or(crate::engine::DRAIN);
    if s.duration.as_nanos() + drain.as_nanos() > u128::from(u64::MAX) {
        return fail(format!(
            "scenario \"{name}\": `duration` ({:?}) and `drain` ({drain:?}) run past the end of the virtual clock (about 584 years): shorten them",
            s.duration
        ));
    }
    // Recovery is looked for in the buckets that start at or after
    // `recovers_at` and before the traffic ends (`run::recovery`).
    let width = crate::run::bucket_of(s).as_nanos().max(1);
    if let Some(at) = s.recovers_at
        && at.as_nanos().div_ceil(width) >= s.duration.as_nanos().div_ceil(width)
    {
        return fail(format!(
            "scenario \"{name}\": `recovers_at` ({at:?}) leaves no time bucket before the traffic ends (`duration` {:?}, buckets of {}): recovery is looked for in the buckets that start at or after it while calls arrive; give an earlier one",
            s.duration,
            crate::report::human(crate::run::bucket_of(s))
        ));
    }
    Ok(())
}

/// A scenario of instances sharing a limit runs only pipelines that say
/// how they share it, and nothing else of a pipeline or a dependency
/// applies there; a pipeline that says it runs only in such scenarios.
fn check_shared(
    suite: &SuiteSpec,
    s: &ScenarioSpec,
    fail: &dyn Fn(String) -> Result<(), ParseError>,
) -> Result<(), ParseError> {
    let name = &s.name;
    let Some(shared) = s.shared else {
        for p in pipelines_of(suite, s) {
            if p.limit_sharing.is_some() {
                return fail(format!(
                    "scenario \"{name}\" runs pipeline \"{}\", whose `limit_sharing` needs a scenario with `shared = {{ instances = .. }}`: list the pipelines of scenario \"{name}\" in its `pipelines`",
                    p.name
                ));
            }
        }
        return Ok(());
    };
    if shared.instances == 0 || shared.instances > crate::spec::MAX_INSTANCES {
        return fail(format!(
            "scenario \"{name}\": `shared.instances` must be from 1 to {}, not {}",
            crate::spec::MAX_INSTANCES,
            shared.instances
        ));
    }
    let d = &s.dependency;
    if s.clients.is_some() || d.capacity.is_some() || d.chaos.is_some() || d.contention {
        return fail(format!(
            "scenario \"{name}\" with `shared`: only `rate_per_sec` traffic and a dependency's `latency`, `latency_jitter` and `throttle` apply (not `clients`, `capacity`, `chaos`, `contention`)"
        ));
    }
    for p in pipelines_of(suite, s) {
        let pipeline = &p.name;
        let Some(sharing) = p.limit_sharing else {
            return fail(format!(
                "scenario \"{name}\" with `shared` runs pipeline \"{pipeline}\", which has no `limit_sharing` (`{{ kind = \"local\" }}`, `\"shared\"` or `\"leased\"`)"
            ));
        };
        let Some(quota) = p.rate_limit else {
            return fail(format!(
                "pipeline \"{pipeline}\": `limit_sharing` needs `rate_limit` (the global quota)"
            ));
        };
        let others = p.breaker.is_some()
            || p.fail_fast.is_some()
            || p.bulkhead.is_some()
            || p.retry.is_some()
            || p.budget.is_some()
            || p.attempt_timeout.is_some()
            || p.timeout.is_some();
        if others {
            return fail(format!(
                "pipeline \"{pipeline}\" with `limit_sharing`: only `rate_limit` applies (not a breaker, fail fast, bulkhead, retry, budget or timeout)"
            ));
        }
        if let SharingSpec::Leased { batch, .. } = sharing
            && (batch == 0 || batch > quota.burst())
        {
            return fail(format!(
                "pipeline \"{pipeline}\": `limit_sharing.batch` must be from 1 to the `rate_limit` burst ({}), not {batch}",
                quota.burst()
            ));
        }
    }
    Ok(())
}

/// The key whose value starts where `before` ends (`a = { b = ` gives
/// `b`), if any.
fn key_before(before: &str) -> Option<&str> {
    let (head, tail) = before.rsplit_once('=')?;
    if !tail.trim().is_empty() {
        return None;
    }
    let head = head.trim_end();
    let start = head
        .rfind(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == '-' || c == '.'))
        .map_or(0, |i| i + 1);
    let key = &head[start..];
    (!key.is_empty()).then_some(key)
}

/// The pipelines a scenario runs with.
pub fn pipelines_of<'a>(suite: &'a SuiteSpec, scenario: &ScenarioSpec) -> Vec<&'a PipelineSpec> {
    suite
        .pipelines
        .iter()
        .filter(|p| scenario.pipelines.is_empty() || scenario.pipelines.contains(&p.name))
        .collect()
}

/// The seed of the run of scenario number `i` with pipeline number `j`:
/// every pipeline of one scenario gets the same seed (the same traffic).
pub fn seed_of(seed: u64, scenario: usize) -> u64 {
    seed ^ (scenario as u64 + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15)
}

/// A tenth of `quota`'s rate and burst (at least one).
fn tenth(quota: Quota) -> Quota {
    let period = quota.period().saturating_mul(10);
    Quota::with_period(period)
        .and_then(|q| q.with_burst((quota.burst() / 10).max(1)))
        .unwrap_or(quota)
}

/// Makes a suite quick: a tenth of the traffic and of the server's
/// capacity (the same utilisation), a quarter of the contending clients
/// (at least two, never more than asked), a tenth of every quota, a
/// bulkhead's limit and a lease's batch (a pipeline named after one of
/// those figures keeps its name).
pub fn quick(suite: &mut SuiteSpec) {
    for s in &mut suite.scenarios {
        s.rate_per_sec /= 10.0;
        if let Some(n) = s.clients.as_mut() {
            // At least two to contend, but never more than were asked.
            *n = (*n / 4).max((*n).min(2));
        }
        let d = &mut s.dependency;
        if let Some(c) = d.capacity.as_mut() {
            c.workers = (c.workers / 10).max(1);
            // A queue of none stays none (a server that refuses at once).
            c.queue = (c.queue / 10).max(c.queue.min(1));
        }
        d.throttle = d.throttle.map(tenth);
    }
    for p in &mut suite.pipelines {
        p.rate_limit = p.rate_limit.map(tenth);
        if let (Some(SharingSpec::Leased { batch, .. }), Some(q)) =
            (p.limit_sharing.as_mut(), p.rate_limit)
        {
            *batch = (*batch / 10).clamp(1, q.burst());
        }
        if let Some(b) = p.bulkhead {
            p.bulkhead = BulkheadConfig::builder()
                .max_concurrent((b.max_concurrent() / 10).max(1))
                .max_wait(b.max_wait())
                .build()
                .ok()
                .or(Some(b));
        }
    }
}

/// Which engine runs the calls.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum EngineKind {
    /// The event loop driving the core machines and retry plan directly
    /// ([`engine`](crate::engine)): fast.
    #[default]
    Events,
    /// The driver's async `Pipeline` on a virtual-time runtime
    /// ([`driver_engine`](crate::driver_engine)): slower, a check.
    Driver,
}

/// Runs every scenario of `suite` (or only `only`) with its pipelines on
/// `engine`; `progress` hears `(run index, runs in all, simulated
/// instant)`.
///
/// # Errors
///
/// A value the core rejects, or `only` names no scenario.
pub fn run_suite(
    suite: &SuiteSpec,
    only: Option<&str>,
    engine: EngineKind,
    progress: &mut dyn FnMut(usize, usize, Instant),
) -> Result<Vec<RunReport>, RunError> {
    let chosen: Vec<(usize, &ScenarioSpec)> = suite
        .scenarios
        .iter()
        .enumerate()
        .filter(|(_, s)| only.is_none_or(|n| s.name == n))
        .collect();
    let total: usize = chosen
        .iter()
        .map(|(_, s)| pipelines_of(suite, s).len())
        .sum();
    let mut reports = Vec::new();
    for (i, scenario) in chosen {
        for pipeline in pipelines_of(suite, scenario) {
            let k = reports.len();
            let seed = seed_of(suite.seed, i);
            progress(k, total, Instant::ZERO);
            reports.push(match engine {
                EngineKind::Events => {
                    run(scenario, pipeline, seed, &mut |t| progress(k, total, t))?
                }
                EngineKind::Driver => crate::driver_engine::run_driver(scenario, pipeline, seed)?,
            });
        }
    }
    Ok(reports)
}
