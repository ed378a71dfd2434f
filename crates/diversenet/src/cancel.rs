//! Stopping a long computation early: the caller hands a [`Cancel`] to the computation,
//! which asks it at its check points (after a training step, a chunk of Monte Carlo
//! samples, a block of a Gram matrix, an eigensolver step) whether to stop, and then
//! returns [`Interrupted`] ([`crate::Error::Interrupted`]). Python's binding asks whether
//! Ctrl-C was pressed; [`Cancel::NEVER`] never stops.

use std::fmt;

/// A long computation stopped early because its [`Cancel`] asked it to; the callers turn it
/// into [`crate::Error::Interrupted`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Interrupted;

/// Whether to stop, asked by a long computation at its check points. It is asked often
/// (every training step): the question should be cheap, e.g. look at a clock first.
#[derive(Clone, Copy)]
pub struct Cancel<'a> {
    asked: Option<&'a dyn Fn() -> bool>,
}

impl Cancel<'static> {
    /// Never stops.
    pub const NEVER: Self = Cancel { asked: None };
}

impl<'a> Cancel<'a> {
    /// Stops when `stop` returns true.
    pub fn when(stop: &'a dyn Fn() -> bool) -> Self {
        Cancel { asked: Some(stop) }
    }

    /// Whether to stop now (asks the caller).
    pub fn requested(self) -> bool {
        self.asked.is_some_and(|stop| stop())
    }

    /// `Err(Interrupted)` when the caller asks to stop now.
    pub fn check(self) -> Result<(), Interrupted> {
        if self.requested() {
            Err(Interrupted)
        } else {
            Ok(())
        }
    }
}

impl fmt::Debug for Cancel<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(if self.asked.is_some() {
            "Cancel::when(..)"
        } else {
            "Cancel::NEVER"
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::Cell;

    #[test]
    fn never_is_never_requested_and_when_asks_each_time() {
        assert!(!Cancel::NEVER.requested());
        assert_eq!(Cancel::NEVER.check(), Ok(()));
        let asked = Cell::new(0);
        let stop_at_third = || {
            asked.set(asked.get() + 1);
            asked.get() == 3
        };
        let cancel = Cancel::when(&stop_at_third);
        assert_eq!(cancel.check(), Ok(()));
        assert!(!cancel.requested());
        assert_eq!(cancel.check(), Err(Interrupted));
        assert_eq!(asked.get(), 3);
    }
}
