//! The named results of the `try_` entry points and their panicking unwraps.

use crate::JanitorError;

/// What [`try_enter_janitor`](crate::try_enter_janitor) returns: the janitor's
/// own verdict and what the callee returned, side by side.
#[derive(Debug)]
pub struct EnterJanitorResult<T> {
    /// `Err` if a job failed or had to be aborted; the [`JanitorError`]
    /// lists every one of them.
    pub janitor_result: Result<(), JanitorError>,
    /// What the future passed to the janitor returned (any type, a `Result`
    /// included).
    pub callee_output: T,
}

impl<T> EnterJanitorResult<T> {
    /// Put the two results together.
    pub fn new(janitor_result: Result<(), JanitorError>, callee_output: T) -> Self {
        Self {
            janitor_result,
            callee_output,
        }
    }

    /// `(janitor_result, callee_output)`.
    pub fn into_tuple(self) -> (Result<(), JanitorError>, T) {
        (self.janitor_result, self.callee_output)
    }

    /// What the callee returned, if the janitor succeeded.
    ///
    /// # Panics
    ///
    /// If a job failed or was aborted; the message lists every such job.
    #[track_caller]
    pub fn unwrap(self) -> T {
        EnsureJanitorResult::from(self).unwrap()
    }
}

/// What [`try_ensure_janitor`](crate::try_ensure_janitor) returns. Like
/// [`EnterJanitorResult`], but `janitor_result` is `None` when an ambient
/// janitor was reused: that janitor reports to whoever entered it.
#[derive(Debug)]
pub struct EnsureJanitorResult<T> {
    /// `None` if an ambient janitor was reused; otherwise the verdict of the
    /// janitor that was entered, as in [`EnterJanitorResult::janitor_result`].
    pub janitor_result: Option<Result<(), JanitorError>>,
    /// What the future returned.
    pub callee_output: T,
}

impl<T> EnsureJanitorResult<T> {
    /// Put the two results together.
    pub fn new(janitor_result: Option<Result<(), JanitorError>>, callee_output: T) -> Self {
        Self {
            janitor_result,
            callee_output,
        }
    }

    /// The output of a callee that ran under an ambient janitor.
    pub fn from_callee_output(callee_output: T) -> Self {
        Self::new(None, callee_output)
    }

    /// `(janitor_result, callee_output)`.
    pub fn into_tuple(self) -> (Option<Result<(), JanitorError>>, T) {
        (self.janitor_result, self.callee_output)
    }

    /// What the callee returned, unless a janitor entered for it failed.
    ///
    /// # Panics
    ///
    /// If a janitor was entered and one of its jobs failed or was aborted;
    /// the message lists every such job.
    #[track_caller]
    pub fn unwrap(self) -> T {
        match self.janitor_result {
            None | Some(Ok(())) => self.callee_output,
            Some(Err(janitor)) => panic!(
                "janitor jobs failed; use try_enter_janitor/try_ensure_janitor \
                 to handle this: {janitor}"
            ),
        }
    }
}

impl<T> From<EnterJanitorResult<T>> for EnsureJanitorResult<T> {
    fn from(result: EnterJanitorResult<T>) -> Self {
        Self::new(Some(result.janitor_result), result.callee_output)
    }
}
