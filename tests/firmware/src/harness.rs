//! What the two QEMU firmwares (`main.rs`, `bin/quick_start.rs`) share:
//! starting the clock, reporting checks over semihosting, ending QEMU with
//! the result, and a panic handler that fails the run.

use core::panic::PanicInfo;

use cortex_m_semihosting::{debug, hprintln};

/// The core clock QEMU gives SysTick: 25 MHz on the MPS2 AN386, 12 MHz on
/// the LM3S6965.
const CORE_HZ: u32 = if cfg!(target_feature = "dsp") {
    25_000_000
} else {
    12_000_000
};

/// Starts the SysTick time driver on the board's core clock; false (the run
/// failed) if the core peripherals were already taken.
pub(crate) fn start_clock() -> bool {
    let Some(core) = cortex_m::Peripherals::take() else {
        fail("the core peripherals were already taken");
        return false;
    };
    crate::time_driver::start(core.SYST, CORE_HZ);
    true
}

/// Prints `FAIL what` and ends QEMU with a failure.
pub(crate) fn fail(what: &str) {
    hprintln!("FAIL {}", what);
    debug::exit(debug::EXIT_FAILURE);
}

/// Checks `ok`, printing the expectation either way; false if it failed.
pub(crate) fn check(ok: bool, what: &str) -> bool {
    hprintln!("{} {}", if ok { "ok  " } else { "FAIL" }, what);
    ok
}

/// Ends QEMU: success only if every check held.
pub(crate) fn finish(ok: bool) {
    debug::exit(if ok {
        debug::EXIT_SUCCESS
    } else {
        debug::EXIT_FAILURE
    });
}

#[panic_handler]
fn panic(info: &PanicInfo) -> ! {
    hprintln!("FAIL panic: {}", info);
    debug::exit(debug::EXIT_FAILURE);
    loop {
        cortex_m::asm::bkpt();
    }
}
