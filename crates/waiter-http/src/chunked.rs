//! The chunked transfer coding of a request body (RFC 9112 §7.1), decoded
//! without I/O: bytes in, body bytes out, as they arrive.
//!
//! It exists so that [`crate::app`] can read a body that Node's clients
//! (`fetch` or `http.request` with a streamed body, `curl -H
//! 'Transfer-Encoding: chunked'`) send without a `Content-Length`, and so
//! that the static server can skip one sent with a GET and keep the
//! connection. The
//! [`Decoder`] is a byte-level state machine, so a body split across reads
//! at any byte decodes the same and nothing is scanned twice; it stops at the
//! end of the message, leaving pipelined bytes to the caller.
//!
//! Choices:
//! - Chunk sizes are `1*HEXDIG`; an empty, non-hex or `u64`-overflowing size
//!   is 400. A size that would take the body past the caller's limit is 413
//!   as soon as the size line is read, before any of its data is kept.
//! - Chunk extensions are checked (`BWS ";"` then no control character but
//!   HTAB) and ignored; their bytes over the whole body are bounded (400
//!   beyond), as are a size line's (400): Node's CVE-2024-22019 was a
//!   server reading unbounded extensions.
//! - The trailer section is read and discarded, bounded (431 beyond, as an
//!   oversized head); its lines may hold no control character but HTAB.
//! - Line endings follow the request-head parser (`request.rs`): a bare LF
//!   ends a line (as in nginx and httparse), a CR must be followed by LF (a
//!   bare CR is 400). That includes the line ending after a chunk's data.

use crate::request::Limits;
use crate::status::Status;

/// Why a chunked body was refused; [`ChunkedError::status`] is the answer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ChunkedError {
    /// Framing that is not `chunked-body` (400).
    Syntax,
    /// A chunk size over `u64` (400).
    SizeOverflow,
    /// A size line or the chunk extensions over their limits (400).
    ExtensionsTooLong,
    /// The decoded body would exceed the caller's limit (413).
    TooLarge,
    /// A trailer section over its limit (431).
    TrailersTooLarge,
}

impl ChunkedError {
    /// The response status for this error.
    pub fn status(self) -> Status {
        match self {
            ChunkedError::TooLarge => Status::CONTENT_TOO_LARGE,
            ChunkedError::TrailersTooLarge => Status::REQUEST_HEADER_FIELDS_TOO_LARGE,
            _ => Status::BAD_REQUEST,
        }
    }
}

/// Limits of a [`Decoder`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ChunkedLimits {
    /// Largest decoded body (413 beyond).
    pub max_body: u64,
    /// Longest chunk-size line, size and extensions, line ending excluded (400 beyond).
    pub max_size_line: usize,
    /// Most extension bytes (after the sizes) over the whole body (400 beyond).
    pub max_extensions: usize,
    /// Largest trailer section, line endings included (431 beyond).
    pub max_trailers: usize,
}

impl ChunkedLimits {
    /// A body of at most `max_body` decoded bytes, its framing bounded as a
    /// head is by `limits`: a size line and the extensions over the whole
    /// body as one field line, the trailers as a whole head.
    pub fn new(max_body: u64, limits: &Limits) -> ChunkedLimits {
        ChunkedLimits {
            max_body,
            max_size_line: limits.max_field_line,
            max_extensions: limits.max_field_line,
            max_trailers: limits.max_head,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    /// In a chunk size: its value so far, and whether a digit was seen.
    Size { size: u64, digits: bool },
    /// After a size's digits (`size`): whitespace, then `;` and the extensions, if any.
    Ext { size: u64, semicolon: bool },
    /// After the CR ending a size line, whose size is given.
    SizeLf(u64),
    /// In a chunk's data, with this many bytes left.
    Data(u64),
    /// After a chunk's data: its line ending.
    DataEnd,
    /// After the CR following a chunk's data.
    DataLf,
    /// In the trailer section, at the start of a line.
    TrailerStart,
    /// In a trailer field line.
    Trailer,
    /// After a CR in the trailer section; `last` when it ends the empty line.
    TrailerLf { last: bool },
    /// The message ended.
    Done,
}

/// A chunked-body decoder: feed it what arrives with [`Decoder::decode`].
#[derive(Clone, Debug)]
pub struct Decoder {
    limits: ChunkedLimits,
    state: State,
    /// Decoded bytes so far.
    body: u64,
    /// Bytes of the current size line.
    line: usize,
    /// Extension bytes so far.
    extensions: usize,
    /// Trailer section bytes so far.
    trailers: usize,
}

impl Decoder {
    /// A decoder at the start of a chunked body.
    pub fn new(limits: ChunkedLimits) -> Decoder {
        Decoder {
            limits,
            state: State::Size { size: 0, digits: false },
            body: 0,
            line: 0,
            extensions: 0,
            trailers: 0,
        }
    }

    /// Whether the whole message was read (last chunk and trailer section).
    pub fn is_done(&self) -> bool {
        self.state == State::Done
    }

    /// Decodes from `input`, appending data to `body`; returns the bytes
    /// used: all of `input` unless the message ended within it, when the
    /// rest belongs to the next request.
    ///
    /// # Errors
    ///
    /// A [`ChunkedError`] as soon as the bytes cannot continue an acceptable
    /// chunked body; the decoder must then not be used again.
    pub fn decode(&mut self, input: &[u8], body: &mut Vec<u8>) -> Result<usize, ChunkedError> {
        let mut i = 0;
        while i < input.len() {
            if let State::Data(left) = self.state {
                // `take <= left` and `take <= input.len()`: both casts are exact.
                let take = left.min((input.len() - i) as u64) as usize;
                body.extend_from_slice(&input[i..i + take]);
                i += take;
                self.state =
                    if take as u64 == left { State::DataEnd } else { State::Data(left - take as u64) };
                continue;
            }
            if self.state == State::Done {
                break;
            }
            self.byte(input[i])?;
            i += 1;
        }
        Ok(i)
    }

    /// One byte of framing (not of data).
    fn byte(&mut self, b: u8) -> Result<(), ChunkedError> {
        self.state = match self.state {
            State::Size { size, digits } => {
                self.size_line_byte(b)?;
                match hex(b) {
                    Some(d) => {
                        let size = size.checked_mul(16).ok_or(ChunkedError::SizeOverflow)? | u64::from(d);
                        State::Size { size, digits: true }
                    }
                    None if !digits => return Err(ChunkedError::Syntax),
                    None => self.after_size(size, b, false)?,
                }
            }
            State::Ext { size, semicolon } => {
                self.size_line_byte(b)?;
                self.after_size(size, b, semicolon)?
            }
            State::SizeLf(size) if b == b'\n' => self.chunk(size)?,
            State::Data(_) | State::Done => unreachable!("handled by decode"),
            State::DataEnd if b == b'\r' => State::DataLf,
            State::DataEnd | State::DataLf if b == b'\n' => State::Size { size: 0, digits: false },
            State::TrailerStart | State::Trailer => {
                self.trailers += 1;
                if self.trailers > self.limits.max_trailers {
                    return Err(ChunkedError::TrailersTooLarge);
                }
                let start = self.state == State::TrailerStart;
                match b {
                    b'\r' => State::TrailerLf { last: start },
                    b'\n' if start => State::Done,
                    b'\n' => State::TrailerStart,
                    b'\t' => State::Trailer,
                    b if b.is_ascii_control() => return Err(ChunkedError::Syntax),
                    _ => State::Trailer,
                }
            }
            State::TrailerLf { last } if b == b'\n' => {
                self.trailers += 1;
                if self.trailers > self.limits.max_trailers {
                    return Err(ChunkedError::TrailersTooLarge);
                }
                if last {
                    State::Done
                } else {
                    State::TrailerStart
                }
            }
            State::SizeLf(_) | State::DataEnd | State::DataLf | State::TrailerLf { .. } => {
                return Err(ChunkedError::Syntax)
            }
        };
        Ok(())
    }

    /// Counts a byte of a size line against its limit.
    fn size_line_byte(&mut self, b: u8) -> Result<(), ChunkedError> {
        if b != b'\r' && b != b'\n' {
            self.line += 1;
        }
        match self.line > self.limits.max_size_line {
            true => Err(ChunkedError::ExtensionsTooLong),
            false => Ok(()),
        }
    }

    /// The state after byte `b` of a size line past the digits of `size`
    /// (`semicolon`: an extension has begun).
    fn after_size(&mut self, size: u64, b: u8, semicolon: bool) -> Result<State, ChunkedError> {
        match b {
            b'\r' => return Ok(State::SizeLf(size)),
            b'\n' => return self.chunk(size),
            _ => {}
        }
        self.extensions += 1;
        if self.extensions > self.limits.max_extensions {
            return Err(ChunkedError::ExtensionsTooLong);
        }
        match b {
            b';' => Ok(State::Ext { size, semicolon: true }),
            // BWS before `;`; inside extensions, whitespace and any
            // non-control byte (quoted strings, obs-text).
            b' ' | b'\t' => Ok(State::Ext { size, semicolon }),
            b if semicolon && !b.is_ascii_control() => Ok(State::Ext { size, semicolon }),
            _ => Err(ChunkedError::Syntax),
        }
    }

    /// A size line ended: the chunk of `size` bytes starts, or the trailer
    /// section after the last chunk.
    fn chunk(&mut self, size: u64) -> Result<State, ChunkedError> {
        self.line = 0;
        if size == 0 {
            return Ok(State::TrailerStart);
        }
        self.body = self
            .body
            .checked_add(size)
            .filter(|&n| n <= self.limits.max_body)
            .ok_or(ChunkedError::TooLarge)?;
        Ok(State::Data(size))
    }
}

/// The value of a hex digit.
fn hex(b: u8) -> Option<u8> {
    (b as char).to_digit(16).map(|d| d as u8)
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIMITS: ChunkedLimits =
        ChunkedLimits { max_body: 1024, max_size_line: 64, max_extensions: 128, max_trailers: 256 };

    /// Decodes `input` fed in pieces of `step` bytes: the body and the bytes used.
    fn decode_in(input: &[u8], step: usize, limits: ChunkedLimits) -> Result<(Vec<u8>, usize), ChunkedError> {
        let mut decoder = Decoder::new(limits);
        let (mut body, mut used) = (Vec::new(), 0);
        for piece in input.chunks(step) {
            let n = decoder.decode(piece, &mut body)?;
            used += n;
            if decoder.is_done() {
                assert!(n <= piece.len());
                return Ok((body, used));
            }
            assert_eq!(n, piece.len(), "all used before the end");
        }
        panic!("{input:?} did not end");
    }

    fn decode(input: &[u8]) -> Result<(Vec<u8>, usize), ChunkedError> {
        decode_in(input, input.len().max(1), LIMITS)
    }

    #[test]
    fn bodies() {
        let cases: [(&[u8], &[u8]); 7] = [
            (b"0\r\n\r\n", b""),
            (b"3\r\nabc\r\n0\r\n\r\n", b"abc"),
            (b"3\r\nabc\r\nA\r\n0123456789\r\n0\r\n\r\n", b"abc0123456789"),
            (b"a;x=1;y=\"q; \\\"\"\r\n0123456789\r\n000 ; last\r\n\r\n", b"0123456789"),
            (b"3\r\nabc\r\n0\r\nX-Sum: 1\r\nX-Other:\t2\r\n\r\n", b"abc"),
            (b"3\nabc\n0\nX-Sum: 1\n\n", b"abc"),
            (b"0003\r\nabc\r\n0\r\n\r\n", b"abc"),
        ];
        for (input, body) in cases {
            assert_eq!(
                decode(input),
                Ok((body.to_vec(), input.len())),
                "{:?}",
                String::from_utf8_lossy(input)
            );
        }
    }

    #[test]
    fn every_split_and_byte_by_byte_decode_the_same() {
        let input =
            b"5;ext=\"v\"\r\nhello\r\n1\r\n \r\n6\r\nworld!\r\n0\r\nTrailer: x\r\n\r\nGET / HTTP/1.1\r\n";
        let whole = decode(input).unwrap();
        assert_eq!(whole, (b"hello world!".to_vec(), input.len() - 16));
        assert_eq!(decode_in(input, 1, LIMITS).unwrap(), whole, "byte by byte");
        for split in 0..=input.len() {
            let mut decoder = Decoder::new(LIMITS);
            let mut body = Vec::new();
            let first = decoder.decode(&input[..split], &mut body).unwrap();
            let second =
                if decoder.is_done() { 0 } else { decoder.decode(&input[first..], &mut body).unwrap() };
            assert!(decoder.is_done(), "split at {split}");
            assert_eq!((body, first + second), whole, "split at {split}");
        }
    }

    #[test]
    fn malformed_framing_is_400() {
        let cases: [&[u8]; 14] = [
            b"\r\nabc\r\n0\r\n\r\n",         // empty size
            b";x\r\n0\r\n\r\n",              // empty size before an extension
            b"0x3\r\nabc\r\n0\r\n\r\n",      // not hex
            b"-3\r\nabc\r\n0\r\n\r\n",       // sign
            b" 3\r\nabc\r\n0\r\n\r\n",       // leading whitespace
            b"3 x\r\nabc\r\n0\r\n\r\n",      // junk after the size
            b"3\r\nabcX\r\n0\r\n\r\n",       // no line ending after the data
            b"3\r\nabc\rX0\r\n\r\n",         // bare CR after the data
            b"3\rabc\r\n0\r\n\r\n",          // bare CR after the size
            b"3;a\x00b\r\nabc\r\n0\r\n\r\n", // NUL in an extension
            b"3;a\rb\r\nabc\r\n0\r\n\r\n",   // CR in an extension
            b"0\r\nX: a\rb\r\n\r\n",         // bare CR in a trailer
            b"0\r\nX: a\x00\r\n\r\n",        // NUL in a trailer
            b"0\r\n\rX",                     // CR not ending the empty line
        ];
        for input in cases {
            assert_eq!(decode(input), Err(ChunkedError::Syntax), "{:?}", String::from_utf8_lossy(input));
            assert_eq!(ChunkedError::Syntax.status(), Status::BAD_REQUEST);
        }
    }

    #[test]
    fn sizes_overflowing_u64_are_400_and_beyond_the_limit_413() {
        let big = ChunkedLimits { max_body: u64::MAX, ..LIMITS };
        assert_eq!(decode_in(b"10000000000000000\r\n", 100, big), Err(ChunkedError::SizeOverflow), "2^64");
        assert_eq!(ChunkedError::SizeOverflow.status(), Status::BAD_REQUEST);
        // 2^64 - 1 is a valid size: the limit, not the arithmetic, refuses it.
        assert_eq!(decode(b"ffffffffffffffff\r\n"), Err(ChunkedError::TooLarge));
        assert_eq!(ChunkedError::TooLarge.status(), Status::CONTENT_TOO_LARGE);
        // The limit counts the whole body, and refuses before the data is kept.
        let mut decoder = Decoder::new(LIMITS);
        let mut body = Vec::new();
        let first = format!("200\r\n{}\r\n", "a".repeat(512));
        assert_eq!(decoder.decode(first.as_bytes(), &mut body), Ok(first.len()));
        assert_eq!(decoder.decode(b"200\r\n", &mut body), Ok(5), "exactly 1024");
        assert_eq!(decoder.decode(&[b'b'; 512], &mut body), Ok(512));
        assert_eq!(decoder.decode(b"\r\n1\r\n", &mut body), Err(ChunkedError::TooLarge), "1025");
        assert_eq!(body.len(), 1024, "nothing kept past the limit");
    }

    #[test]
    fn extensions_and_trailers_are_bounded() {
        let long_line = format!("1;{}\r\na\r\n0\r\n\r\n", "x".repeat(63));
        assert_eq!(decode(long_line.as_bytes()), Err(ChunkedError::ExtensionsTooLong), "one line over 64");
        let fits = format!("1;{}\r\na\r\n0\r\n\r\n", "x".repeat(62));
        assert_eq!(decode(fits.as_bytes()), Ok((b"a".to_vec(), fits.len())), "64 exactly");
        let many: String =
            (0..5).map(|_| format!("1;{}\r\na\r\n", "x".repeat(30))).collect::<String>() + "0\r\n\r\n";
        assert_eq!(decode(many.as_bytes()), Err(ChunkedError::ExtensionsTooLong), "160 over the body");
        let zeros = format!("{}1\r\na\r\n0\r\n\r\n", "0".repeat(64));
        assert_eq!(decode(zeros.as_bytes()), Err(ChunkedError::ExtensionsTooLong), "leading zeros count");
        let trailers = format!("0\r\nX: {}\r\n\r\n", "t".repeat(250));
        assert_eq!(decode(trailers.as_bytes()), Err(ChunkedError::TrailersTooLarge));
        assert_eq!(ChunkedError::TrailersTooLarge.status(), Status::REQUEST_HEADER_FIELDS_TOO_LARGE);
    }

    #[test]
    fn an_unfinished_body_is_not_done() {
        for input in [&b"3\r\nab"[..], b"3\r\nabc\r\n", b"0\r\n", b"0\r\nX: 1\r\n", b"0\r\n\r"] {
            let mut decoder = Decoder::new(LIMITS);
            assert_eq!(decoder.decode(input, &mut Vec::new()), Ok(input.len()));
            assert!(!decoder.is_done(), "{input:?}");
        }
    }
}
