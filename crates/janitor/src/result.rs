//! The named results of the `try_` entry points and their panicking unwraps.

use std::fmt::Debug;

/// What [`try_enter_janitor`](crate::try_enter_janitor) returns: the janitor's
/// own verdict and the callee's result, side by side.
#[derive(Debug)]
pub struct EnterJanitorResult<T, E> {
    /// `Err` if a job failed or had to be aborted; the error is a
    /// [`JanitorError`](crate::JanitorError) listing every one of them.
    pub janitor_result: anyhow::Result<()>,
    /// What the future passed to the janitor returned.
    pub callee_result: Result<T, E>,
}

impl<T, E> EnterJanitorResult<T, E> {
    /// Put the two results together.
    pub fn new(janitor_result: anyhow::Result<()>, callee_result: Result<T, E>) -> Self {
        Self {
            janitor_result,
            callee_result,
        }
    }

    /// `(janitor_result, callee_result)`.
    pub fn into_tuple(self) -> (anyhow::Result<()>, Result<T, E>) {
        (self.janitor_result, self.callee_result)
    }

    /// The callee's result, if the janitor succeeded.
    ///
    /// # Panics
    ///
    /// If a job failed or was aborted; the message lists every such job
    /// (and the callee's error too, if it also failed).
    pub fn unwrap_janitor_result(self) -> Result<T, E>
    where
        E: Debug,
    {
        EnsureJanitorResult::from(self).unwrap_janitor_result()
    }

    /// The callee's value, if both the janitor and the callee succeeded.
    ///
    /// # Panics
    ///
    /// If a job failed or was aborted, or if the callee returned an error.
    pub fn unwrap(self) -> T
    where
        E: Debug,
    {
        EnsureJanitorResult::from(self).unwrap()
    }
}

/// What [`try_ensure_janitor`](crate::try_ensure_janitor) returns. Like
/// [`EnterJanitorResult`], but `janitor_result` is `None` when an ambient
/// janitor was reused: that janitor reports to whoever entered it.
#[derive(Debug)]
pub struct EnsureJanitorResult<T, E> {
    /// `None` if an ambient janitor was reused; otherwise the verdict of the
    /// janitor that was entered, as in [`EnterJanitorResult::janitor_result`].
    pub janitor_result: Option<anyhow::Result<()>>,
    /// What the future returned.
    pub callee_result: Result<T, E>,
}

impl<T, E> EnsureJanitorResult<T, E> {
    /// Put the two results together.
    pub fn new(janitor_result: Option<anyhow::Result<()>>, callee_result: Result<T, E>) -> Self {
        Self {
            janitor_result,
            callee_result,
        }
    }

    /// The result of a callee that ran under an ambient janitor.
    pub fn from_callee_result(callee_result: Result<T, E>) -> Self {
        Self::new(None, callee_result)
    }

    /// `(janitor_result, callee_result)`.
    pub fn into_tuple(self) -> (Option<anyhow::Result<()>>, Result<T, E>) {
        (self.janitor_result, self.callee_result)
    }

    /// The callee's result, unless a janitor entered for it failed.
    ///
    /// # Panics
    ///
    /// If a janitor was entered and one of its jobs failed or was aborted.
    pub fn unwrap_janitor_result(self) -> Result<T, E>
    where
        E: Debug,
    {
        match self.into_tuple() {
            (None | Some(Ok(())), callee) => callee,
            (Some(Err(janitor)), Ok(_)) => panic!(
                "the callee succeeded but janitor jobs failed; \
                 use try_enter_janitor/try_ensure_janitor to handle this: {janitor:#}"
            ),
            (Some(Err(janitor)), Err(callee)) => panic!(
                "both the callee and janitor jobs failed; \
                 use try_enter_janitor/try_ensure_janitor to handle this\n\
                 janitor: {janitor:#}\ncallee: {callee:?}"
            ),
        }
    }

    /// The callee's value, if it and any janitor entered for it succeeded.
    ///
    /// # Panics
    ///
    /// If a janitor was entered and one of its jobs failed or was aborted,
    /// or if the callee returned an error.
    pub fn unwrap(self) -> T
    where
        E: Debug,
    {
        match self.unwrap_janitor_result() {
            Ok(value) => value,
            Err(err) => panic!("the janitor's jobs succeeded but the callee failed: {err:?}"),
        }
    }
}

impl<T, E> From<EnterJanitorResult<T, E>> for EnsureJanitorResult<T, E> {
    fn from(result: EnterJanitorResult<T, E>) -> Self {
        Self::new(Some(result.janitor_result), result.callee_result)
    }
}
