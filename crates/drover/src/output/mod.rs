//! The output path: framing, formatting, and the one writer that owns stdout.
//!
//! Readers frame and format lines and send them as batches through one
//! channel to the [`writer`]. The channel itself is unbounded so that
//! drover's own records can always be queued from synchronous code, but
//! children's output is metered: a reader must hold a byte budget permit for
//! every batch it queues, and the permit is released only once the writer has
//! written the batch. A child that writes faster than stdout drains therefore
//! blocks on its full pipe (back-pressure) and memory stays bounded by
//! [`OUTPUT_BUDGET`].

pub mod format;
pub mod framer;
pub mod writer;

use std::sync::Arc;

use tokio::sync::{mpsc, OwnedSemaphorePermit, Semaphore};

/// Bytes of children's output that may wait in the channel at once.
pub const OUTPUT_BUDGET: usize = 4 * 1024 * 1024;

/// One batch of whole, formatted lines.
#[derive(Debug)]
pub struct Chunk {
    /// The bytes to write, ending with a newline.
    pub bytes: Vec<u8>,
    /// Budget held by this batch until it is written (none for drover's own records).
    _permit: Option<OwnedSemaphorePermit>,
}

/// The sending side of the output channel; cheap to clone.
#[derive(Debug, Clone)]
pub struct OutputSender {
    tx: mpsc::UnboundedSender<Chunk>,
    budget: Arc<Semaphore>,
    budget_bytes: usize,
}

/// The output channel is closed: the writer has ended.
#[derive(Debug, thiserror::Error)]
#[error("the output writer has ended")]
pub struct WriterGone;

impl OutputSender {
    /// Queues a batch of children's output, first waiting until the writer
    /// has room for it (back-pressure).
    ///
    /// Cancel-safe: if the future is dropped while waiting, nothing was queued.
    pub async fn send(&self, bytes: Vec<u8>) -> Result<(), WriterGone> {
        if bytes.is_empty() {
            return Ok(());
        }
        // A batch bigger than the whole budget takes all of it.
        let want = bytes.len().min(self.budget_bytes) as u32;
        let permit = Arc::clone(&self.budget)
            .acquire_many_owned(want)
            .await
            .map_err(|_| WriterGone)?;
        self.tx
            .send(Chunk {
                bytes,
                _permit: Some(permit),
            })
            .map_err(|_| WriterGone)
    }

    /// Queues drover's own record without waiting; these are few and must
    /// never be dropped or block the code that logs them.
    pub fn send_unmetered(&self, bytes: Vec<u8>) -> Result<(), Vec<u8>> {
        self.tx
            .send(Chunk {
                bytes,
                _permit: None,
            })
            .map_err(|e| e.0.bytes)
    }
}

/// Creates the output channel with a budget of `budget_bytes` for children's output.
pub fn channel(budget_bytes: usize) -> (OutputSender, mpsc::UnboundedReceiver<Chunk>) {
    let budget_bytes = budget_bytes.clamp(1, u32::MAX as usize);
    let (tx, rx) = mpsc::unbounded_channel();
    let sender = OutputSender {
        tx,
        budget: Arc::new(Semaphore::new(budget_bytes)),
        budget_bytes,
    };
    (sender, rx)
}
