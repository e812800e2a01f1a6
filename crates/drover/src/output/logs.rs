//! Recent output per process, for `drover logs`.
//!
//! Readers record each raw read here (one copy of the bytes, no per-line
//! work on the hot path); the control server frames the chunks into lines
//! when a client asks. Each instance keeps at most [`RING_BYTES`] of its most
//! recent output, so memory stays bounded however long drover runs. The
//! bound counts what a chunk costs besides its bytes (its header, the
//! allocation, the queue slot): a process that writes one byte at a time
//! has its reads merged into one chunk while nobody follows, and otherwise
//! each tiny chunk is charged its full cost. Clients
//! that follow get new chunks through a broadcast channel that costs nothing
//! while nobody follows. The lock is held only to push or copy out chunks,
//! never across an `.await`.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use tokio::sync::broadcast;

use crate::output::format::Stream;

/// Output bytes kept per process instance, each chunk's overhead included.
pub const RING_BYTES: usize = 256 * 1024;

/// What a chunk costs besides the capacity of its bytes: the chunk and the
/// `Arc` header, the two allocations' bookkeeping and the queue slot.
const CHUNK_OVERHEAD: usize = std::mem::size_of::<LogChunk>() + 16 + 2 * 16 + 8;

/// A read is merged into the chunk before it while that chunk is smaller
/// than this (and nobody else holds it): trickling output costs one chunk
/// per few KiB, not one per read.
const MERGE_BELOW: usize = 4096;

/// One read from one stream of one instance.
#[derive(Debug)]
pub struct LogChunk {
    /// Order of arrival across all instances.
    pub seq: u64,
    /// Index of the instance in the process table.
    pub index: usize,
    /// Which stream.
    pub stream: Stream,
    /// When it was read.
    pub time: SystemTime,
    /// Whether the chunk begins at the start of a line.
    pub starts_line: bool,
    /// The bytes as read.
    pub bytes: Vec<u8>,
}

impl LogChunk {
    /// What keeping this chunk costs, counted against [`RING_BYTES`].
    fn cost(&self) -> usize {
        self.bytes.capacity() + CHUNK_OVERHEAD
    }
}

#[derive(Debug, Default)]
struct Ring {
    chunks: VecDeque<Arc<LogChunk>>,
    /// The summed [`LogChunk::cost`] of `chunks`.
    bytes: usize,
    /// Whether the last chunk of each stream (stdout, stderr) ended a line.
    ended_line: [bool; 2],
    /// The sequence number the current run's output comes after: no read
    /// of it is merged into an earlier run's chunk.
    run_start: u64,
}

#[derive(Debug)]
struct Inner {
    rings: Vec<Ring>,
    seq: u64,
}

/// How many lines of a failed run are kept for the digest.
pub const FAILED_RUN_LINES: usize = 100;

/// The recent output of every instance.
#[derive(Debug)]
pub struct LogHub {
    names: Mutex<Vec<String>>,
    inner: Mutex<Inner>,
    /// The last lines of each instance's last failed run, by index.
    failed_runs: Mutex<Vec<Vec<String>>>,
    follow: broadcast::Sender<Arc<LogChunk>>,
    /// Where each read is copied for the log files, when drover keeps them.
    files: std::sync::OnceLock<crate::output::logfiles::LogFiles>,
    /// Lifecycle events, already formatted, for `drover events`.
    events: broadcast::Sender<Arc<EventLine>>,
}

/// One lifecycle event as `drover events` sends it.
#[derive(Debug)]
pub struct EventLine {
    /// The instance it is about (none: about drover).
    pub name: Option<String>,
    /// The event as one JSON object, without a newline.
    pub json: String,
}

impl LogHub {
    /// A hub for instances named `names` (index = position).
    pub fn new(names: Vec<String>) -> Arc<Self> {
        let rings = names
            .iter()
            .map(|_| Ring {
                ended_line: [true, true],
                ..Ring::default()
            })
            .collect();
        Arc::new(Self {
            failed_runs: Mutex::new(vec![Vec::new(); names.len()]),
            names: Mutex::new(names),
            inner: Mutex::new(Inner { rings, seq: 0 }),
            // At most 64 chunks (4 MiB) wait for a follower that fell behind;
            // it is told how many it missed.
            follow: broadcast::channel(64).0,
            files: std::sync::OnceLock::new(),
            // Events are small and rare; a follower this far behind is told.
            events: broadcast::channel(1024).0,
        })
    }

    /// Passes a lifecycle event on to every `drover events` follower (no
    /// cost while nobody follows).
    pub fn publish_event(&self, event: EventLine) {
        let _ = self.events.send(Arc::new(event));
    }

    /// Whether any `drover events` follower listens now.
    pub fn has_event_followers(&self) -> bool {
        self.events.receiver_count() > 0
    }

    /// Lifecycle events from now on.
    pub fn subscribe_events(&self) -> broadcast::Receiver<Arc<EventLine>> {
        self.events.subscribe()
    }

    /// Copies every read from now on to `files` too.
    pub fn tee_to_files(&self, files: crate::output::logfiles::LogFiles) {
        let _ = self.files.set(files);
    }

    /// The folder of the log files, when drover keeps them.
    pub fn log_dir(&self) -> Option<&std::path::Path> {
        self.files.get().map(crate::output::logfiles::LogFiles::dir)
    }

    /// The instance names, by index (a copy: `drover scale` adds some).
    pub fn names(&self) -> Vec<String> {
        self.names.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Adds instance `name` (`drover scale`, `drover reload`) at the next
    /// index, which is returned. An index is never reused.
    pub fn add(&self, name: String) -> usize {
        let mut names = self.names.lock().unwrap_or_else(|e| e.into_inner());
        let mut inner = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        inner.rings.push(Ring {
            ended_line: [true, true],
            ..Ring::default()
        });
        self.runs().push(Vec::new());
        if let Some(files) = self.files.get() {
            files.add(name.clone());
        }
        names.push(name);
        names.len() - 1
    }

    /// Records `bytes` read from `stream` of instance `index`.
    pub fn record(&self, index: usize, stream: Stream, bytes: &[u8]) {
        if bytes.is_empty() {
            return;
        }
        let slot = usize::from(stream == Stream::Stderr);
        let following = self.follow.receiver_count() > 0;
        let now = SystemTime::now();
        if let Some(files) = self.files.get() {
            files.chunk(index, stream, now, bytes);
        }
        let chunk = {
            let mut inner = self.inner.lock().unwrap_or_else(|e| e.into_inner());
            inner.seq += 1;
            let seq = inner.seq;
            let ring = &mut inner.rings[index];
            let starts_line = ring.ended_line[slot];
            ring.ended_line[slot] = bytes.ends_with(b"\n");
            // Merged only while no follower waits for this read as a chunk
            // of its own, and no snapshot holds the chunk.
            let merged = !following
                && ring.chunks.back_mut().is_some_and(|last| {
                    let Some(last) = Arc::get_mut(last) else {
                        return false;
                    };
                    // Only the read right after it, of the same stream and
                    // second: order across instances and times stay exact
                    // to the second.
                    let recent = now
                        .duration_since(last.time)
                        .is_ok_and(|d| d < Duration::from_secs(1));
                    if last.seq + 1 != seq
                        || last.seq <= ring.run_start
                        || last.stream != stream
                        || last.bytes.len() >= MERGE_BELOW
                        || !recent
                    {
                        return false;
                    }
                    last.seq = seq;
                    let before = last.cost();
                    last.bytes.extend_from_slice(bytes);
                    ring.bytes = ring.bytes - before + last.cost();
                    true
                });
            let chunk = (!merged).then(|| {
                let chunk = Arc::new(LogChunk {
                    seq,
                    index,
                    stream,
                    time: now,
                    starts_line,
                    bytes: bytes.to_vec(),
                });
                ring.bytes += chunk.cost();
                ring.chunks.push_back(Arc::clone(&chunk));
                chunk
            });
            while ring.bytes > RING_BYTES && ring.chunks.len() > 1 {
                let old = ring.chunks.pop_front().expect("len > 1");
                ring.bytes -= old.cost();
            }
            chunk
        };
        let Some(chunk) = chunk else { return };
        if following {
            // No follower keeping up is not drover's problem: lagging
            // receivers are told how many chunks they missed.
            let _ = self.follow.send(chunk);
        }
    }

    /// The chunks kept for the instances in `indexes`, in order of arrival,
    /// and a receiver for the chunks that come after them.
    pub fn snapshot(
        &self,
        indexes: &[usize],
    ) -> (Vec<Arc<LogChunk>>, broadcast::Receiver<Arc<LogChunk>>) {
        let inner = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        // Subscribing under the lock: no chunk falls between the two.
        let rx = self.follow.subscribe();
        let mut chunks: Vec<Arc<LogChunk>> = indexes
            .iter()
            .flat_map(|i| inner.rings[*i].chunks.iter().cloned())
            .collect();
        chunks.sort_by_key(|c| c.seq);
        (chunks, rx)
    }
}

impl LogHub {
    /// Keeps the last lines of instance `index` as those of its last
    /// failed run (its output has ended).
    pub fn keep_failed_lines(&self, index: usize) {
        let since = {
            let inner = self.inner.lock().unwrap_or_else(|e| e.into_inner());
            inner.rings.get(index).map_or(0, |r| r.run_start)
        };
        let lines = self.lines_after(index, since, FAILED_RUN_LINES);
        if let Some(slot) = self.runs().get_mut(index) {
            *slot = lines;
        }
    }

    /// A new run of instance `index` starts: its output is what comes next.
    pub fn run_starts(&self, index: usize) {
        let mut inner = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        let seq = inner.seq;
        if let Some(ring) = inner.rings.get_mut(index) {
            ring.run_start = seq;
        }
    }

    /// The last `n` lines of the last failed run of instance `index`.
    pub fn failed_run_lines(&self, index: usize, n: usize) -> Vec<String> {
        let runs = self.runs();
        let lines = runs.get(index).map_or(&[][..], Vec::as_slice);
        lines[lines.len().saturating_sub(n)..].to_vec()
    }

    fn runs(&self) -> std::sync::MutexGuard<'_, Vec<Vec<String>>> {
        self.failed_runs.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The last `n` lines (both streams) of instance `index`.
    pub fn last_lines(&self, index: usize, n: usize) -> Vec<String> {
        self.lines_after(index, 0, n)
    }

    /// The last `n` lines of instance `index` read after chunk `since`.
    fn lines_after(&self, index: usize, since: u64, n: usize) -> Vec<String> {
        let (mut chunks, _) = self.snapshot(&[index]);
        // No chunk spans two runs (see `run_starts`).
        chunks.retain(|c| c.seq > since);
        let mut splitter = LineSplitter::default();
        let mut lines = Vec::new();
        for c in &chunks {
            splitter.push(c, |_, l| {
                lines.push(String::from_utf8_lossy(l).into_owned())
            });
        }
        // Partial last lines count too: a crash often ends mid-line.
        for (key, partial) in &splitter.partial {
            if key.0 == index && !partial.is_empty() {
                lines.push(String::from_utf8_lossy(partial).into_owned());
            }
        }
        let skip = lines.len().saturating_sub(n);
        lines.split_off(skip)
    }
}

/// Splits chunks into lines, per instance and stream, keeping partial lines
/// until their end arrives.
#[derive(Debug, Default)]
pub struct LineSplitter {
    partial: std::collections::HashMap<(usize, u8), Vec<u8>>,
}

impl LineSplitter {
    /// Calls `emit(chunk, line)` for each whole line `chunk` completes.
    /// A chunk that does not start a line and has no partial before it (its
    /// beginning was evicted) loses the fragment up to its first newline.
    pub fn push(&mut self, chunk: &LogChunk, mut emit: impl FnMut(&LogChunk, &[u8])) {
        let key = (chunk.index, u8::from(chunk.stream == Stream::Stderr));
        let mut data = &chunk.bytes[..];
        let partial = self.partial.entry(key).or_default();
        if partial.is_empty() && !chunk.starts_line {
            match memchr::memchr(b'\n', data) {
                Some(nl) => data = &data[nl + 1..],
                None => return,
            }
        }
        while let Some(nl) = memchr::memchr(b'\n', data) {
            if partial.is_empty() {
                emit(chunk, &data[..nl]);
            } else {
                partial.extend_from_slice(&data[..nl]);
                emit(chunk, partial);
                partial.clear();
            }
            data = &data[nl + 1..];
        }
        partial.extend_from_slice(data);
        if partial.len() > crate::output::framer::MAX_LINE {
            emit(chunk, partial);
            partial.clear();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines(hub: &LogHub, idx: &[usize]) -> Vec<String> {
        let (chunks, _) = hub.snapshot(idx);
        let mut s = LineSplitter::default();
        let mut out = Vec::new();
        for c in &chunks {
            s.push(c, |c, l| {
                out.push(format!("{}:{}", c.index, String::from_utf8_lossy(l)))
            });
        }
        out
    }

    #[test]
    fn keeps_order_across_instances_and_joins_split_lines() {
        let hub = LogHub::new(vec!["a.1".into(), "b.1".into()]);
        hub.record(0, Stream::Stdout, b"one\ntw");
        hub.record(1, Stream::Stdout, b"x\n");
        hub.record(0, Stream::Stdout, b"o\n");
        assert_eq!(lines(&hub, &[0, 1]), vec!["0:one", "1:x", "0:two"]);
        assert_eq!(lines(&hub, &[1]), vec!["1:x"]);
    }

    #[test]
    fn memory_is_bounded_and_a_cut_line_is_dropped() {
        let hub = LogHub::new(vec!["a.1".into()]);
        let block = vec![b'x'; 1000];
        for i in 0..1000 {
            let mut b = block.clone();
            b.extend_from_slice(format!(" {i}\n").as_bytes());
            hub.record(0, Stream::Stdout, &b[..500]);
            hub.record(0, Stream::Stdout, &b[500..]);
        }
        let (chunks, _) = hub.snapshot(&[0]);
        let kept: usize = chunks.iter().map(|c| c.cost()).sum();
        assert!(kept <= RING_BYTES, "{kept}");
        let l = lines(&hub, &[0]);
        assert!(l.last().unwrap().ends_with(" 999"));
        assert!(
            l.iter().all(|x| x.len() > 1000),
            "no fragment of a cut line is shown"
        );
    }

    /// A process writing one byte per read: what the ring keeps, chunk
    /// overhead included, stays within its stated size, whether or not a
    /// follower (or a snapshot) stops reads from being merged.
    #[test]
    fn trickling_output_costs_no_more_than_the_ring_size() {
        let hub = LogHub::new(vec!["a.1".into(), "b.1".into()]);
        for i in 0..600_000u32 {
            hub.record(0, Stream::Stdout, if i % 10 == 9 { b"\n" } else { b"x" });
        }
        let (chunks, rx) = hub.snapshot(&[0]);
        let cost: usize = chunks.iter().map(|c| c.cost()).sum();
        assert!(cost <= RING_BYTES, "{cost}");
        assert!(
            chunks.iter().map(|c| c.bytes.len()).sum::<usize>() > RING_BYTES / 2,
            "merged reads keep most of the ring for bytes"
        );
        drop(chunks);
        // A follower: every read is a chunk of its own, each charged in full.
        for _ in 0..600_000u32 {
            hub.record(0, Stream::Stdout, b"y");
        }
        drop(rx);
        let (chunks, _) = hub.snapshot(&[0]);
        let cost: usize = chunks.iter().map(|c| c.cost()).sum();
        assert!(cost <= RING_BYTES, "{cost}");
        assert!(chunks.len() < RING_BYTES / CHUNK_OVERHEAD + 2);
    }

    #[test]
    fn reads_of_other_instances_in_between_keep_their_order() {
        let hub = LogHub::new(vec!["a.1".into(), "b.1".into()]);
        hub.record(0, Stream::Stdout, b"a");
        hub.record(1, Stream::Stdout, b"b\n");
        hub.record(0, Stream::Stdout, b"c\n");
        hub.record(0, Stream::Stdout, b"d");
        hub.record(0, Stream::Stdout, b"e\n");
        assert_eq!(lines(&hub, &[0, 1]), vec!["1:b", "0:ac", "0:de"]);
        let (chunks, _) = hub.snapshot(&[0]);
        assert_eq!(chunks.len(), 2, "c, d and e merged; a and c not");
    }
}
