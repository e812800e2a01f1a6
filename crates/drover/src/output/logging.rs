//! drover's own log records, as `system` lines in the output stream.
//!
//! A `tracing` layer formats each event and queues it in the same channel as
//! children's output, so it interleaves in order and is written by the one
//! writer. Queuing never blocks and never drops a record; once the writer
//! has ended, records go to stderr instead. This module must not write to
//! stdout itself.

use std::fmt::Write as _;
use std::io::Write as _;
use std::sync::Mutex;

use tracing::field::{Field, Visit};
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::filter::{LevelFilter, Targets};
use tracing_subscriber::layer::{Context, SubscriberExt as _};
use tracing_subscriber::util::SubscriberInitExt as _;
use tracing_subscriber::Layer;

use crate::output::format::{LineFormatter, Stream};
use crate::output::OutputSender;

/// The layer that turns events into `system` lines.
#[derive(Debug)]
pub struct OutputLayer {
    inner: Mutex<(LineFormatter, OutputSender)>,
}

impl OutputLayer {
    /// Records formatted with `fmt` (the `system` formatter) go to `out`.
    pub fn new(fmt: LineFormatter, out: OutputSender) -> Self {
        Self {
            inner: Mutex::new((fmt, out)),
        }
    }
}

impl<S: Subscriber> Layer<S> for OutputLayer {
    fn on_event(&self, event: &Event<'_>, _ctx: Context<'_, S>) {
        let mut text = String::new();
        match *event.metadata().level() {
            Level::ERROR => text.push_str("error: "),
            Level::WARN => text.push_str("warning: "),
            Level::INFO => {}
            Level::DEBUG | Level::TRACE => {
                let _ = write!(text, "{}: ", event.metadata().target());
            }
        }
        event.record(&mut MessageVisitor(&mut text));
        crate::output::logfiles::system_line(&text);
        let mut line = Vec::with_capacity(text.len() + 32);
        // A poisoned lock only means another thread panicked mid-format;
        // the formatter and sender are still usable.
        let mut inner = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        let (fmt, out) = &mut *inner;
        fmt.begin_batch();
        let dropped = out.progress().take_dropped_records();
        if dropped > 0 {
            let note = format!(
                "warning: {dropped} of drover's own records were dropped while stdout was not read"
            );
            fmt.format(Stream::System, note.as_bytes(), &mut line);
        }
        for piece in text.split('\n') {
            fmt.format(Stream::System, piece.as_bytes(), &mut line);
        }
        if let Err(line) = out.send_unmetered(line) {
            // The writer has ended: stderr is the last place left.
            let _ = std::io::stderr().write_all(&line);
        }
    }
}

struct MessageVisitor<'a>(&'a mut String);

impl Visit for MessageVisitor<'_> {
    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "message" {
            self.0.push_str(value);
        } else {
            let _ = write!(self.0, " {}={value:?}", field.name());
        }
    }

    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        if field.name() == "message" {
            let _ = write!(self.0, "{value:?}");
        } else {
            let _ = write!(self.0, " {}={value:?}", field.name());
        }
    }
}

/// The filter: `RUST_LOG` (as `target=level,...` or a bare level) when set,
/// else info for drover, debug with `-v`, trace with `-vv`.
pub fn filter(verbose: u8) -> Targets {
    if let Ok(spec) = std::env::var("RUST_LOG") {
        if let Ok(t) = spec.parse::<Targets>() {
            return t;
        }
    }
    let level = match verbose {
        0 => LevelFilter::INFO,
        1 => LevelFilter::DEBUG,
        _ => LevelFilter::TRACE,
    };
    Targets::new()
        .with_target("drover", level)
        .with_target("janitor", level)
        .with_default(LevelFilter::WARN)
}

/// Installs the layer as the global subscriber.
pub fn install(fmt: LineFormatter, out: OutputSender, verbose: u8) {
    let layer = OutputLayer::new(fmt, out).with_filter(filter(verbose));
    // Fails only if a subscriber is already set (a second `start` in one
    // process, as in tests); the first one stays in charge.
    let _ = tracing_subscriber::registry().with(layer).try_init();
}
