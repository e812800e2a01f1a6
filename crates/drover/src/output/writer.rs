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

use super::Chunk;

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
}

/// Writes every chunk received on `rx` to `sink`, until the channel closes or
/// `stop` resolves; on `stop` it writes what is already queued and ends.
///
/// `on_broken` is called once when the sink fails (stdout closed), so that the
/// caller can stop the processes whose output has nowhere to go.
pub async fn run(
    mut rx: mpsc::UnboundedReceiver<Chunk>,
    sink: Sink,
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
        match sink.take() {
            Some(s) => {
                let (s, chunks, result) = tokio::task::spawn_blocking(move || {
                    let mut s = s;
                    let result = write_all_chunks(&mut s, &batch);
                    (s, batch, result)
                })
                .await
                .expect("the blocking write does not panic");
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
            }
            None => report.lost += bytes,
        }
        // Dropping the chunks releases their budget: producers may go on.
        batch.clear();
    }
    if let Some(mut s) = sink {
        let _ = s.flush();
    }
    report
}

/// Writes every chunk with vectored writes; on error returns how many bytes
/// were written before it.
fn write_all_chunks(sink: &mut Sink, chunks: &[Chunk]) -> Result<(), (u64, io::Error)> {
    let mut slices: Vec<IoSlice<'_>> = chunks.iter().map(|c| IoSlice::new(&c.bytes)).collect();
    let mut slices = &mut slices[..];
    let mut done = 0u64;
    while !slices.is_empty() {
        match sink.write_vectored(slices) {
            Ok(0) => {
                return Err((
                    done,
                    io::Error::new(io::ErrorKind::WriteZero, "stdout accepted no bytes"),
                ))
            }
            Ok(n) => {
                done += n as u64;
                IoSlice::advance_slices(&mut slices, n);
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err((done, e)),
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
        let sink = Shared::default();
        let writer = tokio::spawn(run(
            rx,
            Box::new(sink.clone()),
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
        let sink = Shared::default();
        for i in 0..10 {
            tx.send(format!("{i}\n").into_bytes()).await.unwrap();
        }
        let report = run(rx, Box::new(sink.clone()), std::future::ready(()), |_| {}).await;
        assert_eq!(report.written, 20);
        assert_eq!(sink.0.lock().unwrap().len(), 20);
        drop(tx);
    }

    #[tokio::test]
    async fn broken_stdout_is_reported_once_and_producers_are_not_stuck() {
        let (tx, rx) = channel(16);
        let calls = Arc::new(Mutex::new(0));
        let c = Arc::clone(&calls);
        let writer = tokio::spawn(run(
            rx,
            Box::new(Broken),
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
}
