//! Timer futures: `sleep` and `timeout`, the async faces of `set_timeout`.

use std::error::Error;
use std::fmt;
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use crate::event_loop::Loop;
use crate::timer::{Timer, TimerCallback};

/// A future that completes once its delay has elapsed (a promisified `setTimeout`).
///
/// The timer starts when the `Sleep` is created, not when first polled, so
/// `join`ing three sleeps of 1, 2 and 3 s takes 3 s. Dropping it clears the timer.
///
/// It allocates nothing: its timer's slot in the loop holds the waker of
/// the task awaiting it, and the timers phase wakes that task directly (a
/// boxed closure and a shared flag per sleep were ~4% of an API server's
/// CPU at 10,000 connections). A fired timer's slot stays until the `Sleep`
/// is polled or dropped, so the `Sleep` can tell "fired" from "cleared"
/// (a cleared one never completes).
pub struct Sleep {
    timer: Timer,
}

impl Loop {
    /// A future that completes after `delay`.
    ///
    /// # Errors
    ///
    /// `InvalidInput` when `delay` overflows the loop's clock.
    pub fn sleep(&self, delay: Duration) -> io::Result<Sleep> {
        let timer = self.start_timer(delay, TimerCallback::Wake(None), "waiter_loop::Sleep")?;
        Ok(Sleep { timer })
    }

    /// Runs `future` with a deadline: `Err(Elapsed)` if `delay` passes first.
    ///
    /// # Errors
    ///
    /// `InvalidInput` when `delay` overflows the loop's clock.
    pub fn timeout<F: Future>(&self, delay: Duration, future: F) -> io::Result<Timeout<F>> {
        Ok(Timeout { future: Box::pin(future), sleep: self.sleep(delay)? })
    }
}

impl Sleep {
    /// The underlying timer (to `unref` it, for instance).
    pub fn timer(&self) -> &Timer {
        &self.timer
    }
}

impl Future for Sleep {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        // A dropped loop fires nothing more.
        let Some(inner) = self.timer.inner.upgrade() else { return Poll::Pending };
        let polled = inner.timers.borrow_mut().poll_wake(self.timer.key, cx.waker());
        polled
    }
}

impl Drop for Sleep {
    fn drop(&mut self) {
        if let Some(inner) = self.timer.inner.upgrade() {
            inner.release_timer(self.timer.key);
        }
    }
}

impl fmt::Debug for Sleep {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Sleep").field("active", &self.timer.is_active()).finish()
    }
}

/// A future with a deadline; see [`Loop::timeout`].
pub struct Timeout<F> {
    future: Pin<Box<F>>,
    sleep: Sleep,
}

impl<F: Future> Future for Timeout<F> {
    type Output = Result<F::Output, Elapsed>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        if let Poll::Ready(v) = self.future.as_mut().poll(cx) {
            return Poll::Ready(Ok(v));
        }
        match Pin::new(&mut self.sleep).poll(cx) {
            Poll::Ready(()) => Poll::Ready(Err(Elapsed(()))),
            Poll::Pending => Poll::Pending,
        }
    }
}

/// The deadline of a [`Timeout`] passed first.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Elapsed(());

impl fmt::Display for Elapsed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("deadline elapsed")
    }
}

impl Error for Elapsed {}

impl From<Elapsed> for io::Error {
    fn from(e: Elapsed) -> io::Error {
        io::Error::new(io::ErrorKind::TimedOut, e)
    }
}

#[cfg(test)]
mod tests {
    use std::cell::RefCell;
    use std::rc::Rc;
    use std::task::Waker;

    use super::*;

    #[test]
    fn a_cleared_sleep_never_completes() {
        let lp = Loop::new().unwrap();
        let mut s = lp.sleep(Duration::from_millis(1)).unwrap();
        s.timer().clear();
        assert_eq!(lp.active_handles(), 0);
        std::thread::sleep(Duration::from_millis(5));
        lp.run().unwrap();
        let mut cx = Context::from_waker(Waker::noop());
        assert_eq!(Pin::new(&mut s).poll(&mut cx), Poll::Pending);
        drop(s);
        assert_eq!(lp.active_handles(), 0);
    }

    /// The task a sleep wakes runs as soon as its timer fires, before the
    /// timers due after it, as when `sleep` was a `set_timeout` callback.
    #[test]
    fn a_woken_task_runs_before_the_next_due_timer() {
        let lp = Loop::new().unwrap();
        let log = Rc::new(RefCell::new(Vec::new()));
        let (l1, l2) = (log.clone(), log.clone());
        let lp2 = lp.clone();
        // A spawned task (block_on's own future is polled between ticks).
        lp.spawn_detached(async move {
            let lp = lp2;
            let s = lp.sleep(Duration::from_millis(10)).unwrap();
            lp.set_timeout(Duration::from_millis(10), move |_| l1.borrow_mut().push("timeout")).unwrap();
            s.await;
            l2.borrow_mut().push("sleep");
            lp.sleep(Duration::from_millis(5)).unwrap().await;
        });
        lp.run().unwrap();
        assert_eq!(*log.borrow(), ["sleep", "timeout"]);
    }

    #[test]
    fn a_fired_sleep_holds_no_reference_and_its_slot_goes_with_it() {
        let lp = Loop::new().unwrap();
        let s = lp.sleep(Duration::ZERO).unwrap();
        assert_eq!(lp.active_handles(), 1);
        lp.run().unwrap();
        assert_eq!(lp.active_handles(), 0);
        assert_eq!(lp.inner.timers.borrow().slots_len(), 1);
        drop(s);
        assert_eq!(lp.inner.timers.borrow().slots_len(), 0);
        assert_eq!(lp.active_handles(), 0);
    }
}
