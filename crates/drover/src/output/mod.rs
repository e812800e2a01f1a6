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
pub mod logfiles;
pub mod logging;
pub mod logs;
pub mod tty_framer;
pub mod writer;

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{mpsc, watch, OwnedSemaphorePermit, Semaphore};

/// Bytes of children's output that may wait in the channel at once.
pub const OUTPUT_BUDGET: usize = 4 * 1024 * 1024;

/// Bytes of drover's own records that may wait in the channel at once.
pub const RECORD_BUDGET: usize = 1024 * 1024;

/// How long a write to stdout may make no progress at all before drover,
/// once it is stopping, counts stdout as stuck and gives up on it. A slow
/// reader (a terminal scrolling, `less`) makes progress and is waited for.
pub const STALL: Duration = Duration::from_secs(3);

/// What the writer has done, shared with the producers.
#[derive(Debug)]
pub struct Progress {
    epoch: std::time::Instant,
    /// Milliseconds since `epoch` of the last write that moved bytes.
    last_ms: AtomicU64,
    /// A write is under way.
    writing: AtomicBool,
    /// Bytes queued in the channel, in all.
    queued: AtomicU64,
    /// Bytes written to stdout.
    written: AtomicU64,
    /// Bytes that readers dropped because stdout was stuck.
    dropped: AtomicU64,
    /// Milliseconds since `epoch` (plus one) when drover began to stop;
    /// 0 while it runs.
    stop_ms: AtomicU64,
    /// Bytes of drover's own records queued and not yet written.
    records_queued: AtomicU64,
    /// drover's own records dropped because their budget was full.
    records_dropped: AtomicU64,
}

impl Progress {
    fn new() -> Self {
        Self {
            epoch: std::time::Instant::now(),
            last_ms: AtomicU64::new(0),
            writing: AtomicBool::new(false),
            queued: AtomicU64::new(0),
            written: AtomicU64::new(0),
            dropped: AtomicU64::new(0),
            stop_ms: AtomicU64::new(0),
            records_queued: AtomicU64::new(0),
            records_dropped: AtomicU64::new(0),
        }
    }

    fn now_ms(&self) -> u64 {
        self.epoch.elapsed().as_millis() as u64
    }

    /// A write is starting.
    pub fn begin_write(&self) {
        self.last_ms.store(self.now_ms(), Ordering::Relaxed);
        self.writing.store(true, Ordering::Release);
    }

    /// `n` bytes were written.
    pub fn wrote(&self, n: usize) {
        self.written.fetch_add(n as u64, Ordering::Relaxed);
        self.last_ms.store(self.now_ms(), Ordering::Relaxed);
    }

    /// The write has ended.
    pub fn end_write(&self) {
        self.writing.store(false, Ordering::Release);
    }

    /// drover has begun to stop: from now on, a stdout that makes no
    /// progress for [`STALL`] is given up.
    pub fn begin_stop(&self) {
        let _ = self.stop_ms.compare_exchange(
            0,
            self.now_ms() + 1,
            Ordering::AcqRel,
            Ordering::Acquire,
        );
    }

    /// How long the current write has made no progress since drover began
    /// to stop. Zero while drover runs (a paused terminal, `less`, tmux copy
    /// mode hold everything back, as they should) and while idle.
    pub fn stalled_for(&self) -> Duration {
        let stop = self.stop_ms.load(Ordering::Acquire);
        if stop == 0 || !self.writing.load(Ordering::Acquire) {
            return Duration::ZERO;
        }
        let since = self.last_ms.load(Ordering::Relaxed).max(stop - 1);
        Duration::from_millis(self.now_ms().saturating_sub(since))
    }

    /// Chunks of drover's own records (`bytes`) have left the queue.
    pub fn records_done(&self, bytes: u64) {
        self.records_queued.fetch_sub(bytes, Ordering::Relaxed);
    }

    /// How many of drover's own records were dropped since the last call.
    pub fn take_dropped_records(&self) -> u64 {
        self.records_dropped.swap(0, Ordering::Relaxed)
    }

    /// Bytes that were queued or produced but never written.
    pub fn unwritten(&self) -> u64 {
        let queued = self.queued.load(Ordering::Relaxed);
        let written = self.written.load(Ordering::Relaxed);
        queued.saturating_sub(written) + self.dropped.load(Ordering::Relaxed)
    }
}

/// One batch of whole, formatted lines.
#[derive(Debug)]
pub struct Chunk {
    /// The bytes to write, ending with a newline.
    pub bytes: Vec<u8>,
    /// Budget held by this batch until it is written (none for drover's own records).
    _permit: Option<OwnedSemaphorePermit>,
}

impl Chunk {
    /// Whether this is drover's own record (not children's output).
    pub fn is_record(&self) -> bool {
        self._permit.is_none()
    }

    /// The buffer, once written; dropping the chunk's permit releases its
    /// budget.
    pub fn into_bytes(self) -> Vec<u8> {
        self.bytes
    }
}

/// The sending side of the output channel; cheap to clone.
#[derive(Debug, Clone)]
pub struct OutputSender {
    tx: mpsc::UnboundedSender<Chunk>,
    budget: Arc<Semaphore>,
    budget_bytes: usize,
    progress: Arc<Progress>,
    pool: Arc<BufferPool>,
}

/// Batch buffers the writer has emptied, for readers to fill again: no
/// malloc, no fresh pages to fault in, and no freed memory left behind in
/// the allocator's per-thread arenas.
#[derive(Debug, Default)]
pub struct BufferPool {
    free: std::sync::Mutex<Vec<Vec<u8>>>,
}

/// Buffers kept at most; with batches of up to ~320 KiB, about 10 MiB at worst.
const POOL_BUFFERS: usize = 32;

/// Buffers larger than this are not kept (a rare huge batch).
const POOL_MAX_CAPACITY: usize = 512 * 1024;

impl BufferPool {
    /// An empty buffer of at least `capacity` bytes, reused when one is free.
    pub fn take(&self, capacity: usize) -> Vec<u8> {
        let reused = self.free.lock().unwrap_or_else(|e| e.into_inner()).pop();
        match reused {
            Some(mut buf) => {
                buf.reserve(capacity);
                buf
            }
            None => Vec::with_capacity(capacity),
        }
    }

    /// Gives `buf` back for reuse.
    pub fn give(&self, mut buf: Vec<u8>) {
        if buf.capacity() == 0 || buf.capacity() > POOL_MAX_CAPACITY {
            return;
        }
        buf.clear();
        let mut free = self.free.lock().unwrap_or_else(|e| e.into_inner());
        if free.len() < POOL_BUFFERS {
            free.push(buf);
        }
    }
}

/// The output channel is closed: the writer has ended.
#[derive(Debug, thiserror::Error)]
#[error("the output writer has ended")]
pub struct WriterGone;

/// Why a batch was not queued.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SendError {
    /// The writer has ended.
    #[error("the output writer has ended")]
    WriterGone,
    /// Stdout has accepted nothing for [`STALL`] after the process ended.
    #[error("stdout is stuck")]
    Stuck,
}

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
        self.queue(bytes, Some(permit)).map_err(|_| WriterGone)
    }

    /// Like [`send`](Self::send), but once drover is stopping and `cut` is
    /// set (the process and its group are gone) gives up when stdout has
    /// been stuck for [`STALL`]: then the batch is dropped and counted, so
    /// that a stdout nobody reads cannot keep drover from exiting.
    pub async fn send_or_give_up(
        &self,
        bytes: Vec<u8>,
        cut: &watch::Receiver<Option<tokio::time::Instant>>,
    ) -> Result<(), SendError> {
        if bytes.is_empty() {
            self.pool.give(bytes);
            return Ok(());
        }
        let want = bytes.len().min(self.budget_bytes) as u32;
        let permit = loop {
            // acquire_many_owned is cancel-safe: a dropped attempt holds nothing.
            tokio::select! {
                permit = Arc::clone(&self.budget).acquire_many_owned(want) => {
                    break permit.map_err(|_| SendError::WriterGone)?;
                }
                () = tokio::time::sleep(Duration::from_millis(250)) => {
                    if cut.borrow().is_some() && self.progress.stalled_for() >= STALL {
                        self.progress.dropped.fetch_add(bytes.len() as u64, Ordering::Relaxed);
                        return Err(SendError::Stuck);
                    }
                }
            }
        };
        self.queue(bytes, Some(permit))
            .map_err(|_| SendError::WriterGone)
    }

    fn queue(&self, bytes: Vec<u8>, permit: Option<OwnedSemaphorePermit>) -> Result<(), Vec<u8>> {
        let n = bytes.len() as u64;
        self.tx
            .send(Chunk {
                bytes,
                _permit: permit,
            })
            .map_err(|e| e.0.bytes)?;
        self.progress.queued.fetch_add(n, Ordering::Relaxed);
        Ok(())
    }

    /// The writer's progress, shared.
    pub fn progress(&self) -> Arc<Progress> {
        Arc::clone(&self.progress)
    }

    /// The pool of batch buffers, shared with the writer.
    pub fn pool(&self) -> Arc<BufferPool> {
        Arc::clone(&self.pool)
    }

    /// An empty batch buffer of at least `capacity` bytes.
    pub fn buffer(&self, capacity: usize) -> Vec<u8> {
        self.pool.take(capacity)
    }

    /// Queues drover's own record without waiting: the code that logs must
    /// never block. Records have a budget of their own ([`RECORD_BUDGET`]):
    /// while stdout is not read and that much is queued, a record is
    /// dropped and counted instead ([`Progress::take_dropped_records`]).
    pub fn send_unmetered(&self, bytes: Vec<u8>) -> Result<(), Vec<u8>> {
        let queued = self.progress.records_queued.load(Ordering::Relaxed);
        if queued > RECORD_BUDGET as u64 {
            self.progress
                .records_dropped
                .fetch_add(1, Ordering::Relaxed);
            return Ok(());
        }
        let n = bytes.len() as u64;
        self.queue(bytes, None)?;
        self.progress.records_queued.fetch_add(n, Ordering::Relaxed);
        Ok(())
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
        progress: Arc::new(Progress::new()),
        pool: Arc::new(BufferPool::default()),
    };
    (sender, rx)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_pool_reuses_buffers_and_keeps_few_and_small_ones() {
        let pool = BufferPool::default();
        let mut a = pool.take(1000);
        a.extend_from_slice(b"data");
        let ptr = a.as_ptr();
        pool.give(a);
        let b = pool.take(10);
        assert_eq!(b.as_ptr(), ptr, "the same allocation comes back");
        assert!(b.is_empty());
        pool.give(Vec::with_capacity(POOL_MAX_CAPACITY + 1));
        assert!(
            pool.free.lock().unwrap().is_empty(),
            "a huge buffer is not kept"
        );
        for _ in 0..POOL_BUFFERS + 10 {
            pool.give(Vec::with_capacity(16));
        }
        assert_eq!(pool.free.lock().unwrap().len(), POOL_BUFFERS);
    }
}
