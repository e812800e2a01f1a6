//! Log files: one per instance (`DIR/web.1.log`) and `DIR/drover.log` for
//! drover's own lines, each line as `TIME STREAM | TEXT`, rotated by size.
//!
//! The files must never slow the stream: readers hand each raw read to
//! [`LogFiles::chunk`], which copies it into a bounded channel without
//! waiting (a full channel drops the read and counts it), and one thread of
//! its own frames and writes. The first write error (a full disk) is said
//! once as a `system` line, and the files stop; the stream goes on. Knows
//! nothing of processes beyond their names; must not write to stdout.

use std::fs::{self, File, OpenOptions};
use std::io::{self, BufWriter, Write as _};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{self, Receiver, SyncSender, TryRecvError, TrySendError};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::SystemTime;

use crate::output::format::Stream;

/// Reads waiting for the file thread before new ones are dropped.
const QUEUE: usize = 4096;

/// When a log file is rotated and how many old ones stay.
#[derive(Debug, Clone, Copy)]
pub struct Rotation {
    /// A file is rotated before a line would take it past this many bytes.
    pub max_size: u64,
    /// Rotated files kept (`web.1.log.1` … `web.1.log.N`), besides the current one.
    pub keep: u32,
}

/// The name of the file of drover's own lines.
pub const SYSTEM_LOG: &str = "drover.log";

enum Message {
    /// A read of instance `index` (`None`: drover's own lines).
    Chunk {
        index: Option<usize>,
        stream: Stream,
        time: SystemTime,
        bytes: Vec<u8>,
    },
    /// Write what is left and end.
    Close,
    /// An instance added at run time (`drover scale`): its file, at the
    /// next index.
    Add(String),
}

/// The senders' side: cheap to clone, never blocks.
#[derive(Clone)]
pub struct LogFiles {
    tx: SyncSender<Message>,
    dropped: Arc<AtomicU64>,
    stopped: Arc<AtomicBool>,
    dir: Arc<Path>,
}

impl std::fmt::Debug for LogFiles {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LogFiles").finish_non_exhaustive()
    }
}

/// The file thread; [`FilesJob::finish`] writes what is queued and joins it.
#[derive(Debug)]
pub struct FilesJob {
    tx: SyncSender<Message>,
    thread: JoinHandle<()>,
}

/// drover's own lines go to the files of the current `start`, if any.
static SYSTEM: Mutex<Option<LogFiles>> = Mutex::new(None);

/// Creates `dir` and starts the thread writing the files of `names`
/// (instance index = position) and of drover's own lines.
pub fn start(dir: &Path, names: &[String], rotation: Rotation) -> io::Result<(LogFiles, FilesJob)> {
    fs::create_dir_all(dir)?;
    let (tx, rx) = mpsc::sync_channel(QUEUE);
    let files = LogFiles {
        tx: tx.clone(),
        dropped: Arc::new(AtomicU64::new(0)),
        stopped: Arc::new(AtomicBool::new(false)),
        dir: dir.into(),
    };
    let mut writer = Writer {
        instances: names
            .iter()
            .map(|n| LogFile::new(dir.join(format!("{n}.log")), rotation))
            .collect(),
        system: LogFile::new(dir.join(SYSTEM_LOG), rotation),
        dir: dir.into(),
        rotation,
        dropped: Arc::clone(&files.dropped),
        stopped: Arc::clone(&files.stopped),
    };
    let thread = std::thread::Builder::new()
        .name("log files".into())
        .spawn(move || writer.run(rx))?;
    *SYSTEM.lock().unwrap_or_else(|e| e.into_inner()) = Some(files.clone());
    Ok((files, FilesJob { tx, thread }))
}

/// Hands one of drover's own lines (the text of a `system` line) to the files.
pub fn system_line(text: &str) {
    let files = SYSTEM.lock().unwrap_or_else(|e| e.into_inner()).clone();
    if let Some(files) = files {
        let mut bytes = text.as_bytes().to_vec();
        bytes.push(b'\n');
        files.send(None, Stream::System, SystemTime::now(), bytes);
    }
}

impl LogFiles {
    /// The folder of the files.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Hands a read of `stream` of instance `index` to the files.
    pub fn chunk(&self, index: usize, stream: Stream, time: SystemTime, bytes: &[u8]) {
        self.send(Some(index), stream, time, bytes.to_vec());
    }

    /// Instance `name` was added at run time, at the next index: its file.
    /// Waits for room in the queue (rare, and the thread never waits).
    pub fn add(&self, name: String) {
        let _ = self.tx.send(Message::Add(name));
    }

    fn send(&self, index: Option<usize>, stream: Stream, time: SystemTime, bytes: Vec<u8>) {
        if self.stopped.load(Ordering::Relaxed) {
            return;
        }
        let message = Message::Chunk {
            index,
            stream,
            time,
            bytes,
        };
        match self.tx.try_send(message) {
            Ok(()) | Err(TrySendError::Disconnected(_)) => {}
            Err(TrySendError::Full(_)) => {
                self.dropped.fetch_add(1, Ordering::Relaxed);
            }
        }
    }
}

impl FilesJob {
    /// Writes what is queued, closes the files and ends the thread.
    pub fn finish(self) {
        *SYSTEM.lock().unwrap_or_else(|e| e.into_inner()) = None;
        // The thread drains the queue without waiting on anyone, so this
        // send waits at most for one write.
        let _ = self.tx.send(Message::Close);
        let _ = self.thread.join();
    }
}

struct Writer {
    instances: Vec<LogFile>,
    system: LogFile,
    /// Where the files of instances added at run time go, and how.
    dir: PathBuf,
    rotation: Rotation,
    dropped: Arc<AtomicU64>,
    stopped: Arc<AtomicBool>,
}

impl Writer {
    fn run(&mut self, rx: Receiver<Message>) {
        loop {
            let message = match rx.try_recv() {
                Ok(m) => m,
                Err(TryRecvError::Empty) => {
                    // Idle: what is written reaches the files now.
                    self.check(|w| w.each(LogFile::flush));
                    match rx.recv() {
                        Ok(m) => m,
                        Err(_) => break,
                    }
                }
                Err(TryRecvError::Disconnected) => break,
            };
            let (index, stream, time, bytes) = match message {
                Message::Chunk {
                    index,
                    stream,
                    time,
                    bytes,
                } => (index, stream, time, bytes),
                Message::Add(name) => {
                    let path = self.dir.join(format!("{name}.log"));
                    self.instances.push(LogFile::new(path, self.rotation));
                    continue;
                }
                Message::Close => break,
            };
            if self.stopped.load(Ordering::Relaxed) {
                continue;
            }
            self.check(|w| {
                let dropped = w.dropped.swap(0, Ordering::Relaxed);
                if dropped > 0 {
                    let note = format!(
                        "{dropped} reads were not written to the log files: the disk did not keep up\n"
                    );
                    w.system.push(Stream::System, time, note.as_bytes())?;
                }
                let file = match index {
                    Some(i) => match w.instances.get_mut(i) {
                        Some(f) => f,
                        // Not announced (cannot happen: `add` comes first).
                        None => return Ok(()),
                    },
                    None => &mut w.system,
                };
                file.push(stream, time, &bytes)
            });
        }
        self.check(|w| w.each(LogFile::close));
    }

    fn each(
        &mut self,
        mut f: impl FnMut(&mut LogFile) -> Result<(), FileError>,
    ) -> Result<(), FileError> {
        for file in self.instances.iter_mut().chain([&mut self.system]) {
            f(file)?;
        }
        Ok(())
    }

    /// Runs `f` unless the files stopped; its first error stops them and is
    /// said once.
    fn check(&mut self, f: impl FnOnce(&mut Self) -> Result<(), FileError>) {
        if self.stopped.load(Ordering::Relaxed) {
            return;
        }
        if let Err(e) = f(self) {
            self.stopped.store(true, Ordering::Relaxed);
            tracing::warn!(
                "{e}: {}; the log files stop here, the output goes on",
                e.source
            );
        }
    }
}

/// A log file that could not be written.
#[derive(Debug, thiserror::Error)]
#[error("log files: cannot write {path}")]
struct FileError {
    path: PathBuf,
    #[source]
    source: io::Error,
}

/// One log file, its unfinished lines, and its size.
struct LogFile {
    path: PathBuf,
    rotation: Rotation,
    out: Option<BufWriter<File>>,
    size: u64,
    /// The unfinished line of each stream (stdout, stderr, a pty, drover's own).
    partial: [Vec<u8>; 4],
    /// When the unfinished line's first bytes were read.
    partial_time: [SystemTime; 4],
}

impl LogFile {
    fn new(path: PathBuf, rotation: Rotation) -> Self {
        Self {
            path,
            rotation,
            out: None,
            size: 0,
            partial: Default::default(),
            partial_time: [SystemTime::UNIX_EPOCH; 4],
        }
    }

    fn error(&self, source: io::Error) -> FileError {
        FileError {
            path: self.path.clone(),
            source,
        }
    }

    /// Frames `bytes` into lines and writes the whole ones.
    fn push(
        &mut self,
        stream: Stream,
        time: SystemTime,
        mut bytes: &[u8],
    ) -> Result<(), FileError> {
        let slot = stream as usize;
        while let Some(nl) = memchr::memchr(b'\n', bytes) {
            if self.partial[slot].is_empty() {
                self.line(stream, time, &bytes[..nl])?;
            } else {
                let mut line = std::mem::take(&mut self.partial[slot]);
                line.extend_from_slice(&bytes[..nl]);
                self.line(stream, self.partial_time[slot], &line)?;
            }
            bytes = &bytes[nl + 1..];
        }
        if !bytes.is_empty() {
            if self.partial[slot].is_empty() {
                self.partial_time[slot] = time;
            }
            self.partial[slot].extend_from_slice(bytes);
            if self.partial[slot].len() > crate::output::framer::MAX_LINE {
                let line = std::mem::take(&mut self.partial[slot]);
                self.line(stream, self.partial_time[slot], &line)?;
            }
        }
        Ok(())
    }

    fn line(&mut self, stream: Stream, time: SystemTime, text: &[u8]) -> Result<(), FileError> {
        let time: chrono::DateTime<chrono::Local> = time.into();
        let mut record = format!(
            "{} {} | ",
            time.to_rfc3339_opts(chrono::SecondsFormat::Millis, false),
            stream.as_str()
        )
        .into_bytes();
        record.extend_from_slice(text);
        record.push(b'\n');
        let len = record.len() as u64;
        if self.out.is_none() {
            self.open().map_err(|e| self.error(e))?;
        }
        if self.size > 0 && self.size + len > self.rotation.max_size {
            self.rotate().map_err(|e| self.error(e))?;
            self.open().map_err(|e| self.error(e))?;
        }
        let out = self.out.as_mut().expect("opened above");
        if let Err(e) = out.write_all(&record) {
            return Err(self.error(e));
        }
        self.size += len;
        Ok(())
    }

    /// Opens the file for appending: a drover started again goes on with it.
    fn open(&mut self) -> io::Result<()> {
        let file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.path)?;
        self.size = file.metadata()?.len();
        self.out = Some(BufWriter::with_capacity(64 * 1024, file));
        Ok(())
    }

    /// `web.1.log` becomes `web.1.log.1`, `.1` becomes `.2`, …; the oldest
    /// beyond `keep` goes.
    fn rotate(&mut self) -> io::Result<()> {
        if let Some(mut out) = self.out.take() {
            out.flush()?;
        }
        let numbered = |n: u32| {
            let mut p = self.path.clone().into_os_string();
            p.push(format!(".{n}"));
            PathBuf::from(p)
        };
        if self.rotation.keep == 0 {
            fs::remove_file(&self.path)?;
        } else {
            for n in (1..self.rotation.keep).rev() {
                match fs::rename(numbered(n), numbered(n + 1)) {
                    Err(e) if e.kind() != io::ErrorKind::NotFound => return Err(e),
                    _ => {}
                }
            }
            fs::rename(&self.path, numbered(1))?;
        }
        self.size = 0;
        Ok(())
    }

    fn flush(&mut self) -> Result<(), FileError> {
        match self.out.as_mut().map(BufWriter::flush) {
            Some(Err(e)) => Err(self.error(e)),
            _ => Ok(()),
        }
    }

    /// Writes the unfinished lines as they are, and flushes.
    fn close(&mut self) -> Result<(), FileError> {
        for (slot, stream) in [Stream::Stdout, Stream::Stderr, Stream::System]
            .into_iter()
            .enumerate()
        {
            if !self.partial[slot].is_empty() {
                let line = std::mem::take(&mut self.partial[slot]);
                self.line(stream, self.partial_time[slot], &line)?;
            }
        }
        self.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn files_in(dir: &Path) -> Vec<String> {
        let mut names: Vec<String> = fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    }

    #[test]
    fn rotates_at_the_size_and_keeps_the_count() {
        let dir = tempfile::tempdir().unwrap();
        let rotation = Rotation {
            max_size: 1000,
            keep: 2,
        };
        let mut file = LogFile::new(dir.path().join("web.1.log"), rotation);
        let t = SystemTime::now();
        for i in 0..100 {
            file.push(Stream::Stdout, t, format!("line {i:03}\n").as_bytes())
                .unwrap();
        }
        file.close().unwrap();
        assert_eq!(
            files_in(dir.path()),
            ["web.1.log", "web.1.log.1", "web.1.log.2"]
        );
        for name in ["web.1.log.1", "web.1.log.2"] {
            let len = fs::metadata(dir.path().join(name)).unwrap().len();
            assert!(len <= 1000 && len > 900, "{name}: {len}");
        }
        let last = fs::read_to_string(dir.path().join("web.1.log")).unwrap();
        assert!(last.ends_with("stdout | line 099\n"), "{last}");
    }
}
