//! The report: a table for the terminal, `report.md` for the files.

use core::fmt::Write as _;
use core::time::Duration;

use crate::run::RunReport;

/// A duration as a person reads it: `850µs`, `12.3ms`, `4.21s`.
pub fn human(d: Duration) -> String {
    let us = d.as_micros();
    if us < 1_000 {
        format!("{us}µs")
    } else if us < 1_000_000 {
        format!("{:.1}ms", us as f64 / 1e3)
    } else {
        format!("{:.2}s", us as f64 / 1e6)
    }
}

fn recovery(r: &RunReport) -> String {
    match r.recovery {
        None => "-".into(),
        Some(None) => "never".into(),
        Some(Some(d)) => human(d),
    }
}

const HEADER: [&str; 15] = [
    "scenario",
    "pipeline",
    "offered",
    "succeeded",
    "failed",
    "rejected",
    "timed out",
    "hung",
    "amplif.",
    "p50",
    "p99",
    "p99.9",
    "recovery",
    "transitions",
    "done at",
];

fn row(r: &RunReport) -> [String; 15] {
    [
        r.scenario.clone(),
        r.pipeline.clone(),
        r.offered.to_string(),
        r.succeeded.to_string(),
        r.failed.to_string(),
        r.rejected.to_string(),
        r.timed_out.to_string(),
        r.unfinished.to_string(),
        format!("{:.2}", r.amplification()),
        human(r.p50),
        human(r.p99),
        human(r.p999),
        recovery(r),
        r.transitions.len().to_string(),
        human(r.completion),
    ]
}

/// The runs as an aligned text table.
pub fn table(runs: &[RunReport]) -> String {
    let rows: Vec<[String; 15]> = runs.iter().map(row).collect();
    let mut widths = HEADER.map(|h| h.chars().count());
    for r in &rows {
        for (w, cell) in widths.iter_mut().zip(r) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let mut out = String::new();
    let line = |out: &mut String, cells: &[String]| {
        for (i, (cell, w)) in cells.iter().zip(widths).enumerate() {
            let pad = w - cell.chars().count();
            if i < 2 {
                let _ = write!(out, "{cell}{}  ", " ".repeat(pad));
            } else {
                let _ = write!(out, "{}{cell}  ", " ".repeat(pad));
            }
        }
        out.truncate(out.trim_end().len());
        out.push('\n');
    };
    line(&mut out, &HEADER.map(String::from));
    let total: usize = widths.iter().sum::<usize>() + 2 * (widths.len() - 1);
    out.push_str(&"-".repeat(total));
    out.push('\n');
    let mut previous = None;
    for (r, cells) in runs.iter().zip(&rows) {
        if previous.is_some_and(|p: &str| p != r.scenario) {
            out.push('\n');
        }
        previous = Some(&r.scenario);
        line(&mut out, cells);
    }
    out
}

/// The runs as a Markdown table.
pub fn markdown_table(runs: &[RunReport]) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "| {} |", HEADER.join(" | "));
    let _ = writeln!(
        out,
        "|{}",
        HEADER
            .iter()
            .enumerate()
            .map(|(i, _)| if i < 2 { "---|" } else { "---:|" })
            .collect::<String>()
    );
    for r in runs {
        let mut cells = row(r);
        for name in &mut cells[..2] {
            *name = markdown_text(name);
        }
        let _ = writeln!(out, "| {} |", cells.join(" | "));
    }
    out
}

/// A name as Markdown text that shows as itself: in a table cell, a
/// heading or a link's text (`|` would end a cell, `<x>` be taken for
/// HTML, `*` or `[` for emphasis or a link; a line break, end the line).
pub fn markdown_text(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    for c in name.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '\\' | '`' | '*' | '_' | '[' | ']' | '|' | '#' | '!' | '~' => {
                out.push('\\');
                out.push(c);
            }
            c if c.is_control() => out.push(' '),
            c => out.push(c),
        }
    }
    out
}

/// A name as a Markdown code span that shows as itself, whatever
/// backticks it holds.
pub fn markdown_code(name: &str) -> String {
    let name: String = name
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    let mut longest = 0;
    let mut run = 0;
    for c in name.chars() {
        run = if c == '`' { run + 1 } else { 0 };
        longest = longest.max(run);
    }
    let fence = "`".repeat(longest + 1);
    let pad = if name.starts_with('`') || name.ends_with('`') {
        " "
    } else {
        ""
    };
    format!("{fence}{pad}{name}{pad}{fence}")
}

const SHARED_HEADER: [&str; 11] = [
    "scenario",
    "pipeline",
    "instances",
    "worst window",
    "limit",
    "× limit",
    "bound",
    "429s",
    "store trips/call",
    "added mean",
    "added max",
];

fn shared_row(r: &RunReport, s: &crate::shared::SharedStats) -> [String; 11] {
    [
        r.scenario.clone(),
        r.pipeline.clone(),
        s.instances.to_string(),
        format!("{} in {}", s.worst_window, human(s.window)),
        s.limit.to_string(),
        format!("{:.2}", s.over_limit()),
        if matches!(s.sharing, crate::spec::SharingSpec::Local {}) {
            "-".into()
        } else {
            s.bound.to_string()
        },
        s.throttled.to_string(),
        format!("{:.3}", s.round_trips_per_call()),
        human(s.added_latency_mean()),
        human(s.added_latency_max),
    ]
}

fn shared_rows(runs: &[RunReport]) -> Vec<[String; 11]> {
    runs.iter()
        .filter_map(|r| r.shared.as_ref().map(|s| shared_row(r, s)))
        .collect()
}

/// The runs of scenarios of instances sharing one limit
/// ([`crate::shared`]) as an aligned text table; empty if there are none.
pub fn shared_table(runs: &[RunReport]) -> String {
    let rows = shared_rows(runs);
    if rows.is_empty() {
        return String::new();
    }
    let mut widths = SHARED_HEADER.map(|h| h.chars().count());
    for r in &rows {
        for (w, cell) in widths.iter_mut().zip(r) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let mut out = String::new();
    let line = |out: &mut String, cells: &[String]| {
        for (i, (cell, w)) in cells.iter().zip(widths).enumerate() {
            let pad = " ".repeat(w - cell.chars().count());
            if i < 2 {
                let _ = write!(out, "{cell}{pad}  ");
            } else {
                let _ = write!(out, "{pad}{cell}  ");
            }
        }
        out.truncate(out.trim_end().len());
        out.push('\n');
    };
    line(&mut out, &SHARED_HEADER.map(String::from));
    let total: usize = widths.iter().sum::<usize>() + 2 * (widths.len() - 1);
    out.push_str(&"-".repeat(total));
    out.push('\n');
    for r in &rows {
        line(&mut out, r);
    }
    out
}

/// The shared-limit runs as a Markdown table with its legend; empty if
/// there are none.
pub fn shared_markdown(runs: &[RunReport]) -> String {
    let rows = shared_rows(runs);
    if rows.is_empty() {
        return String::new();
    }
    let mut out = String::new();
    let _ = writeln!(out, "| {} |", SHARED_HEADER.join(" | "));
    let _ = writeln!(
        out,
        "|{}",
        (0..SHARED_HEADER.len())
            .map(|i| if i < 2 { "---|" } else { "---:|" })
            .collect::<String>()
    );
    for r in &rows {
        let mut cells = r.clone();
        for name in &mut cells[..2] {
            *name = markdown_text(name);
        }
        let _ = writeln!(out, "| {} |", cells.join(" | "));
    }
    out.push('\n');
    out.push_str(SHARED_LEGEND);
    out
}

/// What the shared-limit table's columns mean.
pub const SHARED_LEGEND: &str = "\
- **worst window**: the most calls sent upstream in any window of that length; **limit**: what one limiter of the \
global quota admits at most in it (`shared_bound`: burst + window / period); **× limit**: worst window / limit; \
**bound**: the documented bound of the sharing (`shared_bound`; `leased_bound` = limit + instances × (batch − 1) \
for leased; local-only has none).
- **429s**: calls the upstream refused; **store trips/call**: round trips to the shared store per call offered; \
**added mean / max**: time from a call's arrival to its limiter's decision (the store's round trip, or waiting for \
a lease).
";

/// What each column means, for `report.md`.
pub const LEGEND: &str = "\
- **offered**: client calls made; **succeeded / failed / rejected / timed out / hung**: how they ended \
(failed: the dependency's error after any retries; rejected: the last attempt was refused by an admission \
machine without reaching the dependency (not necessarily fast: a retry may first have waited for the machine's \
`retry_at`, which shows in the latency columns); hung: still open when the run stopped, the scenario's `drain` \
(60 s unless it says) after its traffic ended).
- **amplif.**: attempts that reached the dependency per client call offered (load amplification).
- **p50 / p99 / p99.9**: latency of the client calls that ended, retries and backoffs included.
- **recovery**: from the dependency's recovery to the end of the first time bucket in which at least 95% of the \
calls ending succeeded (resolution: one bucket); `never` if that did not happen, `-` for scenarios without a recovery.
- **transitions**: state changes of the circuit breaker (and fail fast).
- **done at**: when the last call ended (the contention experiment's completion time).
";

/// `report.md`: the table, the legend, then one section per scenario with
/// its plot and breaker timeline.
pub fn markdown(
    runs: &[RunReport],
    descriptions: &[(String, String, String)],
    seed: u64,
) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "# failsafe-sim report\n");
    let _ = writeln!(
        out,
        "Seed {seed}. Every figure comes from the real failsafe-core machines run in virtual time; \
the same seed gives the same report.\n"
    );
    out.push_str(&markdown_table(runs));
    out.push('\n');
    out.push_str(LEGEND);
    let shared = shared_markdown(runs);
    if !shared.is_empty() {
        let _ = write!(out, "\n### Instances sharing one limit\n\n{shared}");
    }
    for (name, description, note) in descriptions {
        let shown = markdown_text(name);
        let _ = writeln!(out, "\n## {shown}\n\n{description}\n");
        if !note.is_empty() {
            let _ = writeln!(out, "{note}\n");
        }
        let _ = writeln!(out, "![{shown}]({}.svg)\n", file_stem(name));
        for r in runs.iter().filter(|r| &r.scenario == name) {
            if r.transitions.is_empty() {
                continue;
            }
            let shown: Vec<String> = r
                .transitions
                .iter()
                .take(8)
                .map(|t| {
                    format!(
                        "{} {}→{} at {}",
                        t.machine,
                        t.from,
                        t.to,
                        human(t.at.saturating_duration_since(failsafe_core::Instant::ZERO))
                    )
                })
                .collect();
            let more = r.transitions.len().saturating_sub(8);
            let _ = write!(
                out,
                "- {}: {}",
                markdown_code(&r.pipeline),
                shown.join("; ")
            );
            if more > 0 {
                let _ = write!(out, "; … {more} more");
            }
            out.push('\n');
        }
    }
    out
}

/// A scenario's name as a file name.
pub fn file_stem(name: &str) -> String {
    name.chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .collect()
}
