//! The numbered lines: their format, and writing them to a descriptor.

use super::*;

/// Writes of `--write block` are at most this large.
pub(crate) const BLOCK: usize = 64 * 1024;
/// Every write of `--write raw` but possibly the last is exactly this large.
pub(crate) const RAW_CHUNK: usize = 4096;
/// Width of the sequence number.
pub(crate) const SEQ_DIGITS: usize = 8;
/// Width of the `--checksum` field.
pub(crate) const SUM_DIGITS: usize = 8;

// ---------------------------------------------------------------------------
// Line formatting

/// 32-bit FNV-1a.
pub(crate) fn fnv1a32(bytes: &[u8]) -> u32 {
    let mut h: u32 = 0x811c_9dc5;
    for &b in bytes {
        h ^= u32::from(b);
        h = h.wrapping_mul(0x0100_0193);
    }
    h
}

/// The padding letter of lines tagged `tag`.
pub(crate) fn pad_letter(tag: &[u8]) -> u8 {
    b'a' + (fnv1a32(tag) % 26) as u8
}

/// Shortest allowed line for `tag`: tag, space, seq, space, then at least one
/// pad letter (or the checksum), then the newline.
pub(crate) fn min_len(tag: &[u8], checksum: bool) -> usize {
    tag.len() + 1 + SEQ_DIGITS + 1 + if checksum { SUM_DIGITS } else { 1 } + 1
}

/// Produces successive numbered lines, rewriting only the changing bytes of
/// one reusable buffer.
pub(crate) struct LineGen {
    pub(crate) line: Vec<u8>,
    pub(crate) seq_at: usize,
    pub(crate) checksum: bool,
}

impl LineGen {
    pub(crate) fn new(tag: &[u8], len: usize, checksum: bool) -> LineGen {
        assert!(len >= min_len(tag, checksum));
        let mut line = Vec::with_capacity(len);
        line.extend_from_slice(tag);
        line.push(b' ');
        let seq_at = line.len();
        line.extend_from_slice(&[b'0'; SEQ_DIGITS]);
        line.push(b' ');
        line.resize(len - 1, pad_letter(tag));
        line.push(b'\n');
        LineGen {
            line,
            seq_at,
            checksum,
        }
    }

    /// The line numbered `seq` (taken modulo 10^8).
    pub(crate) fn line(&mut self, seq: u64) -> &[u8] {
        let mut n = seq % 100_000_000;
        for d in self.line[self.seq_at..self.seq_at + SEQ_DIGITS]
            .iter_mut()
            .rev()
        {
            *d = b'0' + (n % 10) as u8;
            n /= 10;
        }
        if self.checksum {
            let end = self.line.len() - 1;
            let at = end - SUM_DIGITS;
            let sum = fnv1a32(&self.line[..at]);
            put_hex(&mut self.line[at..end], sum);
        }
        &self.line
    }
}

pub(crate) fn put_hex(out: &mut [u8], v: u32) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    for (i, d) in out.iter_mut().enumerate() {
        *d = HEX[((v >> (28 - 4 * i)) & 0xf) as usize];
    }
}

// ---------------------------------------------------------------------------
// Raw fd output

pub(crate) fn write_fd(fd: libc::c_int, mut buf: &[u8]) -> io::Result<()> {
    while !buf.is_empty() {
        // SAFETY: buf is a valid, initialised slice for the duration of the call.
        let n = unsafe { libc::write(fd, buf.as_ptr().cast(), buf.len()) };
        if n < 0 {
            let e = io::Error::last_os_error();
            if e.kind() == io::ErrorKind::Interrupted {
                continue;
            }
            return Err(e);
        }
        if n == 0 {
            return Err(io::ErrorKind::WriteZero.into());
        }
        buf = &buf[n as usize..];
    }
    Ok(())
}

/// Exits for a write error in the data phase: quietly (status 1) on EPIPE.
pub(crate) fn die_write(e: io::Error) -> ! {
    if e.raw_os_error() != Some(libc::EPIPE) {
        let _ = write_fd(2, format!("drover-testchild: write: {e}\n").as_bytes());
    }
    process::exit(1)
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Mode {
    Raw,
    Block,
    Line,
}

/// Buffered output to one fd in one of the `--write` patterns.
pub(crate) struct Writer {
    pub(crate) fd: libc::c_int,
    pub(crate) mode: Mode,
    pub(crate) buf: Vec<u8>,
    pub(crate) closed: bool,
}

impl Writer {
    pub(crate) fn new(fd: libc::c_int, mode: Mode) -> Writer {
        let cap = if mode == Mode::Line { 0 } else { BLOCK };
        Writer {
            fd,
            mode,
            buf: Vec::with_capacity(cap),
            closed: false,
        }
    }

    pub(crate) fn push(&mut self, data: &[u8]) -> io::Result<()> {
        if self.closed {
            return Ok(());
        }
        match self.mode {
            Mode::Line => write_fd(self.fd, data),
            Mode::Block => {
                if self.buf.len() + data.len() > BLOCK {
                    self.flush()?;
                }
                if data.len() > BLOCK {
                    write_fd(self.fd, data)
                } else {
                    self.buf.extend_from_slice(data);
                    Ok(())
                }
            }
            Mode::Raw => {
                self.buf.extend_from_slice(data);
                if self.buf.len() >= BLOCK {
                    let full = self.buf.len() / RAW_CHUNK * RAW_CHUNK;
                    let r = self.buf[..full]
                        .chunks(RAW_CHUNK)
                        .try_for_each(|c| write_fd(self.fd, c));
                    self.buf.copy_within(full.., 0);
                    self.buf.truncate(self.buf.len() - full);
                    r?;
                }
                Ok(())
            }
        }
    }

    pub(crate) fn flush(&mut self) -> io::Result<()> {
        let r = match self.mode {
            Mode::Raw => self
                .buf
                .chunks(RAW_CHUNK)
                .try_for_each(|c| write_fd(self.fd, c)),
            _ => write_fd(self.fd, &self.buf),
        };
        self.buf.clear();
        if self.closed {
            return Ok(());
        }
        r
    }

    pub(crate) fn close(&mut self) {
        self.buf.clear();
        self.closed = true;
        // SAFETY: closing a plain fd number; nothing else owns it.
        unsafe { libc::close(self.fd) };
    }
}
