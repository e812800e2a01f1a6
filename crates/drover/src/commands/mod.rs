//! The commands that read a project: `start`, `check`, `run` and `export`.
//! Each turns the command line into a plan and hands it to the layers below;
//! the control clients (`ps`, `stop`, …) live in `control::client`.

pub mod check;
pub mod export;
pub mod logs;
pub mod report;
pub mod run;
pub mod run_with;
mod side_jobs;
pub mod start;
pub mod wait;
