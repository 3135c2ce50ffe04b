//! Status codes, their reason phrases, and the one mapping from `io::Error`.

use std::fmt;
use std::io;

/// An HTTP status code (100–599) with its reason phrase.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Status(u16);

macro_rules! statuses {
    ($($name:ident = $code:literal, $reason:literal;)*) => {
        impl Status {
            $(#[doc = concat!("`", stringify!($code), " ", $reason, "`")]
              pub const $name: Status = Status($code);)*

            /// The reason phrase sent on the status line ("Not Found"), or "" for codes
            /// this crate has no name for (a reason phrase may be empty, RFC 9112 §4).
            pub fn reason(self) -> &'static str {
                match self.0 {
                    $($code => $reason,)*
                    _ => "",
                }
            }
        }
    };
}

statuses! {
    OK = 200, "OK";
    CREATED = 201, "Created";
    NO_CONTENT = 204, "No Content";
    PARTIAL_CONTENT = 206, "Partial Content";
    MOVED_PERMANENTLY = 301, "Moved Permanently";
    FOUND = 302, "Found";
    NOT_MODIFIED = 304, "Not Modified";
    TEMPORARY_REDIRECT = 307, "Temporary Redirect";
    PERMANENT_REDIRECT = 308, "Permanent Redirect";
    BAD_REQUEST = 400, "Bad Request";
    FORBIDDEN = 403, "Forbidden";
    NOT_FOUND = 404, "Not Found";
    METHOD_NOT_ALLOWED = 405, "Method Not Allowed";
    REQUEST_TIMEOUT = 408, "Request Timeout";
    LENGTH_REQUIRED = 411, "Length Required";
    PRECONDITION_FAILED = 412, "Precondition Failed";
    CONTENT_TOO_LARGE = 413, "Content Too Large";
    URI_TOO_LONG = 414, "URI Too Long";
    RANGE_NOT_SATISFIABLE = 416, "Range Not Satisfiable";
    EXPECTATION_FAILED = 417, "Expectation Failed";
    REQUEST_HEADER_FIELDS_TOO_LARGE = 431, "Request Header Fields Too Large";
    INTERNAL_SERVER_ERROR = 500, "Internal Server Error";
    NOT_IMPLEMENTED = 501, "Not Implemented";
    SERVICE_UNAVAILABLE = 503, "Service Unavailable";
    HTTP_VERSION_NOT_SUPPORTED = 505, "HTTP Version Not Supported";
}

impl Status {
    /// The status for `code`, or `None` outside 100–599.
    pub fn new(code: u16) -> Option<Status> {
        (100..=599).contains(&code).then_some(Status(code))
    }

    /// The three-digit code.
    pub fn code(self) -> u16 {
        self.0
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.0, self.reason())
    }
}

/// The status for a failed `open`/`stat`, as nginx's static handler chooses it.
///
/// Missing (`ENOENT`), a file used as a directory (`ENOTDIR`) and names too long
/// (`ENAMETOOLONG`) are 404; no permission (`EACCES`, `EPERM`) and a refused
/// symlink (`ELOOP`/`EMLINK` from `O_NOFOLLOW`) are 403; running out of
/// descriptors or memory (`EMFILE`, `ENFILE`, `ENOMEM`) is a temporary 503;
/// anything else is a 500, which the caller logs. The only place an
/// `io::Error` becomes a status.
pub fn status_for_io_error(err: &io::Error) -> Status {
    // Linux errno values, named: std has no stable `ErrorKind` for these at our
    // MSRV (1.80), and this crate takes no libc dependency for a few constants.
    #[cfg(target_os = "linux")]
    match err.raw_os_error() {
        Some(20 /* ENOTDIR */ | 36 /* ENAMETOOLONG */) => return Status::NOT_FOUND,
        Some(31 /* EMLINK */ | 40 /* ELOOP */) => return Status::FORBIDDEN,
        Some(12 /* ENOMEM */ | 23 /* ENFILE */ | 24 /* EMFILE */) => return Status::SERVICE_UNAVAILABLE,
        _ => {}
    }
    match err.kind() {
        io::ErrorKind::NotFound => Status::NOT_FOUND,
        io::ErrorKind::PermissionDenied => Status::FORBIDDEN,
        _ => Status::INTERNAL_SERVER_ERROR,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_named_status_has_a_reason() {
        for code in 100..=599 {
            let status = Status::new(code).unwrap();
            assert_eq!(status.code(), code, "{code}");
            assert!(status.reason().bytes().all(|b| b == b' ' || b.is_ascii_alphabetic()), "{code}");
        }
    }
}
