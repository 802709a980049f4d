//! A device that never answers: the timeout drops the hanging operation
//! (its drop is observed) and returns `Error::Timeout` exactly at the
//! deadline, not a microsecond earlier; an inner timeout under an earlier
//! parent deadline ends at the parent's.
//!
//! One scenario per file: the mock clock is process-wide.

mod common;

use core::pin::pin;
use core::sync::atomic::{AtomicU32, Ordering};
use core::task::Poll;
use std::sync::Mutex;

use common::{advance_to, hang, just_before, millis, ms, run_until_idle};
use failsafe_embassy::driver::timeout;
use failsafe_embassy::{
    Deadline, EmbassyClock, Error, FnObserver, TimeoutConfig, TimeoutEvent, TimeoutMode,
    with_timeout,
};

const ANSWER_WITHIN: TimeoutConfig = failsafe_embassy::checked(TimeoutConfig::new(millis(250)));
const GENEROUS: TimeoutConfig = failsafe_embassy::checked(TimeoutConfig::new(millis(10_000)));

static EVENTS: Mutex<Vec<TimeoutEvent>> = Mutex::new(Vec::new());
static CANCELLED: AtomicU32 = AtomicU32::new(0);
static HANDED_DOWN: Mutex<Vec<Deadline>> = Mutex::new(Vec::new());

fn log(event: TimeoutEvent) {
    EVENTS.lock().unwrap().push(event);
}

fn cancelled() -> u32 {
    CANCELLED.load(Ordering::SeqCst)
}

#[test]
fn a_timeout_cancels_a_hanging_operation_exactly_at_the_deadline() {
    // t=1s: the call starts; its deadline is t=1.25s.
    advance_to(ms(1_000));
    // With an observer: the driver's timeout on embassy's clock.
    let mut call = pin!(timeout(
        &EmbassyClock,
        ANSWER_WITHIN,
        Deadline::NEVER,
        FnObserver(log as fn(TimeoutEvent)),
        |deadline| {
            HANDED_DOWN.lock().unwrap().push(deadline);
            hang::<Result<u8, Error<&str>>>(&CANCELLED)
        },
    ));
    assert!(run_until_idle(call.as_mut()).is_pending());
    assert_eq!(*HANDED_DOWN.lock().unwrap(), [Deadline::at(ms(1_250))]);

    advance_to(just_before(ms(1_250)));
    assert!(run_until_idle(call.as_mut()).is_pending());
    assert_eq!(cancelled(), 0, "still running 1 µs before the deadline");
    assert!(EVENTS.lock().unwrap().is_empty());

    advance_to(ms(1_250));
    assert_eq!(
        run_until_idle(call.as_mut()),
        Poll::Ready(Err(Error::Timeout(Deadline::at(ms(1_250)))))
    );
    assert_eq!(cancelled(), 1, "the hanging operation was dropped");
    assert_eq!(
        *EVENTS.lock().unwrap(),
        [TimeoutEvent::Expired {
            deadline: Deadline::at(ms(1_250)),
            at: ms(1_250),
            mode: TimeoutMode::Cancel,
        }]
    );

    // An inner timeout of 10 s under a caller with 250 ms left ends with the
    // caller, at t=1.5s; the nested error flattens to that one deadline.
    let mut outer = pin!(with_timeout(ANSWER_WITHIN, Deadline::NEVER, |parent| {
        with_timeout(GENEROUS, parent, |deadline| {
            HANDED_DOWN.lock().unwrap().push(deadline);
            hang::<Result<u8, &str>>(&CANCELLED)
        })
    }));
    assert!(run_until_idle(outer.as_mut()).is_pending());
    assert_eq!(HANDED_DOWN.lock().unwrap()[1], Deadline::at(ms(1_500)));
    advance_to(just_before(ms(1_500)));
    assert!(run_until_idle(outer.as_mut()).is_pending());
    advance_to(ms(1_500));
    match run_until_idle(outer.as_mut()) {
        Poll::Ready(Err(nested)) => {
            assert_eq!(nested.flatten(), Error::Timeout(Deadline::at(ms(1_500))))
        }
        other => panic!("expected a timeout at t=1.5s, got {other:?}"),
    }
    assert_eq!(cancelled(), 2);
}
