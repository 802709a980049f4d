//! An embassy time driver on SysTick: one tick per millisecond of the
//! core's clock (embassy-time's `tick-hz-1_000`), a 64-bit tick count, and
//! embassy's generic timer queue, checked on every tick. Simple rather than
//! frugal: a board would use a low-power timer with a compare alarm.

use core::cell::{Cell, RefCell};
use core::task::Waker;

use cortex_m::peripheral::SYST;
use cortex_m::peripheral::syst::SystClkSource;
use cortex_m_rt::exception;
use critical_section::Mutex;
use embassy_time_queue_utils::Queue;

/// Ticks per second (embassy-time's `tick-hz-1_000`).
const TICK_HZ: u32 = 1_000;

/// The tick count and the timers waiting on it.
struct SysTickDriver {
    ticks: Mutex<Cell<u64>>,
    queue: Mutex<RefCell<Queue>>,
}

impl embassy_time_driver::Driver for SysTickDriver {
    fn now(&self) -> u64 {
        critical_section::with(|cs| self.ticks.borrow(cs).get())
    }

    fn schedule_wake(&self, at: u64, waker: &Waker) {
        critical_section::with(|cs| {
            let now = self.ticks.borrow(cs).get();
            let mut queue = self.queue.borrow(cs).borrow_mut();
            queue.schedule_wake(at, waker);
            // A timer already due is woken at once, not a tick late.
            queue.next_expiration(now);
        });
    }
}

embassy_time_driver::time_driver_impl!(static DRIVER: SysTickDriver = SysTickDriver {
    ticks: Mutex::new(Cell::new(0)),
    queue: Mutex::new(RefCell::new(Queue::new())),
});

#[exception]
fn SysTick() {
    critical_section::with(|cs| {
        let ticks = DRIVER.ticks.borrow(cs);
        ticks.set(ticks.get() + 1);
        DRIVER
            .queue
            .borrow(cs)
            .borrow_mut()
            .next_expiration(ticks.get());
    });
}

/// Starts the tick: SysTick on the core clock of `core_hz` cycles per
/// second, interrupting `TICK_HZ` times a second.
pub(crate) fn start(mut syst: SYST, core_hz: u32) {
    syst.set_clock_source(SystClkSource::Core);
    syst.set_reload(core_hz / TICK_HZ - 1);
    syst.clear_current();
    syst.enable_counter();
    syst.enable_interrupt();
}
