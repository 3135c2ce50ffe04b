//! HTTP/1.1 response framing for `waiter load`, sans-I/O: bytes in, "one
//! response complete" out.
//!
//! The load generator needs to know where each response ends (to send the
//! next request on the keep-alive connection), its status, how many body
//! bytes it carried, and whether the server will close the connection. The
//! head is parsed with httparse; the body is framed as RFC 9112 §6.3 says:
//! no body for 1xx, 204 and 304; `Transfer-Encoding: chunked` decoded by a
//! small state machine; else `Content-Length`; else the body runs until the
//! server closes. Interim 1xx responses are skipped.

use std::fmt;

/// Most header lines a response head may have.
const MAX_HEADERS: usize = 64;

/// Largest response head accepted (nginx's default for request heads is 8 KiB;
/// servers send far smaller ones).
const MAX_HEAD: usize = 64 * 1024;

/// Largest chunk-size line or trailer line (hex digits plus extensions).
const MAX_LINE: usize = 4096;

/// One complete response.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Response {
    /// The status code of the final (non-1xx) response.
    pub status: u16,
    /// Body bytes after de-chunking.
    pub body_len: u64,
    /// The server will close the connection after it (`Connection: close`,
    /// HTTP/1.0 without keep-alive, or a body delimited by the close).
    pub close: bool,
}

/// Why a byte stream is not a well-framed response.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ParseError {
    /// The head does not parse (httparse's verdict).
    Head(httparse::Error),
    /// The head is longer than 64 KiB.
    HeadTooLarge,
    /// A `Content-Length` that is not a number, or two that differ.
    ContentLength,
    /// A malformed chunk-size line, chunk terminator or trailer.
    Chunk,
    /// `101 Switching Protocols`, which a load generator cannot follow.
    Upgrade,
    /// The connection closed before any byte of the response.
    ClosedBeforeResponse,
    /// The connection closed in the middle of the response.
    Truncated,
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ParseError::Head(e) => write!(f, "malformed response head: {e}"),
            ParseError::HeadTooLarge => write!(f, "response head larger than {MAX_HEAD} bytes"),
            ParseError::ContentLength => write!(f, "invalid Content-Length"),
            ParseError::Chunk => write!(f, "malformed chunked body"),
            ParseError::Upgrade => write!(f, "101 Switching Protocols is not supported"),
            ParseError::ClosedBeforeResponse => write!(f, "connection closed before the response"),
            ParseError::Truncated => write!(f, "connection closed in the middle of the response"),
        }
    }
}

impl std::error::Error for ParseError {}

/// Where in the chunked body the parser is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Chunk {
    /// The chunk-size line: `size` so far from `digits` hex digits, `line`
    /// bytes of it seen, and whether the digits have ended (an extension,
    /// whitespace or the CR follows).
    Size { size: u64, line: usize, digits: usize, digits_done: bool },
    /// `left` bytes of chunk data remain.
    Data { left: u64 },
    /// The CRLF after a chunk's data: `seen` of its two bytes.
    DataEnd { seen: u8 },
    /// Trailer lines after the last chunk: `line` bytes of the current one.
    Trailer { line: usize },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    Head,
    Length { left: u64 },
    Chunked(Chunk),
    UntilClose,
}

/// An incremental response parser for one connection; reusable after each response.
#[derive(Debug)]
pub struct ResponseParser {
    state: State,
    /// A head split across reads, kept until it is whole.
    /// INVARIANT: empty unless `state == State::Head`.
    head: Vec<u8>,
    status: u16,
    close: bool,
    body_len: u64,
}

impl Default for ResponseParser {
    fn default() -> ResponseParser {
        ResponseParser::new()
    }
}

impl ResponseParser {
    /// A parser waiting for a response head.
    pub fn new() -> ResponseParser {
        ResponseParser { state: State::Head, head: Vec::new(), status: 0, close: false, body_len: 0 }
    }

    /// Feeds `data`; returns how many bytes belong to the current response
    /// and, once it is complete, the response (the parser is then ready for
    /// the next one, and the remaining bytes belong to it).
    ///
    /// # Errors
    ///
    /// A [`ParseError`] for bytes that are not a well-framed response; the
    /// connection cannot be used further.
    pub fn feed(&mut self, data: &[u8]) -> Result<(usize, Option<Response>), ParseError> {
        let mut used = 0;
        loop {
            let rest = &data[used..];
            match self.state {
                State::Head => match self.parse_head(rest)? {
                    Some(n) => used += n,
                    None => return Ok((data.len(), None)),
                },
                State::Length { left } => {
                    let n = left.min(rest.len() as u64);
                    used += n as usize;
                    self.body_len += n;
                    if n == left {
                        return Ok((used, Some(self.finish())));
                    }
                    self.state = State::Length { left: left - n };
                    return Ok((used, None));
                }
                State::UntilClose => {
                    self.body_len += rest.len() as u64;
                    return Ok((data.len(), None));
                }
                State::Chunked(chunk) => {
                    if rest.is_empty() {
                        return Ok((used, None));
                    }
                    let (n, next) = self.step_chunk(chunk, rest)?;
                    used += n;
                    match next {
                        Some(chunk) => self.state = State::Chunked(chunk),
                        None => return Ok((used, Some(self.finish()))),
                    }
                }
            }
        }
    }

    /// The connection reached end-of-stream: completes a response whose body
    /// runs until the close.
    ///
    /// # Errors
    ///
    /// [`ParseError::ClosedBeforeResponse`] when no byte of a response had
    /// arrived, [`ParseError::Truncated`] when part of one had.
    pub fn eof(&mut self) -> Result<Response, ParseError> {
        match self.state {
            State::UntilClose => Ok(self.finish()),
            State::Head if self.head.is_empty() => Err(ParseError::ClosedBeforeResponse),
            _ => Err(ParseError::Truncated),
        }
    }

    fn finish(&mut self) -> Response {
        let response = Response { status: self.status, body_len: self.body_len, close: self.close };
        self.state = State::Head;
        self.status = 0;
        self.close = false;
        self.body_len = 0;
        response
    }

    /// Parses a head from the kept bytes plus `rest`. Returns how many bytes
    /// of `rest` it used once the head is whole (the state then moves on to
    /// the body), or `None` after keeping all of `rest` for later.
    fn parse_head(&mut self, rest: &[u8]) -> Result<Option<usize>, ParseError> {
        let kept = self.head.len();
        let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
        let mut parsed = httparse::Response::new(&mut headers);
        // The usual case, a head within one read, parses in place without a copy.
        let status = if kept == 0 {
            parsed.parse(rest)
        } else {
            self.head.extend_from_slice(rest);
            parsed.parse(&self.head)
        };
        let head_len = match status.map_err(ParseError::Head)? {
            httparse::Status::Complete(n) => n,
            httparse::Status::Partial => {
                if kept == 0 {
                    self.head.extend_from_slice(rest);
                }
                if self.head.len() > MAX_HEAD {
                    return Err(ParseError::HeadTooLarge);
                }
                return Ok(None);
            }
        };
        let code = parsed.code.unwrap_or(0);
        let framing = Framing::of(&parsed)?;
        self.head.clear();
        let used = head_len - kept;
        match code {
            101 => return Err(ParseError::Upgrade),
            // An interim response: the final one follows.
            100..=199 => return Ok(Some(used)),
            _ => {}
        }
        self.status = code;
        self.close = framing.close;
        self.body_len = 0;
        self.state = if code == 204 || code == 304 {
            State::Length { left: 0 }
        } else if framing.chunked {
            State::Chunked(Chunk::Size { size: 0, line: 0, digits: 0, digits_done: false })
        } else if let Some(len) = framing.content_length {
            State::Length { left: len }
        } else {
            self.close = true;
            State::UntilClose
        };
        Ok(Some(used))
    }

    /// Advances the chunked-body state machine over `data` (not empty).
    /// Returns the bytes used and the next state, or `None` at the body's end.
    fn step_chunk(&mut self, chunk: Chunk, data: &[u8]) -> Result<(usize, Option<Chunk>), ParseError> {
        match chunk {
            Chunk::Size { mut size, mut line, mut digits, mut digits_done } => {
                for (i, &b) in data.iter().enumerate() {
                    line += 1;
                    if line > MAX_LINE {
                        return Err(ParseError::Chunk);
                    }
                    if b == b'\n' {
                        if digits == 0 {
                            return Err(ParseError::Chunk);
                        }
                        let next =
                            if size == 0 { Chunk::Trailer { line: 0 } } else { Chunk::Data { left: size } };
                        return Ok((i + 1, Some(next)));
                    }
                    if digits_done {
                        continue;
                    }
                    match (b as char).to_digit(16) {
                        Some(d) => {
                            digits += 1;
                            size = size
                                .checked_mul(16)
                                .and_then(|s| s.checked_add(u64::from(d)))
                                .ok_or(ParseError::Chunk)?;
                        }
                        None if matches!(b, b';' | b' ' | b'\t' | b'\r') => digits_done = true,
                        None => return Err(ParseError::Chunk),
                    }
                }
                Ok((data.len(), Some(Chunk::Size { size, line, digits, digits_done })))
            }
            Chunk::Data { left } => {
                let n = left.min(data.len() as u64);
                self.body_len += n;
                let next =
                    if n == left { Chunk::DataEnd { seen: 0 } } else { Chunk::Data { left: left - n } };
                Ok((n as usize, Some(next)))
            }
            Chunk::DataEnd { seen } => {
                let expected: &[u8] = if seen == 0 { b"\r\n" } else { b"\n" };
                let n = expected.len().min(data.len());
                if data[..n] != expected[..n] {
                    return Err(ParseError::Chunk);
                }
                let seen = seen + n as u8;
                let next = if seen == 2 {
                    Chunk::Size { size: 0, line: 0, digits: 0, digits_done: false }
                } else {
                    Chunk::DataEnd { seen }
                };
                Ok((n, Some(next)))
            }
            Chunk::Trailer { mut line } => {
                for (i, &b) in data.iter().enumerate() {
                    line += 1;
                    if line > MAX_LINE {
                        return Err(ParseError::Chunk);
                    }
                    if b == b'\n' {
                        // An empty line ("\r\n", or a bare "\n") ends the trailers and the body.
                        if line <= 2 {
                            return Ok((i + 1, None));
                        }
                        line = 0;
                    }
                }
                Ok((data.len(), Some(Chunk::Trailer { line })))
            }
        }
    }
}

/// What a head's headers say about the body and the connection.
struct Framing {
    content_length: Option<u64>,
    chunked: bool,
    close: bool,
}

impl Framing {
    fn of(head: &httparse::Response<'_, '_>) -> Result<Framing, ParseError> {
        let mut framing = Framing { content_length: None, chunked: false, close: false };
        let mut keep_alive = false;
        for h in head.headers.iter() {
            if h.name.eq_ignore_ascii_case("content-length") {
                let text = std::str::from_utf8(h.value).map_err(|_| ParseError::ContentLength)?.trim();
                if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
                    return Err(ParseError::ContentLength);
                }
                let len: u64 = text.parse().map_err(|_| ParseError::ContentLength)?;
                if framing.content_length.is_some_and(|l| l != len) {
                    return Err(ParseError::ContentLength);
                }
                framing.content_length = Some(len);
            } else if h.name.eq_ignore_ascii_case("transfer-encoding") {
                // Chunked counts only as the final coding.
                let last = h.value.rsplit(|&b| b == b',').next().unwrap_or_default();
                framing.chunked = last.trim_ascii().eq_ignore_ascii_case(b"chunked");
            } else if h.name.eq_ignore_ascii_case("connection") {
                for token in h.value.split(|&b| b == b',').map(<[u8]>::trim_ascii) {
                    framing.close |= token.eq_ignore_ascii_case(b"close");
                    keep_alive |= token.eq_ignore_ascii_case(b"keep-alive");
                }
            }
        }
        if head.version == Some(0) && !keep_alive {
            framing.close = true;
        }
        Ok(framing)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Feeds `input` split at `at`, then (if given) end-of-stream; returns
    /// the responses seen and the total bytes used.
    fn run(input: &[u8], at: usize, eof: bool) -> Result<Vec<Response>, ParseError> {
        let mut parser = ResponseParser::new();
        let mut out = Vec::new();
        for mut piece in [&input[..at], &input[at..]] {
            while !piece.is_empty() {
                let (n, done) = parser.feed(piece)?;
                piece = &piece[n..];
                out.extend(done);
            }
        }
        if eof {
            out.push(parser.eof()?);
        }
        Ok(out)
    }

    fn every_split(input: &[u8], eof: bool) -> Vec<Response> {
        let whole = run(input, 0, eof).unwrap();
        for at in 1..input.len() {
            assert_eq!(run(input, at, eof).unwrap(), whole, "split at {at}");
        }
        whole
    }

    #[test]
    fn content_length_keep_alive() {
        let two = b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhelloHTTP/1.1 404 Not Found\r\ncontent-length: 0\r\n\r\n";
        let got = every_split(two, false);
        assert_eq!(
            got,
            [
                Response { status: 200, body_len: 5, close: false },
                Response { status: 404, body_len: 0, close: false }
            ]
        );
    }

    #[test]
    fn chunked_with_extensions_and_trailers() {
        let body = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\nConnection: close\r\n\r\n\
                     5;name=value\r\nhello\r\nA\r\n0123456789\r\n0\r\nX-Trailer: yes\r\n\r\n";
        assert_eq!(every_split(body, false), [Response { status: 200, body_len: 15, close: true }]);
    }

    #[test]
    fn body_until_close_and_http_1_0() {
        let body = b"HTTP/1.1 200 OK\r\n\r\nall of it";
        assert_eq!(every_split(body, true), [Response { status: 200, body_len: 9, close: true }]);
        let old = b"HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nhi";
        assert_eq!(every_split(old, false), [Response { status: 200, body_len: 2, close: true }]);
        let kept = b"HTTP/1.0 200 OK\r\nConnection: Keep-Alive\r\nContent-Length: 2\r\n\r\nhi";
        assert_eq!(every_split(kept, false), [Response { status: 200, body_len: 2, close: false }]);
    }

    #[test]
    fn interim_and_bodiless_statuses() {
        let body = b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 304 Not Modified\r\nContent-Length: 99\r\n\r\n\
                     HTTP/1.1 204 No Content\r\n\r\n";
        assert_eq!(
            every_split(body, false),
            [
                Response { status: 304, body_len: 0, close: false },
                Response { status: 204, body_len: 0, close: false }
            ]
        );
    }

    #[test]
    fn bad_input_is_an_error() {
        let cases: [(&[u8], ParseError); 6] = [
            (b"HTTP/1.1 200 OK\r\nContent-Length: x\r\n\r\n", ParseError::ContentLength),
            (b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n", ParseError::ContentLength),
            (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", ParseError::Chunk),
            (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1\r\nabc", ParseError::Chunk),
            (b"HTTP/1.1 101 Switching Protocols\r\n\r\n", ParseError::Upgrade),
            (
                b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nFFFFFFFFFFFFFFFFF\r\n",
                ParseError::Chunk,
            ),
        ];
        for (input, want) in cases {
            assert_eq!(run(input, 0, false), Err(want), "{:?}", String::from_utf8_lossy(input));
        }
        assert!(matches!(run(b"SSH-2.0\r\n\r\n", 0, false), Err(ParseError::Head(_))));
    }

    #[test]
    fn end_of_stream_mid_response() {
        assert_eq!(ResponseParser::new().eof(), Err(ParseError::ClosedBeforeResponse));
        assert_eq!(run(b"HTTP/1.1 200 OK\r\n", 5, true), Err(ParseError::Truncated));
        assert_eq!(
            run(b"HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\nabc", 5, true),
            Err(ParseError::Truncated)
        );
    }

    #[test]
    fn oversized_head_is_refused() {
        let mut parser = ResponseParser::new();
        let line = [b'a'; 1024];
        let mut result = parser.feed(b"HTTP/1.1 200 OK\r\nX: ");
        for _ in 0..70 {
            result = parser.feed(&line);
        }
        assert_eq!(result, Err(ParseError::HeadTooLarge));
    }
}
