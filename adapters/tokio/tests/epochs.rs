//! `TokioClock`'s epochs (feature `test-util`, on in dev-deps): a runtime
//! judged on real time keeps the process epoch for good (a review found it
//! re-judged, and the clock stepping back, once a thread met another runtime).

use std::time::Duration;

use failsafe_tokio::{Clock, StdClock, TokioClock};

fn real_runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .unwrap()
}

/// Documented (clock.rs rustdoc): "One on real time keeps the process epoch
/// even if paused later". The verdict for a real-time runtime is cached in a
/// one-entry thread-local only, so once the thread meets another runtime
/// and comes back, the (now paused) runtime is judged again, gets an epoch
/// of its own, and the clock jumps back to zero.
#[test]
fn a_real_time_runtime_keeps_the_process_epoch_after_pause() {
    let _ = StdClock.now(); // fix the process epoch
    std::thread::sleep(Duration::from_millis(2));
    let a = real_runtime();
    let b = real_runtime();
    a.block_on(async {
        let before = TokioClock.now();
        assert!(
            before.as_nanos() > 1_000_000,
            "real time since the process epoch"
        );
        tokio::time::pause();
        // this thread meets another runtime (e.g. a handle entered for a spawn)
        {
            let _guard = b.handle().enter();
            let _ = TokioClock.now();
        }
        let after = TokioClock.now();
        assert!(
            after >= before,
            "the clock stepped backwards: {before:?} then {after:?} (re-judged as paused)"
        );
    });
}
