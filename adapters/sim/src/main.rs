//! `failsafe-sim`: runs the built-in suite (or a TOML file of your own),
//! prints the report and writes `report.md` and one SVG per scenario.

use std::io::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use failsafe_sim::report::{file_stem, markdown, shared_table, table};
use failsafe_sim::suite::{DEFAULT, EngineKind, parse, quick, run_suite};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// What your resilience configuration does when the dependency goes down,
/// slows down or throttles you: the real failsafe machines in virtual time.
#[derive(Debug, Parser)]
#[command(name = "failsafe-sim", version)]
struct Args {
    /// A suite of your own (TOML: scenarios and pipelines); the built-in
    /// suite if absent.
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
    /// Where to write report.md and the plots [default:
    /// $CARGO_TARGET_DIR/failsafe-sim if that is set, else
    /// target/failsafe-sim under the current directory]
    #[arg(long, value_name = "DIR")]
    out: Option<PathBuf>,
    /// The seed (instead of the file's).
    #[arg(long)]
    seed: Option<u64>,
    /// Only this scenario (the report shows it alone; the plots of the
    /// suite's other scenarios, left by an earlier run, are removed).
    #[arg(long, value_name = "NAME")]
    scenario: Option<String>,
    /// A tenth of the traffic and capacity: a quick look.
    #[arg(long)]
    quick: bool,
    /// Run the calls through the driver's async `Pipeline` on a
    /// virtual-time runtime instead of the event loop (slower; a check:
    /// both run the same machines).
    #[arg(long)]
    driver: bool,
    /// Print the built-in suite's TOML (a start for your own) and exit.
    #[arg(long)]
    print_default: bool,
}

fn main() -> ExitCode {
    let args = Args::parse();
    if args.print_default {
        // A closed pipe (`| head`) is not an error worth a panic.
        let _ = std::io::stdout().lock().write_all(DEFAULT.as_bytes());
        return ExitCode::SUCCESS;
    }
    let (text, origin) = match &args.config {
        Some(path) => match std::fs::read_to_string(path) {
            Ok(text) => (text, path.display().to_string()),
            Err(e) => {
                eprintln!("failsafe-sim: {}: {e}", path.display());
                return ExitCode::FAILURE;
            }
        },
        None => (DEFAULT.to_string(), "built-in suite".to_string()),
    };
    let mut suite = match parse(&text, &origin) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("failsafe-sim: {e}");
            return ExitCode::FAILURE;
        }
    };
    if let Some(seed) = args.seed {
        suite.seed = seed;
    }
    if args.quick {
        quick(&mut suite);
    }
    if let Some(name) = &args.scenario
        && !suite.scenarios.iter().any(|s| &s.name == name)
    {
        let names: Vec<&str> = suite.scenarios.iter().map(|s| s.name.as_str()).collect();
        eprintln!(
            "failsafe-sim: no scenario \"{name}\" (there are: {})",
            names.join(", ")
        );
        return ExitCode::FAILURE;
    }
    let bar = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr());
    bar.set_style(
        ProgressStyle::with_template("{spinner} run {pos}/{len} {wide_bar} {msg}")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    let started = std::time::Instant::now();
    let engine = if args.driver {
        EngineKind::Driver
    } else {
        EngineKind::Events
    };
    let result = run_suite(
        &suite,
        args.scenario.as_deref(),
        engine,
        &mut |k, total, t| {
            bar.set_length(total as u64);
            bar.set_position(k as u64);
            bar.set_message(format!("simulated {:.0} s", t.as_nanos() as f64 / 1e9));
        },
    );
    bar.finish_and_clear();
    let runs = match result {
        Ok(r) => r,
        Err(e) => {
            eprintln!("failsafe-sim: {e}");
            return ExitCode::FAILURE;
        }
    };
    let elapsed = started.elapsed();
    let mut out = std::io::stdout().lock();
    let _ = write!(out, "{}", table(&runs));
    let shared = shared_table(&runs);
    if !shared.is_empty() {
        let _ = write!(out, "\n{shared}");
    }
    let calls: u64 = runs.iter().map(|r| r.offered).sum();
    let _ = writeln!(
        out,
        "\n{} runs, {calls} simulated client calls in {:.2} s of real time; seed {}.\n\
         Columns: amplif. = attempts reaching the dependency per client call; rejected = the last attempt refused by an\n\
         admission machine (after any retry waited for its retry_at); latencies are of every call that ended, whatever\n\
         the end; recovery = from the dependency's recovery to the first bucket with 95% of calls succeeding (report.md).",
        runs.len(),
        elapsed.as_secs_f64(),
        suite.seed
    );
    let out_dir = args.out.clone().unwrap_or_else(default_out);
    if let Err(e) = write(&out_dir, &suite, &runs) {
        eprintln!("failsafe-sim: writing {}: {e}", out_dir.display());
        return ExitCode::FAILURE;
    }
    let _ = writeln!(
        out,
        "Report and plots: {}",
        out_dir.join("report.md").display()
    );
    ExitCode::SUCCESS
}

fn write(
    out: &std::path::Path,
    suite: &failsafe_sim::spec::SuiteSpec,
    runs: &[failsafe_sim::run::RunReport],
) -> Result<(), Box<dyn std::error::Error>> {
    std::fs::create_dir_all(out)?;
    let mut descriptions = Vec::new();
    for s in &suite.scenarios {
        let these: Vec<_> = runs.iter().filter(|r| r.scenario == s.name).collect();
        let plot = out.join(format!("{}.svg", file_stem(&s.name)));
        if these.is_empty() {
            // Not run this time (`--scenario`): an earlier run's plot would
            // sit beside a report that no longer shows it.
            match std::fs::remove_file(&plot) {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(e.into()),
                _ => continue,
            }
        }
        descriptions.push((s.name.clone(), s.description.clone(), s.note.clone()));
        let svg = failsafe_sim::plot::svg(&s.name, &these)?;
        std::fs::write(plot, svg)?;
    }
    std::fs::write(
        out.join("report.md"),
        markdown(runs, &descriptions, suite.seed),
    )?;
    Ok(())
}

/// Where the report goes by default: under cargo's target directory (the
/// one `CARGO_TARGET_DIR` names, if set), in `failsafe-sim`.
fn default_out() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map_or_else(|| PathBuf::from("target"), PathBuf::from)
        .join("failsafe-sim")
}
