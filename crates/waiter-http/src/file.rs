//! Finding the file a request names: `stat`, `open`, `fstat` on the thread
//! pool, and an open-file cache so hot files cost no system call at all.
//!
//! Why the pool: `open` and `stat` block on a cold disk or a network file
//! system, and a blocked loop stalls every connection of its worker. Why the
//! cache (nginx's `open_file_cache`): the second seed's picture of a request
//! is `recv` → `writev` → `sendfile` → `epoll_wait`, with no `open`/`fstat`
//! in it. A hit is trusted for [`REVALIDATE`]; after that the next request
//! looks the file up again, so a changed file is served within a second.
//! Only that one request does: it claims the refresh by restarting the
//! entry's window, so the requests arriving while the pool looks the file up
//! are still served from the cache (at 1,000 connections, every request in
//! flight at the expiry otherwise went to the pool at once, 1,000 `open`s a
//! second and a latency spike with each).
//!
//! Safety rules applied here, on the pool thread, before any `open`:
//! - only regular files are opened: the target is `stat`ed first and opened
//!   `O_NONBLOCK` (a fifo swapped in meanwhile cannot block the open), then
//!   `fstat`ed again and refused unless still a regular file;
//! - unless symlinks may be followed, the canonical path must stay under
//!   the root (403 otherwise), and the `open` itself resolves the path
//!   beneath the root with `openat2(RESOLVE_BENEATH)`, so a symlink swapped
//!   in between the check and the open cannot lead it outside either (on
//!   kernels without `openat2`, before 5.6, that window stays open);
//! - a directory is served through its `index.html`; without a trailing
//!   slash it is a redirect to the slash form; without an index it is 403,
//!   or its listing with `--autoindex` (read here, on the pool thread);
//! - with `--precompressed`, a found file's `.br` and `.gz` siblings are
//!   `stat`ed in the same job, and a sibling asked for later is looked up
//!   and cached like any file, under a key no request path can produce.

use std::cell::RefCell;
use std::collections::HashMap;
use std::fs::{File, Metadata, OpenOptions};
use std::io::{self, Read};
use std::os::fd::AsFd;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::rc::Rc;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use waiter_loop::Loop;

use crate::conditional::{ETag, LastModified};
use crate::config::Config;
use crate::path::CleanPath;
use crate::precompressed::{self, Siblings};
use crate::response::{content_type_for, Encoding, HeaderValue};
use crate::status::{status_for_io_error, Status};

/// How long a cache entry is trusted without looking at the file again:
/// nginx's `open_file_cache_valid` default is 60 s; 1 s keeps edits visible
/// at once to a person reloading a page, for one lookup per second per file.
pub(crate) const REVALIDATE: Duration = Duration::from_secs(1);

/// Entries kept per worker. Past it the cache starts over: simpler than an
/// LRU, and a working set larger than this is not "hot" anyway.
const MAX_ENTRIES: usize = 4096;

/// `O_NONBLOCK` on Linux (x86, ARM, RISC-V; not Alpha, MIPS, PA-RISC or SPARC):
/// this crate takes no libc dependency for one constant.
const O_NONBLOCK: i32 = 0o4000;

/// `EXDEV`, what `openat2(RESOLVE_BENEATH)` says for a path leaving the root (Linux, all architectures).
const EXDEV: i32 = 18;

/// A file ready to serve, with its validators.
#[derive(Debug)]
pub(crate) struct FileInfo {
    /// The bytes: in memory for small files, an open descriptor for large ones.
    pub(crate) body: FileBody,
    /// The size in bytes.
    pub(crate) len: u64,
    /// `ETag` from mtime and size.
    pub(crate) etag: ETag,
    /// `Last-Modified` from mtime.
    pub(crate) modified: LastModified,
    /// `Content-Type` from the file name's extension (the original's, for a
    /// precompressed sibling).
    pub(crate) content_type: HeaderValue,
    /// The name asked for, relative to the root (`dir/index.html` for a directory).
    pub(crate) name: PathBuf,
    /// `Content-Encoding`: `Some` for a precompressed sibling.
    pub(crate) encoding: Option<Encoding>,
    /// The original's siblings: when any, responses carry `Vary: Accept-Encoding`.
    pub(crate) siblings: Siblings,
}

/// Where a file's bytes are.
#[derive(Debug)]
pub(crate) enum FileBody {
    /// The whole file, read once on a miss.
    Memory(Rc<[u8]>),
    /// An open descriptor for `sendfile`, which takes explicit offsets, so
    /// every connection can share it.
    Open(Rc<File>),
}

/// What a lookup found.
#[derive(Debug)]
pub(crate) enum Lookup {
    /// A regular file.
    Found(Rc<FileInfo>),
    /// A directory named without its trailing slash: 301 to the slash form.
    Redirect,
    /// A directory without an index, listed (`--autoindex`): the page. Not
    /// cached: it would be stale as soon as a file is added.
    Listing(Vec<u8>),
    /// 403, 404 or 500 (already logged).
    Error(Status),
}

/// The policy a lookup runs under.
#[derive(Clone, Debug)]
pub(crate) struct Policy {
    pub(crate) root: PathBuf,
    pub(crate) follow_symlinks: bool,
    pub(crate) small_file_limit: u64,
    pub(crate) dotfiles: bool,
    pub(crate) autoindex: bool,
    pub(crate) precompressed: bool,
    /// The root, open, for `openat2` beneath it (`None` if it could not be opened).
    pub(crate) root_dir: Option<Arc<File>>,
}

impl Policy {
    /// The lookup-relevant part of `config`.
    pub(crate) fn new(config: &Config) -> Policy {
        Policy {
            root: config.root().to_path_buf(),
            follow_symlinks: config.follow_symlinks,
            small_file_limit: config.small_file_limit,
            dotfiles: config.dotfiles,
            autoindex: config.autoindex,
            precompressed: config.precompressed,
            root_dir: File::open(config.root()).ok().map(Arc::new),
        }
    }
}

/// What a pool thread sends back (`Send`, unlike [`FileInfo`]).
enum Opened {
    Memory(Vec<u8>, Metadata, PathBuf, Siblings),
    Open(File, Metadata, PathBuf, Siblings),
    Redirect,
    Listing(Vec<u8>),
    Error(Status),
}

/// One worker's open-file cache, keyed by the normalised request path.
#[derive(Debug, Default)]
pub(crate) struct FileCache {
    entries: RefCell<HashMap<String, (Rc<FileInfo>, Instant)>>,
}

impl FileCache {
    /// The cached entry for `path` if it is still fresh at `now` (the loop's
    /// time): the hot path, with no allocation and no clock read. `None`
    /// means "call [`lookup`](FileCache::lookup)" (and, for an expired entry,
    /// that this caller has claimed its refresh: see the module notes).
    pub(crate) fn hit(&self, path: &CleanPath, now: Instant) -> Option<Rc<FileInfo>> {
        if path.trailing_slash() {
            return None; // keyed with its slash: left to `lookup`
        }
        self.fresh(path.as_str(), now)
    }

    /// The entry for `key` (a [`CleanPath::as_str`] without a trailing
    /// slash) if it is fresh at `now`; unlike [`hit`](FileCache::hit), an
    /// expired entry is left alone (the caller then goes on to `hit`, which
    /// claims its refresh). For answering a request without a future.
    pub(crate) fn peek(&self, key: &str, now: Instant) -> Option<Rc<FileInfo>> {
        let entries = self.entries.borrow();
        let (info, checked) = entries.get(key)?;
        (now.saturating_duration_since(*checked) < REVALIDATE).then(|| info.clone())
    }

    /// Looks `path` up on the thread pool, after [`hit`](FileCache::hit)
    /// found no fresh entry for it.
    ///
    /// # Errors
    ///
    /// The pool failing to take the job (a failed `open` is a [`Lookup::Error`]).
    pub(crate) async fn lookup(&self, lp: &Loop, policy: &Policy, path: &CleanPath) -> io::Result<Lookup> {
        let key =
            if path.trailing_slash() { format!("{}/", path.as_str()) } else { path.as_str().to_owned() };
        if path.trailing_slash() {
            if let Some(info) = self.fresh(&key, lp.now()) {
                return Ok(Lookup::Found(info));
            }
        }
        let (policy, rel, dir_form) = (policy.clone(), path.to_path_buf(), path.trailing_slash());
        let opened = lp.spawn_blocking(move || open(&policy, &rel, dir_form, true))?.await?;
        Ok(self.store(key, opened, None))
    }

    /// Looks up `original`'s precompressed sibling for `encoding` like any
    /// file; `None` when it is no longer a regular file.
    ///
    /// # Errors
    ///
    /// The pool failing to take the job.
    pub(crate) async fn lookup_encoded(
        &self,
        lp: &Loop,
        policy: &Policy,
        original: &FileInfo,
        encoding: Encoding,
    ) -> io::Result<Option<Rc<FileInfo>>> {
        // NUL never survives path resolution, so no request path is this key.
        let key = format!("{}\0{}", original.name.display(), encoding.as_str());
        if let Some(info) = self.fresh(&key, lp.now()) {
            return Ok(Some(info));
        }
        let mut rel = original.name.clone().into_os_string();
        rel.push(".");
        rel.push(precompressed::extension(encoding));
        let policy = policy.clone();
        let opened = lp.spawn_blocking(move || open(&policy, Path::new(&rel), false, false))?.await?;
        Ok(match self.store(key, opened, Some((original, encoding))) {
            Lookup::Found(info) => Some(info),
            _ => None,
        })
    }

    /// A cached entry still inside its [`REVALIDATE`] window. An expired one
    /// gets a new window, which claims its refresh for the caller (who gets
    /// `None` and looks the file up) while later callers keep being served
    /// from the cache until the refresh lands (or, if it is abandoned, until
    /// the new window ends).
    fn fresh(&self, key: &str, now: Instant) -> Option<Rc<FileInfo>> {
        let mut entries = self.entries.borrow_mut();
        let (info, checked) = entries.get_mut(key)?;
        if now.saturating_duration_since(*checked) < REVALIDATE {
            return Some(info.clone());
        }
        *checked = now;
        None
    }

    /// Turns what the pool thread found into a [`Lookup`], caching files
    /// under `key`. For a precompressed sibling, `variant` names the original
    /// it stands for and its coding.
    fn store(&self, key: String, opened: Opened, variant: Option<(&FileInfo, Encoding)>) -> Lookup {
        let (body, meta, name, siblings) = match opened {
            Opened::Memory(bytes, meta, name, siblings) => {
                (FileBody::Memory(bytes.into()), meta, name, siblings)
            }
            Opened::Open(file, meta, name, siblings) => (FileBody::Open(Rc::new(file)), meta, name, siblings),
            // No longer a file (now a directory, or a directory whose index
            // is gone): what the cache held for the name must go, or every
            // request but the one refresh a second would still be served it.
            Opened::Redirect => {
                self.entries.borrow_mut().remove(&key);
                return Lookup::Redirect;
            }
            Opened::Listing(page) => {
                self.entries.borrow_mut().remove(&key);
                return Lookup::Listing(page);
            }
            Opened::Error(status) => {
                let mut entries = self.entries.borrow_mut();
                if status == Status::SERVICE_UNAVAILABLE {
                    // Out of descriptors or memory for the re-check: what the
                    // cache holds is the best answer there is (nginx's
                    // open_file_cache keeps serving too); the next request
                    // re-checks again.
                    if let Some((info, _)) = entries.get(&key) {
                        return Lookup::Found(info.clone());
                    }
                } else {
                    entries.remove(&key);
                }
                return Lookup::Error(status);
            }
        };
        let mtime = meta.modified().unwrap_or(SystemTime::UNIX_EPOCH);
        let info = Rc::new(match variant {
            None => FileInfo {
                body,
                len: meta.len(),
                etag: ETag::for_file(mtime, meta.len()),
                modified: LastModified::new(mtime),
                content_type: content_type_for(&name),
                name,
                encoding: None,
                siblings,
            },
            Some((original, encoding)) => FileInfo {
                body,
                len: meta.len(),
                etag: ETag::for_encoded_file(mtime, meta.len(), encoding.as_str()),
                modified: LastModified::new(mtime),
                content_type: original.content_type.clone(),
                name: original.name.clone(),
                encoding: Some(encoding),
                siblings: original.siblings,
            },
        });
        self.insert(key, info.clone());
        Lookup::Found(info)
    }

    fn insert(&self, key: String, info: Rc<FileInfo>) {
        let mut entries = self.entries.borrow_mut();
        if entries.len() >= MAX_ENTRIES {
            entries.clear();
        }
        entries.insert(key, (info, Instant::now()));
    }
}

/// The blocking half, on a pool thread: see the module notes for the rules.
/// `probe`: also look for precompressed siblings (not for a sibling itself).
fn open(policy: &Policy, rel: &Path, dir_form: bool, probe: bool) -> Opened {
    match try_open(policy, rel, dir_form, probe) {
        Ok(opened) => opened,
        Err(e) => {
            let status = status_for_io_error(&e);
            if status == Status::INTERNAL_SERVER_ERROR {
                eprintln!("waiter: open {}: {e}", policy.root.join(rel).display());
            }
            Opened::Error(status)
        }
    }
}

fn try_open(policy: &Policy, rel: &Path, dir_form: bool, probe: bool) -> io::Result<Opened> {
    // The type comes from the name asked for, as in nginx, not a symlink's target.
    let mut name = rel.to_path_buf();
    let mut target = checked(policy, policy.root.join(rel))?;
    let mut meta = std::fs::metadata(&target)?;
    if meta.is_dir() {
        if !dir_form {
            return Ok(Opened::Redirect);
        }
        name.push("index.html");
        // A directory without an index is 403, as nginx answers without autoindex.
        let unindexed = || match policy.autoindex {
            true => crate::autoindex::read(policy, &target, rel).map(Opened::Listing),
            false => Ok(Opened::Error(Status::FORBIDDEN)),
        };
        match checked(policy, target.join("index.html")).and_then(|t| Ok((std::fs::metadata(&t)?, t))) {
            Ok((index_meta, index)) if !index_meta.is_dir() => (meta, target) = (index_meta, index),
            Ok(_) => return unindexed(),
            Err(e) if e.kind() == io::ErrorKind::NotFound => return unindexed(),
            Err(e) => return Err(e),
        }
    } else if dir_form {
        // `a.txt/` names a directory and a file is not one: 404, as nginx
        // (whose open fails with ENOTDIR), not the file under a second URL.
        return Ok(Opened::Error(Status::NOT_FOUND));
    }
    if !meta.is_file() {
        return Ok(Opened::Error(Status::NOT_FOUND));
    }
    let mut file = open_file(policy, &target)?;
    let meta = file.metadata()?;
    if !meta.is_file() {
        return Ok(Opened::Error(Status::NOT_FOUND));
    }
    let siblings = if probe && policy.precompressed { siblings(policy, &name) } else { Siblings::default() };
    if meta.len() > policy.small_file_limit {
        return Ok(Opened::Open(file, meta, name, siblings));
    }
    let mut bytes = Vec::with_capacity(meta.len() as usize);
    // `take`: a file growing meanwhile must not outgrow what `len` announces.
    (&mut file).take(meta.len()).read_to_end(&mut bytes)?;
    if bytes.len() as u64 != meta.len() {
        // It shrank between `fstat` and `read`: serve it next time, not torn now.
        return Err(io::Error::other(format!("{} changed while being read", target.display())));
    }
    Ok(Opened::Memory(bytes, meta, name, siblings))
}

/// Which of `name.br` and `name.gz` are regular files that may be served.
fn siblings(policy: &Policy, name: &Path) -> Siblings {
    let exists = |encoding| {
        let mut path = policy.root.join(name).into_os_string();
        path.push(".");
        path.push(precompressed::extension(encoding));
        checked(policy, PathBuf::from(path)).and_then(std::fs::metadata).is_ok_and(|m| m.is_file())
    };
    Siblings { brotli: exists(Encoding::Brotli), gzip: exists(Encoding::Gzip) }
}

/// Opens `target` (checked, under the root) for reading, without blocking
/// on a fifo. Unless symlinks may be followed, the kernel resolves it beneath
/// the root (`openat2`): a symlink swapped in since [`checked`] looked cannot
/// lead the open outside (403). Without `openat2` the checked path is opened.
fn open_file(policy: &Policy, target: &Path) -> io::Result<File> {
    if let (false, Some(root), Ok(rel)) =
        (policy.follow_symlinks, &policy.root_dir, target.strip_prefix(&policy.root))
    {
        match waiter_loop::open_beneath(root.as_fd(), rel) {
            Err(e) if e.kind() == io::ErrorKind::Unsupported => {}
            Err(e) if e.raw_os_error() == Some(EXDEV) => {
                return Err(io::Error::new(io::ErrorKind::PermissionDenied, "symlink leads outside the root"))
            }
            other => return other,
        }
    }
    OpenOptions::new().read(true).custom_flags(O_NONBLOCK).open(target)
}

/// `path`, or 403 (`PermissionDenied`) when it leads outside the root
/// through a symlink and symlinks may not be followed.
fn checked(policy: &Policy, path: PathBuf) -> io::Result<PathBuf> {
    if policy.follow_symlinks {
        return Ok(path);
    }
    let real = std::fs::canonicalize(&path)?;
    if real.starts_with(&policy.root) {
        Ok(real)
    } else {
        Err(io::Error::new(io::ErrorKind::PermissionDenied, "symlink leads outside the root"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Caches `/a.txt` (the crate manifest's metadata stands in for it) and returns its path.
    fn cached(cache: &FileCache) -> CleanPath {
        let meta = std::fs::metadata(concat!(env!("CARGO_MANIFEST_DIR"), "/Cargo.toml")).unwrap();
        let opened = Opened::Memory(b"a".to_vec(), meta, PathBuf::from("a.txt"), Siblings::default());
        assert!(matches!(cache.store("a.txt".to_owned(), opened, None), Lookup::Found(_)));
        crate::path::resolve("/a.txt").unwrap()
    }

    #[test]
    fn an_expired_entry_is_refreshed_by_one_request_while_the_others_are_served() {
        let cache = FileCache::default();
        let path = cached(&cache);
        let now = Instant::now();
        assert!(cache.hit(&path, now).is_some(), "fresh");
        let later = now + REVALIDATE + Duration::from_millis(1);
        assert!(cache.hit(&path, later).is_none(), "the first request after expiry looks the file up");
        for _ in 0..1000 {
            assert!(cache.hit(&path, later).is_some(), "the requests meanwhile are served from the cache");
        }
        let abandoned = later + REVALIDATE;
        assert!(cache.hit(&path, abandoned).is_none(), "a refresh that never lands is claimed again");
    }
}
