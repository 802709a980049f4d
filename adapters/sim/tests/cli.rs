//! The `failsafe-sim` command as a user runs it: what it writes, what it
//! leaves, and how it refuses bad arguments.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn sim(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_failsafe-sim"))
        .args(args)
        .output()
        .expect("the binary runs")
}

/// A fresh directory of this test's own under the target directory.
fn fresh_dir(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn files(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    names
}

#[test]
fn one_scenario_leaves_its_own_plot_and_report_and_no_stale_plot() {
    let dir = fresh_dir("cli_one_scenario");
    let out = dir.to_str().unwrap();
    std::fs::write(dir.join("notes.svg"), "mine").unwrap();
    let all = sim(&["--quick", "--out", out]);
    assert!(
        all.status.success(),
        "{}",
        String::from_utf8_lossy(&all.stderr)
    );
    let plots: Vec<String> = files(&dir)
        .into_iter()
        .filter(|f| f.ends_with(".svg"))
        .collect();
    assert!(
        plots.len() >= 8,
        "one plot per scenario, and mine: {plots:?}"
    );

    let one = sim(&["--quick", "--scenario", "outage", "--out", out]);
    assert!(
        one.status.success(),
        "{}",
        String::from_utf8_lossy(&one.stderr)
    );
    assert_eq!(files(&dir), ["notes.svg", "outage.svg", "report.md"]);
    assert_eq!(
        std::fs::read_to_string(dir.join("notes.svg")).unwrap(),
        "mine"
    );
    let report = std::fs::read_to_string(dir.join("report.md")).unwrap();
    assert!(report.contains("outage.svg"), "the report shows its plot");
    assert!(!report.contains("brownout"), "and only the scenario run");
    let table = String::from_utf8(one.stdout).unwrap();
    assert!(
        table.contains("outage") && !table.contains("brownout"),
        "{table}"
    );
}

#[test]
fn an_unknown_scenario_is_refused_with_the_names_there_are() {
    let dir = fresh_dir("cli_unknown");
    let run = sim(&[
        "--quick",
        "--scenario",
        "outages",
        "--out",
        dir.to_str().unwrap(),
    ]);
    assert!(!run.status.success());
    let err = String::from_utf8(run.stderr).unwrap();
    assert!(err.contains("no scenario \"outages\""), "{err}");
    assert!(err.contains("outage, brownout"), "{err}");
    assert!(files(&dir).is_empty(), "nothing written");
}

#[test]
fn a_missing_or_bad_config_is_refused_with_its_path() {
    let missing = sim(&["--config", "/nonexistent/suite.toml"]);
    assert!(!missing.status.success());
    let err = String::from_utf8(missing.stderr).unwrap();
    assert!(err.contains("/nonexistent/suite.toml"), "{err}");

    let dir = fresh_dir("cli_bad_config");
    let path = dir.join("suite.toml");
    std::fs::write(&path, "seed = \"seven\"\n").unwrap();
    let bad = sim(&["--config", path.to_str().unwrap()]);
    assert!(!bad.status.success());
    let err = String::from_utf8(bad.stderr).unwrap();
    assert!(err.contains("seed"), "the field is named: {err}");
}

#[test]
fn print_default_is_the_suite_it_runs() {
    let printed = sim(&["--print-default"]);
    assert!(printed.status.success());
    let text = String::from_utf8(printed.stdout).unwrap();
    assert_eq!(text, failsafe_sim::suite::DEFAULT);
}
