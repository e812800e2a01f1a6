//! Line framing: turns the bytes of one stream into whole lines.
//!
//! Owns the partial last line of one stream between reads. It never drops a
//! byte: a line longer than [`MAX_LINE`] is cut into several lines, and what is
//! left at end of file is emitted as a last line without a newline.

use memchr::memchr_iter;

/// The longest line drover emits. Longer lines are split into pieces of at
/// most this many bytes (cut before a UTF-8 sequence where possible), each
/// printed as its own output line.
pub const MAX_LINE: usize = 64 * 1024;

/// Frames a byte stream into lines.
#[derive(Debug)]
pub struct LineFramer {
    partial: Vec<u8>,
    max_line: usize,
}

impl Default for LineFramer {
    fn default() -> Self {
        Self::new(MAX_LINE)
    }
}

impl LineFramer {
    /// A framer that splits lines longer than `max_line` bytes.
    pub fn new(max_line: usize) -> Self {
        assert!(
            max_line >= 4,
            "a line limit below 4 bytes cannot hold one UTF-8 character"
        );
        Self {
            partial: Vec::new(),
            max_line,
        }
    }

    /// Bytes held back, waiting for the end of their line.
    pub fn pending(&self) -> usize {
        self.partial.len()
    }

    /// Feeds `data` and calls `emit` with each complete line (without its
    /// newline). A trailing `\r` is kept: the framer does not judge content.
    pub fn push(&mut self, mut data: &[u8], mut emit: impl FnMut(&[u8])) {
        if !self.partial.is_empty() {
            match memchr::memchr(b'\n', data) {
                Some(nl) => {
                    self.partial.extend_from_slice(&data[..nl]);
                    let line = std::mem::take(&mut self.partial);
                    self.emit_split(&line, &mut emit);
                    // Keep the allocation for the next partial line.
                    self.partial = line;
                    self.partial.clear();
                    data = &data[nl + 1..];
                }
                None => {
                    self.partial.extend_from_slice(data);
                    self.flush_overlong(&mut emit);
                    return;
                }
            }
        }
        let mut start = 0;
        for nl in memchr_iter(b'\n', data) {
            let line = &data[start..nl];
            if line.len() <= self.max_line {
                emit(line);
            } else {
                self.emit_split(line, &mut emit);
            }
            start = nl + 1;
        }
        if start < data.len() {
            self.partial.extend_from_slice(&data[start..]);
            self.flush_overlong(&mut emit);
        }
    }

    /// Emits what is left as a last line (the stream ended without a newline).
    pub fn finish(&mut self, mut emit: impl FnMut(&[u8])) {
        if !self.partial.is_empty() {
            let line = std::mem::take(&mut self.partial);
            self.emit_split(&line, &mut emit);
        }
    }

    /// While the partial line is over the limit, emits full-size pieces of it.
    fn flush_overlong(&mut self, emit: &mut impl FnMut(&[u8])) {
        if self.partial.len() <= self.max_line {
            return;
        }
        let mut start = 0;
        while self.partial.len() - start > self.max_line {
            let cut = start + split_point(&self.partial[start..], self.max_line);
            emit(&self.partial[start..cut]);
            start = cut;
        }
        self.partial.drain(..start);
    }

    fn emit_split(&self, mut line: &[u8], emit: &mut impl FnMut(&[u8])) {
        while line.len() > self.max_line {
            let cut = split_point(line, self.max_line);
            emit(&line[..cut]);
            line = &line[cut..];
        }
        emit(line);
    }
}

/// Where to cut `line` (longer than `max`) so that the first piece is at most
/// `max` bytes and, if the bytes are UTF-8, no character is cut in two.
pub(crate) fn split_point(line: &[u8], max: usize) -> usize {
    debug_assert!(line.len() > max);
    // Step back over at most 3 continuation bytes (0b10xx_xxxx) to the start
    // of the character that straddles the limit.
    let mut cut = max;
    while cut > max - 3 && (line[cut] & 0b1100_0000) == 0b1000_0000 {
        cut -= 1;
    }
    if (line[cut] & 0b1100_0000) == 0b1000_0000 {
        // Not UTF-8 here: cut at the limit.
        max
    } else {
        cut
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn frame(chunks: &[&[u8]], max: usize) -> Vec<Vec<u8>> {
        let mut f = LineFramer::new(max);
        let mut out = Vec::new();
        for c in chunks {
            f.push(c, |l| out.push(l.to_vec()));
        }
        f.finish(|l| out.push(l.to_vec()));
        out
    }

    #[test]
    fn joins_lines_across_reads() {
        let out = frame(&[b"ab", b"c\nde", b"f\n"], 100);
        assert_eq!(out, vec![b"abc".to_vec(), b"def".to_vec()]);
    }

    #[test]
    fn flushes_partial_last_line() {
        let out = frame(&[b"one\ntw", b"o"], 100);
        assert_eq!(out, vec![b"one".to_vec(), b"two".to_vec()]);
    }

    #[test]
    fn empty_lines_are_kept() {
        let out = frame(&[b"\n\nx\n"], 100);
        assert_eq!(out, vec![b"".to_vec(), b"".to_vec(), b"x".to_vec()]);
    }

    #[test]
    fn splits_overlong_lines_without_dropping() {
        let line = vec![b'x'; 25];
        let out = frame(&[&line, b"\n"], 10);
        assert_eq!(
            out.iter().map(Vec::len).collect::<Vec<_>>(),
            vec![10, 10, 5]
        );
    }

    #[test]
    fn overlong_partial_line_is_emitted_before_its_end() {
        let mut f = LineFramer::new(10);
        let mut out = Vec::new();
        f.push(&[b'y'; 35], |l| out.push(l.len()));
        assert_eq!(out, vec![10, 10, 10]);
        assert_eq!(f.pending(), 5);
    }

    #[test]
    fn does_not_cut_a_utf8_character() {
        // "é" is two bytes; a limit of 5 would cut the third "é" in half.
        let out = frame(&["aééé\n".as_bytes()], 5);
        assert_eq!(out[0], "aéé".as_bytes());
        assert_eq!(out[1], "é".as_bytes());
    }

    proptest! {
        #[test]
        fn no_byte_is_lost_or_added(
            data in proptest::collection::vec(any::<u8>(), 0..2000),
            cuts in proptest::collection::vec(0usize..2000, 0..20),
            max in 4usize..64,
        ) {
            let mut cuts: Vec<usize> = cuts.into_iter().filter(|c| *c <= data.len()).collect();
            cuts.sort_unstable();
            let mut chunks = Vec::new();
            let mut prev = 0;
            for c in cuts { chunks.push(&data[prev..c]); prev = c; }
            chunks.push(&data[prev..]);
            let lines = frame(&chunks, max);
            // Every piece fits the limit.
            prop_assert!(lines.iter().all(|l| l.len() <= max));
            // Concatenating the pieces gives back the input without its newlines.
            let joined: Vec<u8> = lines.concat();
            let expected: Vec<u8> = data.iter().copied().filter(|b| *b != b'\n').collect();
            prop_assert_eq!(joined, expected);
        }
    }
}
