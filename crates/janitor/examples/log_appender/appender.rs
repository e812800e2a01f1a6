//! Children's output and the program's own log records, through one channel
//! to one writer, with not a line lost at exit.
//!
//! - One reader job per child (stage 0) frames its stdout into lines and
//!   sends them in batches; the channel is bounded, so a writer that falls
//!   behind slows the children down through their full pipes.
//! - [`log`] is a global, synchronous logger, as a logging framework's
//!   appender would be. It keeps a sender forever, so the channel never
//!   closes and the writer cannot wait for that.
//! - The writer job is in stage 1: janitor tells it to stop only after every
//!   stage-0 job has ended, so by then every line and record it will ever get
//!   is already queued. It drains the queue, flushes and ends.

use std::process::Stdio;
use std::sync::RwLock;

use anyhow::Context;
use tokio::io::{AsyncBufReadExt, AsyncWrite, AsyncWriteExt, BufReader, BufWriter};
use tokio::process::Command;
use tokio::sync::mpsc;

/// Lines travel in batches: one channel operation per burst, not per line.
type Batch = Vec<String>;

/// How many batches may wait for the writer before producers are slowed.
const QUEUE: usize = 64;
/// The most lines a reader puts into one batch.
const BATCH: usize = 256;

/// The global logger's way into the channel; never dropped once set.
static LOGGER: RwLock<Option<mpsc::Sender<Batch>>> = RwLock::new(None);

/// Log one record of the program itself, from sync or async code.
///
/// If the queue is full the record is handed to a janitor job,
/// which the janitor awaits before the writer is told to stop: still not
/// lost, though it may land after records logged later.
pub fn log(text: impl Into<String>) {
    let record = vec![format!("system | {}", text.into())];
    let logger = LOGGER
        .read()
        .expect("the logger lock is never held across a panic")
        .clone();
    let Some(sender) = logger else {
        eprintln!("{}", record[0]);
        return;
    };
    match sender.try_send(record) {
        Ok(()) => {}
        Err(mpsc::error::TrySendError::Full(record)) => {
            janitor::spawn_job(async move {
                // The writer dropped its receiver: there is nowhere left to log.
                let _ = sender.send(record).await;
            });
        }
        Err(mpsc::error::TrySendError::Closed(record)) => eprintln!("{}", record[0]),
    }
}

/// Run `children` copies of `seq 1 LINES` and write every line they print,
/// plus this program's own log records, to `out`.
pub async fn run<W>(out: W, children: usize, lines: u64) -> anyhow::Result<()>
where
    W: AsyncWrite + Unpin + Send + 'static,
{
    let (janitor_result, callee_result) = janitor::try_enter_janitor(start(out, children, lines))
        .await
        .into_tuple();
    callee_result?;
    Ok(janitor_result?)
}

async fn start<W>(out: W, children: usize, lines: u64) -> anyhow::Result<()>
where
    W: AsyncWrite + Unpin + Send + 'static,
{
    let (sender, receiver) = mpsc::channel(QUEUE);
    janitor::job("writer")
        .stage(1)
        .spawn(writer_loop(receiver, out));
    *LOGGER
        .write()
        .expect("the logger lock is never held across a panic") = Some(sender.clone());
    log(format!("starting {children} children"));
    for n in 1..=children {
        let name = format!("child-{n}");
        let child = Command::new("seq")
            .arg("1")
            .arg(lines.to_string())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            // No process outlives a panic or an abort of its reader.
            .kill_on_drop(true)
            .spawn()
            .with_context(|| format!("starting {name}"))?;
        janitor::job(format!("reader:{name}")).spawn(read_child(name, child, sender.clone()));
    }
    log("every child started");
    Ok(())
}

async fn read_child(
    name: String,
    mut child: tokio::process::Child,
    sender: mpsc::Sender<Batch>,
) -> anyhow::Result<()> {
    let stdout = child
        .stdout
        .take()
        .expect("stdout is piped when the child is spawned");
    let mut lines = BufReader::new(stdout).lines();
    let mut batch = Vec::with_capacity(BATCH);
    // A last line without a newline is returned too.
    while let Some(line) = lines
        .next_line()
        .await
        .with_context(|| format!("reading {name}'s stdout"))?
    {
        batch.push(format!("{name} | {line}"));
        if batch.len() == BATCH && sender.send(std::mem::take(&mut batch)).await.is_err() {
            // The writer is gone (its output closed); `child` is killed
            // when dropped.
            return Ok(());
        }
    }
    if !batch.is_empty() {
        let _ = sender.send(batch).await;
    }
    let status = child
        .wait()
        .await
        .with_context(|| format!("waiting for {name}"))?;
    log(format!("{name} exited: {status}"));
    Ok(())
}

async fn writer_loop<W>(mut batches: mpsc::Receiver<Batch>, out: W) -> anyhow::Result<()>
where
    W: AsyncWrite + Unpin,
{
    let mut out = BufWriter::new(out);
    let mut stopping = std::pin::pin!(janitor::stopping());
    loop {
        tokio::select! {
            batch = batches.recv() => match batch {
                Some(batch) => {
                    if !write(&mut out, batch).await? {
                        return Ok(());
                    }
                }
                None => break,
            },
            // Every producer has ended: what they sent is all queued.
            () = &mut stopping => {
                while let Ok(batch) = batches.try_recv() {
                    if !write(&mut out, batch).await? {
                        return Ok(());
                    }
                }
                break;
            }
        }
    }
    match out.flush().await {
        Err(err) if err.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        flushed => flushed.context("flushing the output"),
    }
}

/// Write one batch; `false` if the output is closed (a broken pipe means
/// "stop", never a failure).
async fn write<W: AsyncWrite + Unpin>(out: &mut W, batch: Batch) -> anyhow::Result<bool> {
    for line in batch {
        let written = async {
            out.write_all(line.as_bytes()).await?;
            out.write_all(b"\n").await
        };
        match written.await {
            Ok(()) => {}
            Err(err) if err.kind() == std::io::ErrorKind::BrokenPipe => return Ok(false),
            Err(err) => return Err(err).context("writing the output"),
        }
    }
    Ok(true)
}
