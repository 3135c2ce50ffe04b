//! Timer futures: `sleep` and `timeout`, the async faces of `set_timeout`.

use std::cell::{Cell, RefCell};
use std::error::Error;
use std::fmt;
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use crate::event_loop::Loop;
use crate::timer::Timer;

#[derive(Default)]
struct SleepState {
    fired: Cell<bool>,
    waker: RefCell<Option<Waker>>,
}

/// A future that completes once its delay has elapsed (a promisified `setTimeout`).
///
/// The timer starts when the `Sleep` is created, not when first polled, so
/// `join`ing three sleeps of 1, 2 and 3 s takes 3 s. Dropping it clears the timer.
pub struct Sleep {
    timer: Timer,
    state: Rc<SleepState>,
}

impl Loop {
    /// A future that completes after `delay`.
    ///
    /// # Errors
    ///
    /// `InvalidInput` when `delay` overflows the loop's clock.
    pub fn sleep(&self, delay: Duration) -> io::Result<Sleep> {
        let state = Rc::new(SleepState::default());
        let fired = state.clone();
        let timer = self.set_timeout(delay, move |_| {
            fired.fired.set(true);
            if let Some(w) = fired.waker.borrow_mut().take() {
                w.wake();
            }
        })?;
        Ok(Sleep { timer, state })
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
        if self.state.fired.get() {
            return Poll::Ready(());
        }
        *self.state.waker.borrow_mut() = Some(cx.waker().clone());
        Poll::Pending
    }
}

impl Drop for Sleep {
    fn drop(&mut self) {
        self.timer.clear();
    }
}

impl fmt::Debug for Sleep {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Sleep").field("fired", &self.state.fired.get()).finish()
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
