//! Feature-flag reads: what a failsafe flag costs next to the plain atomic
//! load a hand-rolled flag would be, in one report.
//!
//! Group `toggle/read` (single thread; every table a `static`, every
//! reference and key passed through `black_box` so no load is hoisted out
//! of the loop):
//!
//! - peers: `AtomicBool::load` and `AtomicU32::load` (Relaxed), the
//!   hand-rolled flag;
//! - `FlagTable::is_switched_on`: the operator switch alone (one load and a
//!   bounds check);
//! - `FlagTable::decide` on a plain flag (switched on, 100 %, no lists, no
//!   windows): the full rule order, no hash, no clock;
//! - `decide` with a 50 % rollout and a `u64` key (one FNV-1a + fmix64 over
//!   8 bytes), and with a 16-byte string key;
//! - `decide` with allow and deny lists in use (`K = 8`, 2 keys each) and a
//!   `u64` key: the hash and 16 entry loads;
//! - `decide` on a flag with three windows, `now` passed in (the monotone
//!   floor: one load, no store once time stops moving);
//! - the driver's `Toggle::call_blocking` on the plain flag with a counter
//!   clock (never read for a flag without windows).
//!
//! Every decision's path is checked once before measuring.

use std::hint::black_box;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use failsafe_core::toggle::{Flag, FlagSpec, FlagTable, Path, ToggleConfig, Window};
use failsafe_core::{Instant, checked};
use failsafe_driver::{Clock, Toggle};

static PLAIN_BOOL: AtomicBool = AtomicBool::new(true);
static PLAIN_U32: AtomicU32 = AtomicU32::new(1);

const WINDOWS: &[Window] = &[
    checked(Window::new(Instant::from_secs(10), Instant::from_secs(20))),
    checked(Window::new(Instant::from_secs(30), Instant::from_secs(40))),
    checked(Window::new(Instant::from_secs(50), Instant::from_secs(60))),
];

static FLAGS: FlagTable<4, 8> = FlagTable::new(checked(ToggleConfig::new(
    0x5eed,
    [
        FlagSpec::new("plain"),
        FlagSpec::new("half").rollout(5_000),
        FlagSpec::new("listed").rollout(5_000),
        FlagSpec::new("scheduled").windows(WINDOWS),
    ],
)));

const PLAIN: Flag = Flag::at(0);
const HALF: Flag = Flag::at(1);
const LISTED: Flag = Flag::at(2);
const SCHEDULED: Flag = Flag::at(3);

struct Counter(AtomicU32);
impl Clock for Counter {
    fn now(&self) -> Instant {
        Instant::from_nanos(u64::from(self.0.fetch_add(1, Ordering::Relaxed)))
    }
}

fn read(c: &mut Criterion) {
    let t = Instant::from_secs(15);
    for k in [1u64, 2] {
        FLAGS.allow(t, LISTED, &k).unwrap();
        FLAGS.deny(t, LISTED, &(k + 100)).unwrap();
    }
    assert_eq!(FLAGS.decide(t, PLAIN, &()).path, Path::Enabled);
    assert_eq!(FLAGS.decide(t, SCHEDULED, &()).path, Path::Enabled);
    assert_eq!(FLAGS.decide(t, LISTED, &1u64).path, Path::Enabled);
    assert_eq!(FLAGS.decide(t, LISTED, &101u64).path, Path::Disabled);

    let mut g = c.benchmark_group("toggle/read");
    g.bench_function("std AtomicBool::load (peer)", |b| {
        b.iter(|| black_box(&PLAIN_BOOL).load(Ordering::Relaxed))
    });
    g.bench_function("std AtomicU32::load (peer)", |b| {
        b.iter(|| black_box(&PLAIN_U32).load(Ordering::Relaxed))
    });
    g.bench_function("failsafe is_switched_on", |b| {
        b.iter(|| black_box(&FLAGS).is_switched_on(black_box(PLAIN)))
    });
    g.bench_function("failsafe decide, plain flag", |b| {
        b.iter(|| black_box(&FLAGS).decide(t, black_box(PLAIN), &()).path)
    });
    let mut key = 0u64;
    g.bench_function("failsafe decide, 50% rollout, u64 key", |b| {
        b.iter(|| {
            key = key.wrapping_add(1);
            black_box(&FLAGS)
                .decide(t, black_box(HALF), &black_box(key))
                .path
        })
    });
    let names: Vec<String> = (0..1_000).map(|i| format!("user-{i:011}")).collect();
    let mut i = 0usize;
    g.bench_function("failsafe decide, 50% rollout, 16-byte str key", |b| {
        b.iter(|| {
            i = (i + 1) % names.len();
            black_box(&FLAGS)
                .decide(t, black_box(HALF), black_box(names[i].as_str()))
                .path
        })
    });
    g.bench_function("failsafe decide, lists in use (K=8), u64 key", |b| {
        b.iter(|| {
            key = key.wrapping_add(1);
            black_box(&FLAGS)
                .decide(t, black_box(LISTED), &black_box(key))
                .path
        })
    });
    g.bench_function("failsafe decide, 3 windows, now passed", |b| {
        b.iter(|| {
            black_box(&FLAGS)
                .decide(black_box(t), black_box(SCHEDULED), &())
                .path
        })
    });
    let toggle = Toggle::new(Counter(AtomicU32::new(0)), &FLAGS, PLAIN);
    g.bench_function("failsafe-driver Toggle::call_blocking, plain flag", |b| {
        b.iter(|| black_box(&toggle).call_blocking(&(), || 1u8, || 0u8))
    });
    g.finish();
}

fn criterion_config() -> Criterion {
    // About 25 s for the file.
    Criterion::default()
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_millis(2500))
        .sample_size(50)
        .configure_from_args()
}

criterion_group! {
    name = benches;
    config = criterion_config();
    targets = read
}
criterion_main!(benches);
