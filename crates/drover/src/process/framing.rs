//! The framer a reader uses: a pipe's ([`LineFramer`]) or a terminal's
//! ([`TtyFramer`]), with the formatting and readiness check of each line.
//!
//! Owns no I/O: the reader feeds it bytes and the time, and asks it when a
//! partial line of a terminal is due.

use tokio::time::Instant;

use super::child::{check_ready, ReadyPattern};
use crate::output::format::{LineFormatter, Stream};
use crate::output::framer::LineFramer;
use crate::output::tty_framer::{TtyFramer, TtyLine};

/// A pipe's framer, or a terminal's: what a reader frames lines with.
pub(crate) enum Framer {
    Lines(LineFramer, Stream),
    Tty(Box<TtyFramer>),
}

impl Framer {
    pub(crate) fn for_stream(stream: Stream, colors: bool) -> Self {
        match stream {
            Stream::Tty => Framer::Tty(Box::new(TtyFramer::new(colors))),
            _ => Framer::Lines(LineFramer::default(), stream),
        }
    }

    /// When [`tick`](Self::tick) has a partial line to print.
    pub(crate) fn tick_at(&self) -> Option<Instant> {
        match self {
            Framer::Lines(..) => None,
            Framer::Tty(f) => f.deadline(),
        }
    }

    pub(crate) fn push(
        &mut self,
        data: &[u8],
        now: Instant,
        fmt: &LineFormatter,
        batch: &mut Vec<u8>,
        ready: &mut Option<ReadyPattern>,
    ) {
        match self {
            Framer::Lines(f, stream) => f.push(data, |line| {
                fmt.format(*stream, line, batch);
                check_ready(ready, line);
            }),
            Framer::Tty(f) => f.push(data, now, |line| tty_line(line, fmt, batch, ready)),
        }
    }

    pub(crate) fn tick(
        &mut self,
        now: Instant,
        fmt: &LineFormatter,
        batch: &mut Vec<u8>,
        ready: &mut Option<ReadyPattern>,
    ) {
        if let Framer::Tty(f) = self {
            f.tick(now, |line| tty_line(line, fmt, batch, ready));
        }
    }

    pub(crate) fn finish(
        &mut self,
        fmt: &LineFormatter,
        batch: &mut Vec<u8>,
        ready: &mut Option<ReadyPattern>,
    ) {
        match self {
            Framer::Lines(f, stream) => f.finish(|line| {
                fmt.format(*stream, line, batch);
                check_ready(ready, line);
            }),
            Framer::Tty(f) => f.finish(|line| tty_line(line, fmt, batch, ready)),
        }
    }
}

fn tty_line(
    line: TtyLine<'_>,
    fmt: &LineFormatter,
    batch: &mut Vec<u8>,
    ready: &mut Option<ReadyPattern>,
) {
    if line.partial {
        fmt.format_partial(Stream::Tty, line.bytes, batch);
    } else {
        fmt.format(Stream::Tty, line.bytes, batch);
    }
    check_ready(ready, line.bytes);
}
