//! Timers against a `BTreeMap` model under random start / clear / advance.
//!
//! The loop runs on real time, so the model does not predict *when* a timer
//! fires, only what must hold whatever the scheduler does. Each start is
//! bracketed by two clock reads, so a timer's deadline is known to lie in
//! `[before + delay, after + delay]`. Then, in every case:
//!
//! - a timer fires at most once, never after it was cleared, and every
//!   timer not cleared fires by the end;
//! - a timer never fires before its window opens, unless it joined the pass
//!   of an equal-delay timer that fired just before it (Node's one list per
//!   duration), and then by less than 1 ms;
//! - equal-delay timers certainly started in one millisecond of the loop's
//!   clock (its epoch is `now()` before the first tick) fire in one pass:
//!   none is still pending when the first one's immediate runs, in the
//!   check phase after that pass (before the fix a loop that spins before
//!   its timers, waking at the first deadline to the microsecond, split them);
//! - when a timer fires, no pending timer is *certainly* due before it: one
//!   whose window closes before this one's opens, or one started earlier
//!   with a delay no longer (equal deadlines fire in start order);
//! - after a sleep, one `run_nowait` tick fires every timer whose window
//!   closed before the tick began; one `run_once` fires at least one timer.

use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet};
use std::rc::Rc;
use std::time::{Duration, Instant};

use proptest::prelude::*;
use waiter_loop::{Loop, Timer};

#[derive(Clone, Debug)]
enum Op {
    /// `set_timeout(delay_ms)`, doing `on_fire` when it fires.
    Start { delay_ms: u64, on_fire: OnFire },
    /// Two `set_timeout(delay_ms)` back to back.
    StartPair { delay_ms: u64 },
    /// Clears one of the timers started so far (pending or not).
    Clear(usize),
    /// Sleeps the thread, then runs one tick without blocking.
    Sleep { ms: u64 },
    /// Runs one tick, blocking until the next timer is due.
    RunOnce,
}

#[derive(Clone, Debug)]
enum OnFire {
    Nothing,
    /// Clears one of the timers started so far, from inside the timers phase.
    Clear(usize),
    /// Starts another timer from inside the timers phase.
    Start {
        delay_ms: u64,
    },
}

fn on_fire() -> impl Strategy<Value = OnFire> {
    prop_oneof![
        2 => Just(OnFire::Nothing),
        1 => any::<usize>().prop_map(OnFire::Clear),
        1 => (0u64..=10).prop_map(|delay_ms| OnFire::Start { delay_ms }),
    ]
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        5 => (0u64..=15, on_fire()).prop_map(|(delay_ms, on_fire)| Op::Start { delay_ms, on_fire }),
        2 => (0u64..=6).prop_map(|delay_ms| Op::StartPair { delay_ms }),
        2 => any::<usize>().prop_map(Op::Clear),
        2 => (0u64..=8).prop_map(|ms| Op::Sleep { ms }),
        1 => Just(Op::RunOnce),
    ]
}

/// A pending timer's deadline window.
struct Pending {
    delay: Duration,
    earliest: Instant,
    latest: Instant,
    /// The millisecond of the loop's clock it started in, when certain.
    millisecond: Option<u128>,
}

struct Model {
    /// The loop's epoch: its millisecond grid starts here.
    epoch: Instant,
    /// The timer that fired last in the current pass (cleared by its immediate).
    last_fired: Option<(usize, Duration)>,
    /// Pending timers by start order.
    pending: BTreeMap<usize, Pending>,
    /// Every timer started, by start order.
    timers: Vec<Timer>,
    fired: Vec<usize>,
    cleared: BTreeSet<usize>,
    violations: Vec<String>,
}

type Shared = Rc<RefCell<Model>>;

fn start(lp: &Loop, model: &Shared, delay_ms: u64, on_fire: OnFire) {
    let delay = Duration::from_millis(delay_ms);
    let id = model.borrow().timers.len();
    let m = model.clone();
    let before = Instant::now();
    let timer = lp.set_timeout(delay, move |lp| fire(lp, &m, id, on_fire)).unwrap();
    let after = Instant::now();
    // What the loop waits: a delay under 1 ms is 1 ms (Node's floor).
    let delay = delay.max(Duration::from_millis(1));
    let mut model = model.borrow_mut();
    let ms = |t: Instant| (t - model.epoch).as_millis();
    let millisecond = Some(ms(before)).filter(|m| *m == ms(after));
    model.timers.push(timer);
    model.pending.insert(id, Pending { delay, earliest: before + delay, latest: after + delay, millisecond });
}

fn fire(lp: &Loop, model: &Shared, id: usize, on_fire: OnFire) {
    let now = Instant::now();
    {
        let mut m = model.borrow_mut();
        let Some(me) = m.pending.remove(&id) else {
            let cleared = m.cleared.contains(&id);
            m.violations.push(format!("timer {id} fired but was not pending (cleared: {cleared})"));
            return;
        };
        let mut wrong = Vec::new();
        let joined = m.last_fired.is_some_and(|(_, delay)| delay == me.delay);
        if now < me.earliest && !(joined && me.earliest - now < Duration::from_millis(1)) {
            wrong.push(format!("timer {id} fired {:?} early (joined a pass: {joined})", me.earliest - now));
        }
        for (&k, other) in &m.pending {
            if other.latest < me.earliest || (k < id && other.delay <= me.delay) {
                wrong.push(format!("timer {id} ({:?}) fired before timer {k} ({:?})", me.delay, other.delay));
            }
        }
        m.violations.extend(wrong);
        m.fired.push(id);
        m.last_fired = Some((id, me.delay));
        // Runs in the check phase after this pass: what shared this one's
        // delay and start millisecond must have fired by then. Unref'd, so
        // that it neither stops poll from blocking nor holds the loop.
        let (model, millisecond, delay) = (model.clone(), me.millisecond, me.delay);
        lp.set_immediate(move |_| {
            let mut m = model.borrow_mut();
            m.last_fired = None;
            let split: Vec<usize> = m
                .pending
                .iter()
                .filter(|(_, p)| millisecond.is_some() && p.millisecond == millisecond && p.delay == delay)
                .map(|(&k, _)| k)
                .collect();
            if !split.is_empty() {
                m.violations.push(format!(
                    "timers {split:?} started in timer {id}'s millisecond with its delay missed its pass"
                ));
            }
        })
        .unref();
    }
    match on_fire {
        OnFire::Nothing => {}
        OnFire::Clear(pick) => clear(model, pick),
        OnFire::Start { delay_ms } => start(lp, model, delay_ms, OnFire::Nothing),
    }
}

fn clear(model: &Shared, pick: usize) {
    let mut m = model.borrow_mut();
    if m.timers.is_empty() {
        return;
    }
    let j = pick % m.timers.len();
    m.timers[j].clear();
    if m.pending.remove(&j).is_some() {
        m.cleared.insert(j);
    }
}

/// Runs `ops` against the loop and the model; returns what fired and what was cleared.
/// On a loop that spins before its timers when `spin` (waking at a
/// deadline to the microsecond).
fn check_case(ops: &[Op], spin: bool) -> Result<(Vec<usize>, BTreeSet<usize>), TestCaseError> {
    let margin = if spin { Duration::from_micros(300) } else { Duration::ZERO };
    let lp = Loop::builder().spin_before_timers(margin).build().unwrap();
    // Before the first tick, the cached time is the loop's epoch.
    let epoch = lp.now();
    let guard = lp.set_timeout(Duration::from_secs(10), |_| panic!("guard: the case hung")).unwrap();
    guard.unref();
    let model: Shared = Rc::new(RefCell::new(Model {
        epoch,
        last_fired: None,
        pending: BTreeMap::new(),
        timers: Vec::new(),
        fired: Vec::new(),
        cleared: BTreeSet::new(),
        violations: Vec::new(),
    }));
    for op in ops {
        match op {
            Op::Start { delay_ms, on_fire } => start(&lp, &model, *delay_ms, on_fire.clone()),
            Op::StartPair { delay_ms } => {
                start(&lp, &model, *delay_ms, OnFire::Nothing);
                start(&lp, &model, *delay_ms, OnFire::Nothing);
            }
            Op::Clear(pick) => clear(&model, *pick),
            Op::Sleep { ms } => {
                std::thread::sleep(Duration::from_millis(*ms));
                let tick = Instant::now();
                lp.run_nowait().unwrap();
                let mut m = model.borrow_mut();
                let late: Vec<usize> =
                    m.pending.iter().filter(|(_, p)| p.latest <= tick).map(|(&k, _)| k).collect();
                if !late.is_empty() {
                    m.violations
                        .push(format!("timers {late:?} were due before a tick and did not fire in it"));
                }
            }
            Op::RunOnce => {
                let (had, before) = {
                    let m = model.borrow();
                    (!m.pending.is_empty(), m.fired.len())
                };
                lp.run_once().unwrap();
                let mut m = model.borrow_mut();
                if had && m.fired.len() == before {
                    m.violations.push("run_once with timers pending fired none".to_string());
                }
            }
        }
    }
    lp.run().unwrap();
    guard.clear();

    let m = model.borrow();
    prop_assert!(m.violations.is_empty(), "violations: {:#?}", m.violations);
    prop_assert!(m.pending.is_empty(), "never fired: {:?}", m.pending.keys().collect::<Vec<_>>());
    prop_assert_eq!(
        m.fired.len() + m.cleared.len(),
        m.timers.len(),
        "fired {:?}, cleared {:?}",
        m.fired,
        m.cleared
    );
    prop_assert_eq!(lp.active_handles(), 0);
    prop_assert!(!lp.is_alive());
    Ok((m.fired.clone(), m.cleared.clone()))
}

proptest! {
    // 64 cases of at most 24 operations, delays up to 15 ms: 1–2 s in all.
    #![proptest_config(ProptestConfig { cases: 64, max_shrink_iters: 256, ..ProptestConfig::default() })]

    #[test]
    fn timer_model_random_start_clear_advance(ops in proptest::collection::vec(op(), 1..24), spin in any::<bool>()) {
        check_case(&ops, spin)?;
    }
}

#[test]
fn timer_model_fixed_case() {
    // A hand-written case, so the model's bookkeeping is checked on known ground.
    let ops = vec![
        Op::Start { delay_ms: 3, on_fire: OnFire::Nothing }, // 0: cleared by 2
        Op::Start { delay_ms: 1, on_fire: OnFire::Nothing }, // 1
        Op::Start { delay_ms: 1, on_fire: OnFire::Clear(0) }, // 2: clears 0
        Op::Sleep { ms: 2 },                                 // fires 1, 2
        Op::RunOnce,                                         // nothing pending
        Op::Start { delay_ms: 5, on_fire: OnFire::Start { delay_ms: 0 } }, // 3: starts 5
        Op::Start { delay_ms: 1, on_fire: OnFire::Nothing }, // 4
        Op::Clear(4),                                        // clears 4
    ];
    let (fired, cleared) = check_case(&ops, false).unwrap();
    assert_eq!(fired, [1, 2, 3, 5]);
    assert_eq!(cleared, BTreeSet::from([0, 4]));
}
