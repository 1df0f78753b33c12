//! Cutting a COPY stream into rows without decoding values, to count and hash them on
//! their way from source to target.
//!
//! Binary format: an 11-byte signature, flags (4 bytes), a header extension (length +
//! bytes), then per row an int16 field count and per field an int32 length (-1 for
//! NULL) and that many bytes; the trailer is a field count of -1. A row's bytes are its
//! field count and fields. Text format: each row ends at a newline (newlines inside
//! values are escaped), and the row's bytes exclude the newline.
//!
//! The server sends one CopyData message per row, so rows normally arrive whole; a row
//! split across messages is carried over.

use crate::digest::Digest;

const SIGNATURE: &[u8; 11] = b"PGCOPY\n\xff\r\n\0";

#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    Binary,
    Text,
}

impl Format {
    pub fn sql(self) -> &'static str {
        match self {
            Format::Binary => "binary",
            Format::Text => "text",
        }
    }
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum FrameError {
    #[error("not a binary COPY stream (bad signature)")]
    BadSignature,
    #[error("malformed binary COPY row at byte {offset}: {what}")]
    Malformed { offset: u64, what: &'static str },
    #[error("COPY stream ended inside a row or before its trailer")]
    Truncated,
    #[error("data after the COPY trailer")]
    AfterTrailer,
}

/// Counts and hashes the rows of one COPY stream.
pub struct Framer {
    format: Format,
    header_done: bool,
    trailer_seen: bool,
    carry: Vec<u8>,
    consumed: u64,
    rows: u64,
    digest: Digest,
    hash: bool,
}

impl Framer {
    /// `hash: false` only counts rows (`--verify count`).
    pub fn new(format: Format, hash: bool) -> Framer {
        Framer {
            format,
            header_done: format == Format::Text,
            trailer_seen: false,
            carry: Vec::new(),
            consumed: 0,
            rows: 0,
            digest: Digest::ZERO,
            hash,
        }
    }

    pub fn rows(&self) -> u64 {
        self.rows
    }

    pub fn digest(&self) -> Digest {
        self.digest
    }

    /// Takes the next piece of the stream, however it is cut.
    pub fn feed(&mut self, data: &[u8]) -> Result<(), FrameError> {
        if self.carry.is_empty() {
            let used = self.scan(data)?;
            self.carry.extend_from_slice(&data[used..]);
        } else {
            let mut buf = std::mem::take(&mut self.carry);
            buf.extend_from_slice(data);
            let used = self.scan(&buf)?;
            buf.drain(..used);
            self.carry = buf;
        }
        Ok(())
    }

    /// Checks the stream ended cleanly. Returns (rows, digest).
    pub fn finish(self) -> Result<(u64, Digest), FrameError> {
        let complete = match self.format {
            Format::Binary => self.trailer_seen && self.carry.is_empty(),
            // An empty text COPY sends nothing; any rest would be a row without newline.
            Format::Text => self.carry.is_empty(),
        };
        if !complete {
            return Err(FrameError::Truncated);
        }
        Ok((self.rows, self.digest))
    }

    /// Consumes whole rows from `buf`; returns how many bytes were used.
    fn scan(&mut self, buf: &[u8]) -> Result<usize, FrameError> {
        match self.format {
            Format::Binary => self.scan_binary(buf),
            Format::Text => Ok(self.scan_text(buf)),
        }
    }

    fn scan_text(&mut self, buf: &[u8]) -> usize {
        let mut start = 0;
        while let Some(nl) = memchr_newline(&buf[start..]) {
            let row = &buf[start..start + nl];
            self.row(row);
            start += nl + 1;
        }
        self.consumed += start as u64;
        start
    }

    fn scan_binary(&mut self, buf: &[u8]) -> Result<usize, FrameError> {
        let mut pos = 0usize;
        if !self.header_done {
            let Some(len) = header_len(buf)? else {
                return Ok(0);
            };
            pos = len;
            self.header_done = true;
        }
        loop {
            if pos == buf.len() {
                break;
            }
            if self.trailer_seen {
                return Err(FrameError::AfterTrailer);
            }
            let Some(field_count) = read_i16(buf, pos) else {
                break;
            };
            if field_count == -1 {
                self.trailer_seen = true;
                pos += 2;
                continue;
            }
            if field_count < 0 {
                return Err(self.malformed(pos, "negative field count"));
            }
            let mut end = pos + 2;
            let mut complete = true;
            for _ in 0..field_count {
                let Some(len) = read_i32(buf, end) else {
                    complete = false;
                    break;
                };
                end += 4;
                if len >= 0 {
                    end += len as usize;
                } else if len != -1 {
                    return Err(self.malformed(end - 4, "negative field length"));
                }
                if end > buf.len() {
                    complete = false;
                    break;
                }
            }
            if !complete {
                break;
            }
            self.row(&buf[pos..end]);
            pos = end;
        }
        self.consumed += pos as u64;
        Ok(pos)
    }

    #[inline]
    fn row(&mut self, bytes: &[u8]) {
        self.rows += 1;
        if self.hash {
            self.digest.add_row(bytes);
        }
    }

    fn malformed(&self, pos: usize, what: &'static str) -> FrameError {
        FrameError::Malformed {
            offset: self.consumed + pos as u64,
            what,
        }
    }
}

/// The header's length once all of it is in `buf`.
fn header_len(buf: &[u8]) -> Result<Option<usize>, FrameError> {
    if buf.len() < SIGNATURE.len() {
        return if SIGNATURE.starts_with(buf) {
            Ok(None)
        } else {
            Err(FrameError::BadSignature)
        };
    }
    if &buf[..SIGNATURE.len()] != SIGNATURE {
        return Err(FrameError::BadSignature);
    }
    let Some(ext) = read_i32(buf, 15) else {
        return Ok(None);
    };
    let len = 19 + ext.max(0) as usize;
    Ok((buf.len() >= len).then_some(len))
}

#[inline]
fn read_i16(buf: &[u8], pos: usize) -> Option<i16> {
    Some(i16::from_be_bytes(buf.get(pos..pos + 2)?.try_into().ok()?))
}

#[inline]
fn read_i32(buf: &[u8], pos: usize) -> Option<i32> {
    Some(i32::from_be_bytes(buf.get(pos..pos + 4)?.try_into().ok()?))
}

#[inline]
fn memchr_newline(buf: &[u8]) -> Option<usize> {
    buf.iter().position(|&b| b == b'\n')
}

/// Builds binary COPY data for tests: header, rows of optional fields, trailer.
#[cfg(test)]
pub(crate) fn binary_stream(rows: &[Vec<Option<&[u8]>>]) -> Vec<u8> {
    let mut out = SIGNATURE.to_vec();
    out.extend_from_slice(&0i32.to_be_bytes());
    out.extend_from_slice(&0i32.to_be_bytes());
    for row in rows {
        out.extend_from_slice(&(row.len() as i16).to_be_bytes());
        for field in row {
            match field {
                None => out.extend_from_slice(&(-1i32).to_be_bytes()),
                Some(v) => {
                    out.extend_from_slice(&(v.len() as i32).to_be_bytes());
                    out.extend_from_slice(v);
                }
            }
        }
    }
    out.extend_from_slice(&(-1i16).to_be_bytes());
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Vec<u8> {
        binary_stream(&[
            vec![Some(b"abc"), None],
            vec![Some(b""), Some(b"\n\t\\")],
            vec![Some(b"abc"), None],
        ])
    }

    fn frame_in_pieces(data: &[u8], piece: usize) -> (u64, Digest) {
        let mut f = Framer::new(Format::Binary, true);
        for chunk in data.chunks(piece) {
            f.feed(chunk).unwrap();
        }
        f.finish().unwrap()
    }

    #[test]
    fn same_rows_whatever_the_cuts() {
        let data = sample();
        let whole = frame_in_pieces(&data, data.len());
        assert_eq!(whole.0, 3);
        for piece in 1..data.len() {
            assert_eq!(frame_in_pieces(&data, piece), whole, "piece size {piece}");
        }
    }

    #[test]
    fn row_bytes_are_field_count_and_fields() {
        let data = binary_stream(&[vec![Some(b"x")]]);
        let (_, digest) = frame_in_pieces(&data, 7);
        let mut expect = Digest::ZERO;
        expect.add_row(&[0, 1, 0, 0, 0, 1, b'x']);
        assert_eq!(digest, expect);
    }

    #[test]
    fn null_and_empty_string_differ() {
        let a = frame_in_pieces(&binary_stream(&[vec![None]]), 100).1;
        let b = frame_in_pieces(&binary_stream(&[vec![Some(b"")]]), 100).1;
        assert_ne!(a, b);
    }

    #[test]
    fn truncated_and_bad_streams_fail() {
        let data = sample();
        let mut f = Framer::new(Format::Binary, true);
        f.feed(&data[..data.len() - 2]).unwrap();
        assert_eq!(f.finish().unwrap_err(), FrameError::Truncated);
        let mut f = Framer::new(Format::Binary, true);
        assert_eq!(
            f.feed(b"PGCOPX\n\xff\r\n\0").unwrap_err(),
            FrameError::BadSignature
        );
        let mut f = Framer::new(Format::Binary, true);
        let mut bad = data.clone();
        bad.push(0);
        assert_eq!(f.feed(&bad).unwrap_err(), FrameError::AfterTrailer);
    }

    #[test]
    fn text_rows_end_at_newlines() {
        let mut f = Framer::new(Format::Text, true);
        f.feed(b"1\ta\\nb\n2\t").unwrap();
        f.feed(b"\\N\n").unwrap();
        let (rows, digest) = f.finish().unwrap();
        assert_eq!(rows, 2);
        let mut expect = Digest::ZERO;
        expect.add_row(b"1\ta\\nb");
        expect.add_row(b"2\t\\N");
        assert_eq!(digest, expect);
    }

    #[test]
    fn counting_only_leaves_the_digest_zero() {
        let mut f = Framer::new(Format::Binary, false);
        f.feed(&sample()).unwrap();
        assert_eq!(f.finish().unwrap(), (3, Digest::ZERO));
    }
}
