//! Signals through `signalfd`: SIGINT, SIGTERM, SIGHUP and friends as
//! callbacks or an async stream, delivered in the poll phase like any I/O.
//!
//! Watching a signal blocks it in the calling thread and adds it to the
//! loop's signalfd. A process-directed signal goes to a thread that does not
//! block it, so a program with other threads should block the signals it
//! handles before spawning them ([`block_signals`] does that); the thread
//! pool's workers block every signal themselves. SIGPIPE is ignored by every
//! loop: a write to a closed peer is an `EPIPE` error, never a death.

use std::collections::VecDeque;
use std::fmt;
use std::future::poll_fn;
use std::io;
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::rc::Weak;
use std::task::{Poll, Waker};

use crate::event_loop::{Inner, Loop};
use crate::poller::{Interest, Token};
use crate::slab::Slab;
use crate::sys::{self, SigSet};
use crate::unwind::Lent;

/// The token the loop's signalfd is registered under.
pub(crate) const SIGNAL_TOKEN: Token = Token(usize::MAX - 1);

/// A signal number.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Signal(i32);

impl Signal {
    /// Interrupt from the terminal (Ctrl-C).
    pub const INT: Signal = Signal(libc::SIGINT);
    /// Polite termination request.
    pub const TERM: Signal = Signal(libc::SIGTERM);
    /// Hang-up; by convention "reload" or "reopen logs" for daemons.
    pub const HUP: Signal = Signal(libc::SIGHUP);
    /// Quit from the terminal (Ctrl-\).
    pub const QUIT: Signal = Signal(libc::SIGQUIT);
    /// User-defined signal 1.
    pub const USR1: Signal = Signal(libc::SIGUSR1);
    /// User-defined signal 2.
    pub const USR2: Signal = Signal(libc::SIGUSR2);
    /// Terminal window size changed.
    pub const WINCH: Signal = Signal(libc::SIGWINCH);
    /// A child process stopped or exited.
    pub const CHLD: Signal = Signal(libc::SIGCHLD);

    /// The signal with this number.
    ///
    /// # Errors
    ///
    /// `InvalidInput` for a number that is no signal, or for SIGKILL and
    /// SIGSTOP, which cannot be caught.
    pub fn from_number(signo: i32) -> io::Result<Signal> {
        if signo == libc::SIGKILL || signo == libc::SIGSTOP {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("signal {signo} cannot be caught"),
            ));
        }
        SigSet::empty().add(signo).map_err(|_| {
            io::Error::new(io::ErrorKind::InvalidInput, format!("{signo} is not a signal number"))
        })?;
        Ok(Signal(signo))
    }

    /// The signal's number.
    pub fn number(self) -> i32 {
        self.0
    }

    /// The signal's conventional name ("SIGINT"), or "SIG?" for others.
    pub fn name(self) -> &'static str {
        match self.0 {
            libc::SIGINT => "SIGINT",
            libc::SIGTERM => "SIGTERM",
            libc::SIGHUP => "SIGHUP",
            libc::SIGQUIT => "SIGQUIT",
            libc::SIGUSR1 => "SIGUSR1",
            libc::SIGUSR2 => "SIGUSR2",
            libc::SIGWINCH => "SIGWINCH",
            libc::SIGCHLD => "SIGCHLD",
            _ => "SIG?",
        }
    }
}

impl fmt::Debug for Signal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}({})", self.name(), self.0)
    }
}

/// Blocks `signals` in the calling thread. Call it at the start of `main`,
/// before spawning threads, so that every thread inherits the block and the
/// signals reach a loop's signalfd.
///
/// # Errors
///
/// `pthread_sigmask` failing.
pub fn block_signals(signals: &[Signal]) -> io::Result<()> {
    let mut set = SigSet::empty();
    for s in signals {
        set.add(s.0)?;
    }
    sys::block_signals(&set)
}

type SignalCallback = Box<dyn FnMut(&Loop, Signal)>;

enum HandlerKind {
    Callback { callback: Option<SignalCallback>, label: &'static str },
    Stream { queue: VecDeque<Signal>, waker: Option<Waker> },
}

struct Handler {
    signals: Vec<i32>,
    referenced: bool,
    kind: HandlerKind,
}

/// The loop's signalfd and who listens to what.
pub(crate) struct SignalState {
    fd: Option<OwnedFd>,
    mask: SigSet,
    handlers: Slab<Handler>,
}

impl SignalState {
    pub(crate) fn new() -> SignalState {
        SignalState { fd: None, mask: SigSet::empty(), handlers: Slab::new() }
    }
}

impl Inner {
    fn add_signal_handler(&self, signals: &[Signal], kind: HandlerKind) -> io::Result<usize> {
        let mut state = self.signals.borrow_mut();
        let mut mask = state.mask;
        for s in signals {
            Signal::from_number(s.0)?;
            mask.add(s.0)?;
        }
        sys::block_signals(&mask)?;
        match &state.fd {
            Some(fd) => {
                sys::signalfd(Some(fd.as_fd()), &mask)?;
            }
            None => {
                let fd = sys::signalfd(None, &mask)?.expect("a new signalfd");
                self.poller.borrow_mut().add(fd.as_raw_fd(), SIGNAL_TOKEN, Interest::READABLE)?;
                state.fd = Some(fd);
            }
        }
        state.mask = mask;
        let signals = signals.iter().map(|s| s.0).collect();
        let key = state.handlers.insert(Handler { signals, referenced: true, kind });
        drop(state);
        self.adjust_refs(false, true);
        Ok(key)
    }

    fn remove_signal_handler(&self, key: usize) {
        let removed = self.signals.borrow_mut().handlers.remove(key);
        if let Some(h) = removed {
            self.adjust_refs(h.referenced, false);
        }
    }

    fn set_signal_ref(&self, key: usize, referenced: bool) {
        let old = self
            .signals
            .borrow_mut()
            .handlers
            .get_mut(key)
            .map(|h| std::mem::replace(&mut h.referenced, referenced));
        if let Some(old) = old {
            self.adjust_refs(old, referenced);
        }
    }
}

impl Loop {
    /// Calls `f` on this loop each time `signal` arrives (libuv's `uv_signal_t`).
    /// The watch keeps the loop alive until dropped or `unref`'d.
    ///
    /// # Errors
    ///
    /// `InvalidInput` for SIGKILL/SIGSTOP; the signalfd failing.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// use waiter_loop::{Loop, Signal};
    /// let lp = Loop::new().unwrap();
    /// let _int = lp.on_signal(Signal::INT, |lp, sig| {
    ///     eprintln!("got {sig:?}, stopping");
    ///     lp.stop();
    /// }).unwrap();
    /// lp.run().unwrap();
    /// ```
    pub fn on_signal<F: FnMut(&Loop, Signal) + 'static>(
        &self,
        signal: Signal,
        f: F,
    ) -> io::Result<SignalWatch> {
        let key = self.inner.add_signal_handler(
            &[signal],
            HandlerKind::Callback { callback: Some(Box::new(f)), label: std::any::type_name::<F>() },
        )?;
        Ok(SignalWatch { inner: self.downgrade(), key })
    }

    /// A stream of the given signals, received with [`Signals::recv`].
    ///
    /// # Errors
    ///
    /// As [`on_signal`](Loop::on_signal).
    pub fn signals(&self, signals: &[Signal]) -> io::Result<Signals> {
        let kind = HandlerKind::Stream { queue: VecDeque::new(), waker: None };
        let key = self.inner.add_signal_handler(signals, kind)?;
        Ok(Signals { watch: SignalWatch { inner: self.downgrade(), key } })
    }

    /// Reads every queued signal and hands each to its listeners.
    pub(crate) fn run_signals(&self) {
        // If a handler panics, the signals still unread are read from the
        // next tick's pending phase: epoll reports the signalfd's edge once.
        let unfinished = Lent::new((), |()| self.defer(Loop::run_signals));
        self.read_signals();
        unfinished.keep();
    }

    fn read_signals(&self) {
        loop {
            let read = self.inner.signals.borrow().fd.as_ref().map(|fd| sys::signalfd_read(fd.as_fd()));
            let signo = match read {
                Some(Ok(Some(signo))) => signo,
                None | Some(Ok(None)) => return,
                Some(Err(e)) => {
                    eprintln!("waiter: reading the signalfd: {e}");
                    return;
                }
            };
            let signal = Signal(signo);
            let keys: Vec<usize> = {
                let state = self.inner.signals.borrow();
                state.handlers.iter().filter(|(_, h)| h.signals.contains(&signo)).map(|(k, _)| k).collect()
            };
            for key in keys {
                self.deliver_signal(key, signal);
            }
        }
    }

    fn deliver_signal(&self, key: usize, signal: Signal) {
        let mut state = self.inner.signals.borrow_mut();
        let Some(handler) = state.handlers.get_mut(key) else { return };
        match &mut handler.kind {
            HandlerKind::Callback { callback, label } => {
                let label = *label;
                let Some(cb) = callback.take() else { return };
                drop(state);
                // Back in its slot even if it panics, as a watcher's (see `unwind.rs`).
                let mut cb = Lent::new(cb, |cb| {
                    let mut state = self.inner.signals.borrow_mut();
                    if let Some(Handler {
                        kind: HandlerKind::Callback { callback: slot @ None, .. }, ..
                    }) = state.handlers.get_mut(key)
                    {
                        *slot = Some(cb);
                        return;
                    }
                    drop(state);
                    drop(cb);
                });
                self.invoke(label, |lp| (cb.get_mut())(lp, signal));
            }
            HandlerKind::Stream { queue, waker } => {
                queue.push_back(signal);
                let waker = waker.take();
                drop(state);
                if let Some(w) = waker {
                    w.wake();
                }
                self.drain_ticks();
            }
        }
    }
}

/// A started signal watch; dropping it stops listening.
#[derive(Debug)]
#[must_use = "dropping a SignalWatch stops listening"]
pub struct SignalWatch {
    inner: Weak<Inner>,
    key: usize,
}

impl SignalWatch {
    /// Lets the loop exit while this watch exists.
    pub fn unref(&self) {
        if let Some(inner) = self.inner.upgrade() {
            inner.set_signal_ref(self.key, false);
        }
    }

    /// Makes this watch keep the loop alive again.
    pub fn ref_(&self) {
        if let Some(inner) = self.inner.upgrade() {
            inner.set_signal_ref(self.key, true);
        }
    }
}

impl Drop for SignalWatch {
    fn drop(&mut self) {
        if let Some(inner) = self.inner.upgrade() {
            inner.remove_signal_handler(self.key);
        }
    }
}

/// An async stream of signals; see [`Loop::signals`].
#[derive(Debug)]
pub struct Signals {
    watch: SignalWatch,
}

impl Signals {
    /// Waits for the next signal.
    pub async fn recv(&mut self) -> Signal {
        poll_fn(|cx| {
            let Some(inner) = self.watch.inner.upgrade() else { return Poll::Pending };
            let mut state = inner.signals.borrow_mut();
            let Some(Handler { kind: HandlerKind::Stream { queue, waker }, .. }) =
                state.handlers.get_mut(self.watch.key)
            else {
                return Poll::Pending;
            };
            match queue.pop_front() {
                Some(s) => Poll::Ready(s),
                None => {
                    *waker = Some(cx.waker().clone());
                    Poll::Pending
                }
            }
        })
        .await
    }

    /// Lets the loop exit while this stream exists.
    pub fn unref(&self) {
        self.watch.unref();
    }
}
