//! Keeping the loop whole when a user callback panics.
//!
//! A panic in a callback unwinds out of [`Loop::run`](crate::Loop::run), as
//! an uncaught exception ends Node's script. To make a call, the loop takes
//! things out of its state (an interval's or a watcher's callback, the rest
//! of a batch of queued callbacks, events fetched but not yet dispatched);
//! a [`Lent`] gives them back when the call ends, returned or unwound. So a
//! caller that catches the panic and runs the loop again finds it as Node
//! leaves it after an `'uncaughtException'` handler: the interval fires
//! again, the watcher still hears its descriptor, nothing queued is lost.

/// A value lent out of the loop's state for the length of a callback:
/// `restore` takes it back when the `Lent` drops, whether the callback
/// returned or panicked. It costs a move, no allocation.
pub(crate) struct Lent<T, R: FnOnce(T)> {
    /// `None` once restored or [`kept`](Lent::keep).
    lease: Option<(T, R)>,
}

impl<T, R: FnOnce(T)> Lent<T, R> {
    /// Lends `value`; `restore` gets it back on drop.
    pub(crate) fn new(value: T, restore: R) -> Lent<T, R> {
        Lent { lease: Some((value, restore)) }
    }

    /// The lent value.
    pub(crate) fn get_mut(&mut self) -> &mut T {
        &mut self.lease.as_mut().expect("a Lent holds its value until dropped").0
    }

    /// Ends the lease without restoring: the value is the caller's now.
    pub(crate) fn keep(mut self) -> T {
        self.lease.take().expect("a Lent holds its value until dropped").0
    }
}

impl<T, R: FnOnce(T)> Drop for Lent<T, R> {
    fn drop(&mut self) {
        if let Some((value, restore)) = self.lease.take() {
            restore(value);
        }
    }
}

#[cfg(test)]
mod tests {
    use std::cell::RefCell;
    use std::panic::{catch_unwind, AssertUnwindSafe};

    use super::Lent;

    #[test]
    fn restores_on_return_and_on_unwind_but_not_when_kept() {
        let back = RefCell::new(Vec::new());
        drop(Lent::new(1, |v| back.borrow_mut().push(v)));
        let unwound = catch_unwind(AssertUnwindSafe(|| {
            let mut lent = Lent::new(2, |v| back.borrow_mut().push(v));
            *lent.get_mut() += 1;
            panic!("a callback panics");
        }));
        assert!(unwound.is_err());
        assert_eq!(Lent::new(4, |v| back.borrow_mut().push(v)).keep(), 4);
        assert_eq!(*back.borrow(), [1, 3]);
    }
}
