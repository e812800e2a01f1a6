//! drover.toml's `stop = ["INT", "5s", "TERM", "5s", "KILL"]`: a stop
//! ladder of signals and waits, read into [`StopStep`]s.

use std::time::Duration;

use crate::plan::config_file::LadderItem;
use crate::plan::spec::StopStep;
use crate::types::{self, DurationError, Signal, SignalError};

/// A ladder that cannot be run.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum LadderError {
    /// A number in a signal's place that is not a whole number.
    #[error("{0} is not a signal number")]
    NotASignalNumber(f64),
    /// A signal that is not one.
    #[error(transparent)]
    Signal(#[from] SignalError),
    /// A wait that is not a duration.
    #[error(transparent)]
    Wait(#[from] DurationError),
    /// `stop = []`.
    #[error("the ladder is empty")]
    Empty,
    /// The last item is a wait.
    #[error("the ladder ends with a wait; end it with a signal")]
    EndsWithWait,
    /// A step after SIGKILL, which nothing survives.
    #[error("nothing can follow KILL")]
    AfterKill,
}

/// Parses `["INT", "5s", "TERM", "5s", "KILL"]`: signals and waits
/// alternating, from a signal. A ladder that does not end with KILL gets
/// `timeout` and KILL appended.
pub fn parse_ladder(items: &[LadderItem], timeout: Duration) -> Result<Vec<StopStep>, LadderError> {
    let mut steps: Vec<StopStep> = Vec::new();
    let mut expect_signal = true;
    for item in items {
        if expect_signal {
            steps.push(StopStep {
                signal: signal(item)?,
                wait: Duration::ZERO,
            });
        } else {
            steps.last_mut().expect("a wait follows a signal").wait = wait(item)?;
        }
        expect_signal = !expect_signal;
    }
    if steps.is_empty() {
        return Err(LadderError::Empty);
    }
    if expect_signal {
        return Err(LadderError::EndsWithWait);
    }
    if let Some(i) = steps.iter().position(|s| s.signal == Signal::KILL) {
        if i + 1 != steps.len() {
            return Err(LadderError::AfterKill);
        }
    } else {
        steps.last_mut().expect("not empty").wait = timeout;
        steps.push(StopStep {
            signal: Signal::KILL,
            wait: Duration::ZERO,
        });
    }
    Ok(steps)
}

fn signal(item: &LadderItem) -> Result<Signal, LadderError> {
    Ok(match item {
        LadderItem::Number(n) if n.fract() == 0.0 && n.abs() < 1e6 => {
            Signal::from_number(*n as i64)?
        }
        LadderItem::Number(n) => return Err(LadderError::NotASignalNumber(*n)),
        LadderItem::Text(t) => t.parse()?,
    })
}

fn wait(item: &LadderItem) -> Result<Duration, LadderError> {
    let wait = match item {
        LadderItem::Number(n) => types::Duration::from_secs_f64(*n)?,
        LadderItem::Text(t) => t.parse()?,
    };
    Ok(wait.get())
}
