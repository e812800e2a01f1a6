//! The writer: the only code that writes to drover's stdout.
//!
//! It takes every batch queued in the output channel, in order, and writes
//! them with as few `write` calls as it can (one `writev` per burst). The
//! blocking write runs on tokio's blocking pool so a slow terminal never
//! stalls the runtime. A closed stdout (EPIPE) is not an error to panic on:
//! the writer reports it once, keeps draining the channel (so producers are
//! never stuck on budget) and counts what it could not write.

use std::future::Future;
use std::io::{self, IoSlice, Write};

use tokio::sync::mpsc;

use std::sync::Arc;
use std::time::Duration;

use super::{BufferPool, Chunk, Progress, STALL};

/// Where the writer writes; stdout in drover, anything `Write` in tests.
pub type Sink = Box<dyn Write + Send>;

/// How many batches one write gathers at most.
const BURST: usize = 256;

/// What the writer did, reported when it ends.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct WriterReport {
    /// Bytes written to the sink.
    pub written: u64,
    /// Bytes that could not be written because the sink failed.
    pub lost: u64,
    /// The first write error, if any (`BrokenPipe` for a closed stdout).
    pub error: Option<String>,
    /// stdout stopped accepting bytes while drover was stopping.
    pub stuck: bool,
}

/// Writes every chunk received on `rx` to `sink`, until the channel closes or
/// `stop` resolves; on `stop` it writes what is already queued and ends.
///
/// `on_broken` is called once when the sink fails (stdout closed), so that the
/// caller can stop the processes whose output has nowhere to go. Once
/// stopping, a write that makes no progress for [`STALL`] is abandoned
/// (stdout is a full pipe nobody reads): the rest is counted as lost.
pub async fn run(
    mut rx: mpsc::UnboundedReceiver<Chunk>,
    sink: Sink,
    progress: Arc<Progress>,
    pool: Arc<BufferPool>,
    stop: impl Future<Output = ()>,
    on_broken: impl FnOnce(&io::Error) + Send,
) -> WriterReport {
    let mut report = WriterReport::default();
    let mut sink = Some(sink);
    let mut on_broken = Some(on_broken);
    let mut batch: Vec<Chunk> = Vec::with_capacity(BURST);
    tokio::pin!(stop);
    let mut stopping = false;
    loop {
        if stopping {
            // Everything stage 0 produced is already queued: take it all.
            while batch.len() < BURST {
                match rx.try_recv() {
                    Ok(chunk) => batch.push(chunk),
                    Err(_) => break,
                }
            }
            if batch.is_empty() {
                break;
            }
        } else {
            // recv_many is cancel-safe: a chunk is either in `batch` or still queued.
            tokio::select! {
                biased;
                n = rx.recv_many(&mut batch, BURST) => {
                    if n == 0 {
                        break;
                    }
                }
                () = &mut stop => {
                    stopping = true;
                    continue;
                }
            }
        }
        let bytes: u64 = batch.iter().map(|c| c.bytes.len() as u64).sum();
        let Some(s) = sink.take() else {
            report.lost += bytes;
            release_records(&progress, &batch);
            recycle(&pool, &mut batch);
            continue;
        };
        let p = Arc::clone(&progress);
        let write = tokio::task::spawn_blocking(move || {
            let mut s = s;
            p.begin_write();
            let result = write_all_chunks(&mut s, &batch, &p);
            p.end_write();
            (s, batch, result)
        });
        tokio::pin!(write);
        let outcome = loop {
            tokio::select! {
                r = &mut write => break Some(r.expect("the blocking write does not panic")),
                () = tokio::time::sleep(Duration::from_millis(250)), if stopping => {
                    if progress.stalled_for() >= STALL {
                        break None;
                    }
                }
                // The stop may come while a write is blocked.
                () = &mut stop, if !stopping => stopping = true,
            }
        };
        let Some((s, chunks, result)) = outcome else {
            // The blocked thread keeps the sink and this batch; it ends when
            // drover exits. Everything not written is counted.
            report.error = Some(format!("stdout accepted nothing for {}s", STALL.as_secs()));
            report.stuck = true;
            break;
        };
        batch = chunks;
        match result {
            Ok(()) => {
                report.written += bytes;
                sink = Some(s);
            }
            Err((done, e)) => {
                report.written += done;
                report.lost += bytes - done;
                if let Some(f) = on_broken.take() {
                    f(&e);
                }
                report.error = Some(e.to_string());
                // `sink` stays None: nothing more is written.
            }
        }
        // Dropping the chunks releases their budget: producers may go on.
        release_records(&progress, &batch);
        recycle(&pool, &mut batch);
    }
    if let Some(mut s) = sink {
        let _ = s.flush();
    }
    report
}

/// Gives the written chunks' buffers back to the readers' pool; dropping
/// each chunk releases its budget.
fn recycle(pool: &BufferPool, batch: &mut Vec<Chunk>) {
    for chunk in batch.drain(..) {
        pool.give(chunk.into_bytes());
    }
}

/// Gives back the record budget of drover's own records in `batch`.
fn release_records(progress: &Progress, batch: &[Chunk]) {
    let records: u64 = batch
        .iter()
        .filter(|c| c.is_record())
        .map(|c| c.bytes.len() as u64)
        .sum();
    if records > 0 {
        progress.records_done(records);
    }
}

/// At most this many bytes per write call, so that progress is seen even on
/// a slow reader.
const MAX_WRITE: usize = 256 * 1024;

/// Writes every chunk with vectored writes of at most [`MAX_WRITE`] bytes;
/// on error returns how many bytes were written before it.
fn write_all_chunks(
    sink: &mut Sink,
    chunks: &[Chunk],
    progress: &Progress,
) -> Result<(), (u64, io::Error)> {
    let (mut ci, mut off) = (0usize, 0usize);
    let mut done = 0u64;
    let mut slices: Vec<IoSlice<'_>> = Vec::with_capacity(64);
    while ci < chunks.len() {
        slices.clear();
        let mut total = 0;
        let (mut i, mut o) = (ci, off);
        while i < chunks.len() && total < MAX_WRITE && slices.len() < 64 {
            let rest = &chunks[i].bytes[o..];
            let take = rest.len().min(MAX_WRITE - total);
            slices.push(IoSlice::new(&rest[..take]));
            total += take;
            if take == rest.len() {
                i += 1;
                o = 0;
            } else {
                o += take;
            }
        }
        let n = match sink.write_vectored(&slices) {
            Ok(0) => {
                return Err((
                    done,
                    io::Error::new(io::ErrorKind::WriteZero, "stdout accepted no bytes"),
                ))
            }
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                // A non-blocking stdout inherited from the parent: wait a little.
                std::thread::sleep(Duration::from_millis(1));
                continue;
            }
            Err(e) => return Err((done, e)),
        };
        done += n as u64;
        progress.wrote(n);
        // Advance (ci, off) by n bytes.
        let mut left = n;
        while left > 0 {
            let rest = chunks[ci].bytes.len() - off;
            if left >= rest {
                left -= rest;
                ci += 1;
                off = 0;
            } else {
                off += left;
                left = 0;
            }
        }
        // Skip empty chunks.
        while ci < chunks.len() && chunks[ci].bytes.len() == off {
            ci += 1;
            off = 0;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::output::channel;
    use std::sync::{Arc, Mutex};

    #[derive(Clone, Default)]
    struct Shared(Arc<Mutex<Vec<u8>>>);
    impl Write for Shared {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            // Accept at most 7 bytes a call to exercise partial writes.
            let n = buf.len().min(7);
            self.0.lock().unwrap().extend_from_slice(&buf[..n]);
            Ok(n)
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    struct Broken;
    impl Write for Broken {
        fn write(&mut self, _: &[u8]) -> io::Result<usize> {
            Err(io::ErrorKind::BrokenPipe.into())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    #[tokio::test]
    async fn writes_everything_in_order_until_the_channel_closes() {
        let (tx, rx) = channel(64);
        let progress = tx.progress();
        let sink = Shared::default();
        let writer = tokio::spawn(run(
            rx,
            Box::new(sink.clone()),
            progress,
            Arc::default(),
            std::future::pending(),
            |_| {},
        ));
        let mut expected = Vec::new();
        for i in 0..200 {
            let line = format!("line {i}\n").into_bytes();
            expected.extend_from_slice(&line);
            tx.send(line).await.unwrap();
        }
        tx.send_unmetered(b"last\n".to_vec()).unwrap();
        expected.extend_from_slice(b"last\n");
        drop(tx); // closing the channel ends the writer
        let report = writer.await.unwrap();
        assert_eq!(*sink.0.lock().unwrap(), expected);
        assert_eq!(report.written, expected.len() as u64);
        assert_eq!(report.lost, 0);
    }

    #[tokio::test]
    async fn stop_drains_what_is_queued_even_with_senders_alive() {
        let (tx, rx) = channel(1024);
        let progress = tx.progress();
        let sink = Shared::default();
        for i in 0..10 {
            tx.send(format!("{i}\n").into_bytes()).await.unwrap();
        }
        let report = run(
            rx,
            Box::new(sink.clone()),
            progress,
            Arc::default(),
            std::future::ready(()),
            |_| {},
        )
        .await;
        assert_eq!(report.written, 20);
        assert_eq!(sink.0.lock().unwrap().len(), 20);
        drop(tx);
    }

    #[tokio::test]
    async fn broken_stdout_is_reported_once_and_producers_are_not_stuck() {
        let (tx, rx) = channel(16);
        let progress = tx.progress();
        let calls = Arc::new(Mutex::new(0));
        let c = Arc::clone(&calls);
        let writer = tokio::spawn(run(
            rx,
            Box::new(Broken),
            progress,
            Arc::default(),
            std::future::pending(),
            move |e| {
                assert_eq!(e.kind(), io::ErrorKind::BrokenPipe);
                *c.lock().unwrap() += 1;
            },
        ));
        // Far more than the budget: would hang if budget were not released.
        for _ in 0..100 {
            tx.send(vec![b'x'; 10]).await.unwrap();
        }
        drop(tx);
        let report = writer.await.unwrap();
        assert_eq!(*calls.lock().unwrap(), 1);
        assert_eq!(report.lost, 1000);
        assert_eq!(report.written, 0);
    }

    /// A stdout that accepts a few bytes, then blocks until the test ends.
    struct Stuck(Option<std::sync::mpsc::Receiver<()>>);
    impl Write for Stuck {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            if let Some(rx) = self.0.take() {
                let _ = rx.recv();
            }
            Ok(buf.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_stuck_stdout_is_given_up_once_stopping_and_counted() {
        let (tx, rx) = channel(1 << 20);
        let progress = tx.progress();
        let (_unblock, blocked) = std::sync::mpsc::channel();
        for _ in 0..10 {
            tx.send(vec![b'x'; 1000]).await.unwrap();
        }
        // Stop at once: the writer is asked to drain while its write hangs.
        progress.begin_stop();
        let report = run(
            rx,
            Box::new(Stuck(Some(blocked))),
            Arc::clone(&progress),
            Arc::default(),
            std::future::ready(()),
            |_| {},
        )
        .await;
        assert!(report.stuck);
        assert_eq!(progress.unwritten(), 10_000);
        drop(tx);
    }
}
