//! The driver's async `Pipeline` on virtual time tells the same story as
//! the event-loop engine: both run the same core machines.

use failsafe_sim::run::RunReport;
use failsafe_sim::suite::{DEFAULT, EngineKind, parse, quick, run_suite};

fn both() -> (Vec<RunReport>, Vec<RunReport>) {
    let mut suite = parse(DEFAULT, "built-in").unwrap();
    quick(&mut suite);
    let events = run_suite(&suite, None, EngineKind::Events, &mut |_, _, _| {}).unwrap();
    let driver = run_suite(&suite, None, EngineKind::Driver, &mut |_, _, _| {}).unwrap();
    (events, driver)
}

#[test]
fn the_driver_pipeline_agrees_with_the_engine() {
    let (events, driver) = both();
    assert_eq!(events.len(), driver.len());
    for (a, b) in events.iter().zip(&driver) {
        let what = format!("{} / {}", a.scenario, a.pipeline);
        assert_eq!(a.offered, b.offered, "{what}: the same traffic");
        if a.pipeline == "none" || a.pipeline == "no jitter" {
            // nothing random on the client's side: the very same run
            assert!(a == b, "{what}: the reports differ");
            continue;
        }
        // Jitter draws differ (the driver seeds its own): the same shape.
        let close = |x: f64, y: f64, tolerance: f64| (x - y).abs() <= tolerance * x.max(y);
        assert!(
            close(a.amplification(), b.amplification(), 0.05),
            "{what}: amplification {} vs {}",
            a.amplification(),
            b.amplification()
        );
        assert!(
            close(a.succeeded as f64, b.succeeded as f64, 0.05),
            "{what}: succeeded {} vs {}",
            a.succeeded,
            b.succeeded
        );
        assert_eq!(
            a.recovery.map(|r| r.is_some()),
            b.recovery.map(|r| r.is_some()),
            "{what}: recovered or not"
        );
    }
}
