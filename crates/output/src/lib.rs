//! Output files that never destroy data. Every file ptbench writes (results, traces, reports) is
//! opened through [`Output::create`], which decides how to write it from what the path names:
//!
//! - `-` is standard output.
//! - An existing character device, FIFO or socket (`/dev/null`, `/dev/stdout`, a named pipe) is
//!   written straight to: it is never replaced by a regular file.
//! - A regular file (new or existing) is written atomically: to a hidden `.ptbench-*.tmp` beside
//!   it, synced, then renamed over it, keeping the replaced file's permission bits (and owner,
//!   where the process may set it). A symbolic link is followed: its final target is replaced and
//!   the link stays a link.
//!
//! Refused, with an error naming the flag and the path: a path that is also an input of the
//! command (same device and inode, through any link); an existing non-empty regular file that the
//! caller does not recognise as one ptbench could have written, unless forced; a directory; a
//! block device, unless forced; a target whose file system has less free space than the caller
//! expects to write.
//!
//! Unfinished temporary files are listed in a process-wide registry: [`remove_temporaries`]
//! deletes them, and [`clean_up_on_signals`] does so when SIGINT, SIGTERM or SIGHUP arrives,
//! before the process dies of that signal.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::{Mutex, RwLock};
use thiserror::Error;

/// Why an output could not be opened or finished.
#[derive(Debug, Error)]
pub enum OutputError {
    /// The output is also one of the command's inputs.
    #[error("{flag} {}: this is also an input of the command; refusing to write over it{hint}", path.display())]
    IsInput {
        /// How the command line named the output (`--csv`, `-o`).
        flag: String,
        /// The output path.
        path: PathBuf,
        /// A hint on what probably happened.
        hint: String,
    },
    /// An existing file that ptbench did not write.
    #[error("{flag} {}: the file exists and does not look like {kind} ptbench writes; refusing to replace it (--force replaces it anyway)", path.display())]
    Foreign {
        /// How the command line named the output.
        flag: String,
        /// The output path.
        path: PathBuf,
        /// What the output should be (`a CSV file`, `a trace`).
        kind: String,
    },
    /// The path names a directory.
    #[error("{flag} {}: that is a directory; give the name of a file (for example {})", path.display(), example.display())]
    Directory {
        /// How the command line named the output.
        flag: String,
        /// The output path.
        path: PathBuf,
        /// A file name the user may have meant.
        example: PathBuf,
    },
    /// The directory the file would go in does not exist.
    #[error("{flag} {}: the directory {} does not exist", path.display(), dir.display())]
    NoDirectory {
        /// How the command line named the output.
        flag: String,
        /// The output path.
        path: PathBuf,
        /// The missing directory.
        dir: PathBuf,
    },
    /// A block device, not forced.
    #[error("{flag} {}: that is a block device; refusing to write to it (--force writes to it anyway)", path.display())]
    BlockDevice {
        /// How the command line named the output.
        flag: String,
        /// The output path.
        path: PathBuf,
    },
    /// Not enough free space for what the caller expects to write.
    #[error("{flag} {}: the output needs about {} but its file system has {} free; free some space or write elsewhere", path.display(), human(*need), human(*free))]
    NoSpace {
        /// How the command line named the output.
        flag: String,
        /// The output path.
        path: PathBuf,
        /// Bytes expected.
        need: u64,
        /// Bytes free.
        free: u64,
    },
    /// Another process holds the directory's lock ([`DirLock`]).
    #[error("{flag} {}: another ptbench is writing there ({holder}); wait for it to finish, or choose another {flag}", dir.display())]
    Busy {
        /// How the command line named the directory.
        flag: String,
        /// The directory.
        dir: PathBuf,
        /// Who holds it: pid, command and since when, as its lock file says.
        holder: String,
    },
    /// An I/O error.
    #[error("cannot write {}: {error}", path.display())]
    Io {
        /// The output path.
        path: PathBuf,
        /// What failed.
        error: io::Error,
    },
}

impl OutputError {
    /// The I/O error kind, for errors that carry one.
    pub fn io_kind(&self) -> Option<io::ErrorKind> {
        match self {
            OutputError::Io { error, .. } => Some(error.kind()),
            _ => None,
        }
    }
}

/// `1.5 GiB`, `512 KiB`, `12 B`.
pub fn human(bytes: u64) -> String {
    const UNITS: [&str; 6] = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"];
    let mut v = bytes as f64;
    let mut u = 0;
    while v >= 1024.0 && u + 1 < UNITS.len() {
        v /= 1024.0;
        u += 1;
    }
    if u == 0 {
        format!("{bytes} B")
    } else {
        format!("{v:.1} {}", UNITS[u])
    }
}

/// What an output may replace and what it must not touch.
pub struct Rules<'a> {
    /// How the command line named this output (`--csv`, `-o`), for messages.
    pub flag: &'a str,
    /// Files the command reads: the output must not be any of them.
    pub inputs: &'a [PathBuf],
    /// Replace files not recognised, and write to block devices.
    pub force: bool,
    /// What the output is, for messages (`a CSV file`, `a trace`).
    pub kind: &'a str,
    /// Whether an existing, non-empty regular file is one ptbench could have written (and so may
    /// be replaced without `force`).
    pub recognise: &'a dyn Fn(&Path) -> bool,
    /// Bytes the caller expects to write, when it knows: refused up front when the file system
    /// has less free space.
    pub expected_bytes: Option<u64>,
}

impl Rules<'_> {
    /// Rules for an output that replaces only empty files (no recognised content) and reads no
    /// inputs.
    pub fn new<'a>(
        flag: &'a str,
        kind: &'a str,
        recognise: &'a dyn Fn(&Path) -> bool,
    ) -> Rules<'a> {
        Rules {
            flag,
            inputs: &[],
            force: false,
            kind,
            recognise,
            expected_bytes: None,
        }
    }
}

/// An output being written; [`Output::commit`] finishes it. Dropped without a commit, a regular
/// file's temporary is removed and the target is untouched.
pub struct Output {
    path: PathBuf,
    inner: Inner,
}

enum Inner {
    Stdout(io::Stdout),
    Direct(File),
    Atomic {
        tmp: Option<tempfile::NamedTempFile>,
        dest: PathBuf,
        mode: u32,
        owner: Option<(u32, u32)>,
    },
}

static TEMPORARIES: Mutex<Vec<PathBuf>> = Mutex::new(Vec::new());

fn register(path: &Path) {
    if let Ok(mut t) = TEMPORARIES.lock() {
        t.push(path.to_path_buf());
    }
}

fn deregister(path: &Path) {
    if let Ok(mut t) = TEMPORARIES.lock() {
        t.retain(|p| p != path);
    }
}

/// Deletes the temporary files of every unfinished output; returns how many were deleted.
pub fn remove_temporaries() -> usize {
    let Ok(mut t) = TEMPORARIES.lock() else {
        return 0;
    };
    let n = t.iter().filter(|p| fs::remove_file(p).is_ok()).count();
    t.clear();
    n
}

/// The temporary files of unfinished outputs.
pub fn temporaries() -> Vec<PathBuf> {
    TEMPORARIES.lock().map(|t| t.clone()).unwrap_or_default()
}

type Note = Box<dyn Fn() -> String + Send>;

static INTERRUPT_NOTE: Mutex<Option<Note>> = Mutex::new(None);

/// Sets what [`clean_up_on_signals`] prints (after `ptbench: `) when a signal ends the process:
/// what is kept and how to go on. Replaces any earlier note.
pub fn on_interrupt(note: impl Fn() -> String + Send + 'static) {
    if let Ok(mut n) = INTERRUPT_NOTE.lock() {
        *n = Some(Box::new(note));
    }
}

/// Held (shared) by [`uninterrupted`] sections; the signal thread takes it alone before it
/// cleans up and prints the note, so a note never sees a section half done.
static SECTIONS: RwLock<()> = RwLock::new(());

/// Runs `f` so that a signal's clean-up and note ([`clean_up_on_signals`]) wait until it ends:
/// for a write and the count that says it happened (a sweep appends a trace's rows, then counts
/// them as kept). Sections may run at once; keep them short.
pub fn uninterrupted<R>(f: impl FnOnce() -> R) -> R {
    let _shared = SECTIONS.read().unwrap_or_else(|e| e.into_inner());
    f()
}

/// Starts a thread that, on SIGINT, SIGTERM or SIGHUP, deletes unfinished temporary files,
/// prints the [`on_interrupt`] note if one is set, and then lets the signal end the process as
/// it would have (so shells see the signal).
pub fn clean_up_on_signals() -> io::Result<()> {
    use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};
    let mut signals = signal_hook::iterator::Signals::new([SIGINT, SIGTERM, SIGHUP])?;
    std::thread::Builder::new()
        .name("ptbench-signals".into())
        .spawn(move || {
            if let Some(sig) = signals.forever().next() {
                // Wait for sections under way; none starts after this (the process ends).
                let _alone = SECTIONS.write().unwrap_or_else(|e| e.into_inner());
                remove_temporaries();
                if let Some(note) = INTERRUPT_NOTE
                    .lock()
                    .ok()
                    .and_then(|n| n.as_ref().map(|f| f()))
                {
                    eprintln!("ptbench: {note}");
                }
                let _ = signal_hook::low_level::emulate_default_handler(sig);
                std::process::exit(128 + sig);
            }
        })?;
    Ok(())
}

/// The name of a temporary file starts with this, then the writer's pid and `-`
/// (`.ptbench-1234-XXXXXX.tmp`), so that [`remove_stale_temporaries`] can tell a dead writer's.
pub const TEMPORARY_PREFIX: &str = ".ptbench-";

fn temporary_prefix() -> String {
    format!("{TEMPORARY_PREFIX}{}-", std::process::id())
}

/// Whether process `pid` exists (it may belong to another user).
fn alive(pid: u32) -> bool {
    let Ok(pid) = libc::pid_t::try_from(pid) else {
        return false;
    };
    if pid <= 0 {
        return false;
    }
    // SAFETY: signal 0 only checks that the process exists; nothing is sent.
    let r = unsafe { libc::kill(pid, 0) };
    r == 0 || io::Error::last_os_error().raw_os_error() == Some(libc::EPERM)
}

/// Deletes the temporary files in `dir` (not below it) that a process no longer running left
/// behind (killed before it could rename or delete them): `.ptbench-PID-*.tmp` whose PID is
/// not a running process, and `.ptbench-*.tmp` without a pid (written by ptbench before 0.1's
/// pid-named temporaries). Returns the files deleted. Call it only on a directory this
/// process owns ([`DirLock`]); a missing directory deletes nothing.
pub fn remove_stale_temporaries(dir: &Path) -> io::Result<Vec<PathBuf>> {
    let entries = match fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e),
    };
    let own = std::process::id();
    let mut removed = Vec::new();
    for entry in entries {
        let entry = entry?;
        let name = entry.file_name();
        let Some(rest) = name
            .to_str()
            .and_then(|n| n.strip_prefix(TEMPORARY_PREFIX))
            .and_then(|n| n.strip_suffix(".tmp"))
        else {
            continue;
        };
        let pid = rest
            .split_once('-')
            .and_then(|(p, _)| p.parse::<u32>().ok());
        let stale = match pid {
            Some(p) => p != own && !alive(p),
            None => true,
        };
        if stale && entry.file_type().is_ok_and(|t| t.is_file()) {
            let path = entry.path();
            fs::remove_file(&path)?;
            removed.push(path);
        }
    }
    Ok(removed)
}

/// The name of a directory's lock file.
pub const LOCK_NAME: &str = ".ptbench.lock";

/// An exclusive claim on an output directory, held while a command writes there: an advisory
/// lock (`flock`) on `DIR/.ptbench.lock`, which holds the owner's pid, command line and start
/// time for the message a second claimant gets ([`OutputError::Busy`]). The kernel drops the
/// lock when its process dies, so a lock file left by a killed process is simply taken over;
/// on a file system without `flock` the pid in the file decides (taken over when that process
/// no longer runs). Dropping the claim deletes the lock file.
#[derive(Debug)]
pub struct DirLock {
    path: PathBuf,
    _file: File,
}

impl DirLock {
    /// Claims `dir` (which must exist) for this process; `flag` names it in messages
    /// (`--out`). Fails at once with [`OutputError::Busy`] when another process holds it.
    pub fn acquire(dir: &Path, flag: &str) -> Result<DirLock, OutputError> {
        use std::io::{Read, Seek};
        use std::os::fd::AsRawFd;
        use std::os::unix::fs::MetadataExt;
        let path = dir.join(LOCK_NAME);
        let io_err = |error| OutputError::Io {
            path: path.clone(),
            error,
        };
        // A holder that finishes deletes the file it locked: retry when the file locked is no
        // longer the one the name gives.
        for _ in 0..100 {
            let mut file = OpenOptions::new()
                .read(true)
                .write(true)
                .create(true)
                .truncate(false)
                .open(&path)
                .map_err(io_err)?;
            // SAFETY: flock on a descriptor this function owns.
            let r = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) };
            let mut text = String::new();
            if r != 0 {
                let e = io::Error::last_os_error();
                let unsupported = matches!(
                    e.raw_os_error(),
                    Some(libc::ENOLCK) | Some(libc::EOPNOTSUPP) | Some(libc::ENOSYS)
                );
                if !unsupported && e.kind() != io::ErrorKind::WouldBlock {
                    return Err(io_err(e));
                }
                let _ = file.read_to_string(&mut text);
                let holder_alive =
                    holder_pid(&text).is_some_and(|p| p != std::process::id() && alive(p));
                if !unsupported || holder_alive {
                    return Err(OutputError::Busy {
                        flag: flag.to_string(),
                        dir: dir.to_path_buf(),
                        holder: describe_holder(&text),
                    });
                }
            }
            let same = fs::metadata(&path)
                .ok()
                .zip(file.metadata().ok())
                .is_some_and(|(a, b)| a.ino() == b.ino() && a.dev() == b.dev());
            if !same {
                continue;
            }
            let since = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_secs());
            let command: Vec<String> = std::env::args().collect();
            let text = format!(
                "pid = {}\ncommand = {:?}\nsince = {since}\n",
                std::process::id(),
                command.join(" ")
            );
            file.set_len(0).map_err(io_err)?;
            file.seek(io::SeekFrom::Start(0)).map_err(io_err)?;
            file.write_all(text.as_bytes()).map_err(io_err)?;
            return Ok(DirLock { path, _file: file });
        }
        Err(io_err(io::Error::other(
            "the lock file kept changing while this process tried to take it",
        )))
    }
}

impl Drop for DirLock {
    fn drop(&mut self) {
        // Deleted while still locked, so a waiting claimant sees a new file and retries.
        let _ = fs::remove_file(&self.path);
    }
}

fn holder_pid(text: &str) -> Option<u32> {
    text.lines()
        .find_map(|l| l.strip_prefix("pid = "))
        .and_then(|p| p.trim().parse().ok())
}

/// `pid 1234, ptbench sweep x.toml, for 12 s`, from a lock file's text.
fn describe_holder(text: &str) -> String {
    let field = |k: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(k)?.trim_start().strip_prefix('='))
            .map(str::trim)
    };
    let mut parts = Vec::new();
    match holder_pid(text) {
        Some(p) => parts.push(format!("pid {p}")),
        None => parts.push("its lock file names no pid".to_string()),
    }
    if let Some(c) = field("command") {
        parts.push(format!("`{}`", c.trim_matches('"').replace("\\\"", "\"")));
    }
    if let Some(since) = field("since").and_then(|s| s.parse::<u64>().ok()) {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        parts.push(format!("for {} s", now.saturating_sub(since)));
    }
    parts.join(", ")
}

/// Follows symbolic links from `path` to the path they finally name (which need not exist).
fn resolve(path: &Path) -> io::Result<PathBuf> {
    let mut p = path.to_path_buf();
    for _ in 0..40 {
        match fs::symlink_metadata(&p) {
            Ok(m) if m.file_type().is_symlink() => {
                let target = fs::read_link(&p)?;
                p = if target.is_absolute() {
                    target
                } else {
                    p.parent().unwrap_or(Path::new("")).join(target)
                };
            }
            _ => return Ok(p),
        }
    }
    Err(io::Error::other("too many levels of symbolic links"))
}

/// The process's file-creation mask (from /proc; 022 where it cannot be read).
fn umask() -> u32 {
    fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("Umask:"))
                .and_then(|v| u32::from_str_radix(v.trim(), 8).ok())
        })
        .unwrap_or(0o022)
}

/// Free bytes for an unprivileged writer on the file system holding `dir`.
fn free_bytes(dir: &Path) -> Option<u64> {
    use std::os::unix::ffi::OsStrExt;
    let c = std::ffi::CString::new(dir.as_os_str().as_bytes()).ok()?;
    // SAFETY: `c` is a valid NUL-terminated path and `st` a properly sized out-parameter.
    unsafe {
        let mut st: libc::statvfs = std::mem::zeroed();
        if libc::statvfs(c.as_ptr(), &mut st) != 0 {
            return None;
        }
        #[allow(clippy::unnecessary_cast)]
        Some((st.f_bavail as u64).saturating_mul(st.f_frsize as u64))
    }
}

fn names_directory(path: &Path) -> bool {
    let s = path.as_os_str().as_encoded_bytes();
    s.ends_with(b"/") || path.file_name().is_none()
}

enum Decision {
    Stdout,
    Direct(PathBuf),
    Atomic {
        dir: PathBuf,
        dest: PathBuf,
        mode: u32,
        owner: Option<(u32, u32)>,
    },
}

/// How to write `path` under `rules`, or why not.
fn decide(path: &Path, rules: &Rules) -> Result<Decision, OutputError> {
    use std::os::unix::fs::{FileTypeExt, MetadataExt};
    let flag = rules.flag.to_string();
    let io = |error: io::Error| OutputError::Io {
        path: path.to_path_buf(),
        error,
    };
    if path.as_os_str() == "-" {
        return Ok(Decision::Stdout);
    }
    let dest = resolve(path).map_err(io)?;
    let meta = match fs::metadata(&dest) {
        Ok(m) => Some(m),
        Err(e) if e.kind() == io::ErrorKind::NotFound => None,
        Err(e) if e.kind() == io::ErrorKind::NotADirectory => {
            let dir = dest.parent().unwrap_or(Path::new("")).to_path_buf();
            return Err(OutputError::NoDirectory {
                flag,
                path: path.to_path_buf(),
                dir,
            });
        }
        Err(e) => return Err(io(e)),
    };
    if let Some(m) = &meta {
        if m.is_dir() || names_directory(path) {
            return Err(OutputError::Directory {
                flag,
                path: path.to_path_buf(),
                example: path.join(if rules.kind.contains("CSV") {
                    "results.csv"
                } else {
                    "out.ptbt"
                }),
            });
        }
        for input in rules.inputs {
            if let Ok(im) = fs::metadata(input) {
                if im.dev() == m.dev() && im.ino() == m.ino() {
                    let hint = if rules.inputs.len() > 1 || input != path {
                        format!(
                            " (it is the input {}; was the output's name forgotten before a list of inputs?)",
                            input.display()
                        )
                    } else {
                        String::new()
                    };
                    return Err(OutputError::IsInput {
                        flag,
                        path: path.to_path_buf(),
                        hint,
                    });
                }
            }
        }
        let ft = m.file_type();
        if ft.is_block_device() && !rules.force {
            return Err(OutputError::BlockDevice {
                flag,
                path: path.to_path_buf(),
            });
        }
        if !ft.is_file() {
            // A device, FIFO or socket: write straight to it.
            return Ok(Decision::Direct(dest));
        }
        if m.len() > 0 && !rules.force && !(rules.recognise)(&dest) {
            return Err(OutputError::Foreign {
                flag,
                path: path.to_path_buf(),
                kind: rules.kind.to_string(),
            });
        }
    } else if names_directory(path) {
        return Err(OutputError::NoDirectory {
            flag,
            path: path.to_path_buf(),
            dir: path.to_path_buf(),
        });
    }
    let dir = match dest.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    if !dir.is_dir() {
        return Err(OutputError::NoDirectory {
            flag,
            path: path.to_path_buf(),
            dir,
        });
    }
    if let (Some(need), Some(free)) = (rules.expected_bytes, free_bytes(&dir)) {
        if need > free {
            return Err(OutputError::NoSpace {
                flag,
                path: path.to_path_buf(),
                need,
                free,
            });
        }
    }
    let (mode, owner) = match &meta {
        Some(m) => (m.mode() & 0o7777, Some((m.uid(), m.gid()))),
        None => (0o666 & !umask(), None),
    };
    Ok(Decision::Atomic {
        dir,
        dest,
        mode,
        owner,
    })
}

impl Output {
    /// Checks `path` against `rules` as [`Output::create`] would, opening nothing (so a FIFO's
    /// reader sees no early end).
    pub fn check(path: &Path, rules: &Rules) -> Result<(), OutputError> {
        decide(path, rules).map(|_| ())
    }

    /// Opens `path` for writing under `rules` (see the crate docs for what each kind of path
    /// gets).
    pub fn create(path: &Path, rules: &Rules) -> Result<Output, OutputError> {
        let io = |error: io::Error| OutputError::Io {
            path: path.to_path_buf(),
            error,
        };
        let inner = match decide(path, rules)? {
            Decision::Stdout => Inner::Stdout(io::stdout()),
            Decision::Direct(dest) => {
                Inner::Direct(OpenOptions::new().write(true).open(dest).map_err(io)?)
            }
            Decision::Atomic {
                dir,
                dest,
                mode,
                owner,
            } => {
                let tmp = tempfile::Builder::new()
                    .prefix(&temporary_prefix())
                    .suffix(".tmp")
                    .tempfile_in(&dir)
                    .map_err(io)?;
                register(tmp.path());
                Inner::Atomic {
                    tmp: Some(tmp),
                    dest,
                    mode,
                    owner,
                }
            }
        };
        Ok(Output {
            path: path.to_path_buf(),
            inner,
        })
    }

    /// The path as given.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Whether the output is a regular file written through a temporary (so it can be patched
    /// with [`Output::write_at`] before the commit).
    pub fn is_atomic(&self) -> bool {
        matches!(self.inner, Inner::Atomic { .. })
    }

    /// Overwrites bytes at `offset` of what was written; `Ok(false)` when the output is a stream
    /// that cannot be patched.
    pub fn write_at(&mut self, offset: u64, bytes: &[u8]) -> io::Result<bool> {
        use std::os::unix::fs::FileExt;
        match &self.inner {
            Inner::Atomic { tmp: Some(t), .. } => {
                t.as_file().write_all_at(bytes, offset)?;
                Ok(true)
            }
            _ => Ok(false),
        }
    }

    /// Finishes the output: flushes it and, for a regular file, syncs the temporary, gives it the
    /// replaced file's mode and owner, and renames it over the target.
    pub fn commit(mut self) -> Result<(), OutputError> {
        let path = self.path.clone();
        let io = |error: io::Error| OutputError::Io {
            path: path.clone(),
            error,
        };
        match &mut self.inner {
            Inner::Stdout(s) => s.flush().map_err(io),
            Inner::Direct(f) => f.flush().map_err(io),
            Inner::Atomic {
                tmp,
                dest,
                mode,
                owner,
            } => {
                use std::os::unix::fs::PermissionsExt;
                let Some(t) = tmp.take() else {
                    return Ok(());
                };
                let tmp_path = t.path().to_path_buf();
                let result = (|| {
                    t.as_file().sync_all()?;
                    fs::set_permissions(t.path(), fs::Permissions::from_mode(*mode))?;
                    if let Some((uid, gid)) = *owner {
                        // Only root may give a file away; others keep their own ownership.
                        let _ = std::os::unix::fs::chown(t.path(), Some(uid), Some(gid));
                    }
                    t.persist(&*dest).map_err(|e| e.error)?;
                    Ok(())
                })();
                deregister(&tmp_path);
                result.map_err(io)
            }
        }
    }
}

impl Write for Output {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match &mut self.inner {
            Inner::Stdout(s) => s.write(buf),
            Inner::Direct(f) => f.write(buf),
            Inner::Atomic { tmp: Some(t), .. } => t.as_file_mut().write(buf),
            Inner::Atomic { tmp: None, .. } => Err(io::Error::other("output already finished")),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match &mut self.inner {
            Inner::Stdout(s) => s.flush(),
            Inner::Direct(f) => f.flush(),
            Inner::Atomic { .. } => Ok(()),
        }
    }
}

impl Drop for Output {
    fn drop(&mut self) {
        if let Inner::Atomic { tmp: Some(t), .. } = &self.inner {
            deregister(t.path());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_directory_has_one_holder_and_a_dead_holders_lock_is_taken_over() {
        let d = tempfile::tempdir().unwrap();
        let first = DirLock::acquire(d.path(), "--out").unwrap();
        let text = fs::read_to_string(d.path().join(LOCK_NAME)).unwrap();
        assert!(
            text.starts_with(&format!("pid = {}\n", std::process::id())),
            "{text}"
        );
        // A second claim (another open file, as another process would have) is refused.
        let err = DirLock::acquire(d.path(), "--out").unwrap_err().to_string();
        let want = format!(
            "--out {}: another ptbench is writing there (pid {}, `",
            d.path().display(),
            std::process::id()
        );
        assert!(err.starts_with(&want), "{err}");
        assert!(
            err.ends_with("s); wait for it to finish, or choose another --out"),
            "{err}"
        );
        drop(first);
        assert!(!d.path().join(LOCK_NAME).exists());
        // A lock file left by a killed process (no flock held) is taken over.
        let mut child = std::process::Command::new("true").spawn().unwrap();
        let dead = child.id();
        child.wait().unwrap();
        fs::write(
            d.path().join(LOCK_NAME),
            format!("pid = {dead}\ncommand = \"ptbench sweep\"\nsince = 0\n"),
        )
        .unwrap();
        let again = DirLock::acquire(d.path(), "--out").unwrap();
        let text = fs::read_to_string(d.path().join(LOCK_NAME)).unwrap();
        assert!(text.starts_with(&format!("pid = {}\n", std::process::id())));
        drop(again);
    }

    #[test]
    fn stale_temporaries_of_dead_processes_are_removed_and_live_ones_kept() {
        let d = tempfile::tempdir().unwrap();
        let mut child = std::process::Command::new("true").spawn().unwrap();
        let dead = child.id();
        child.wait().unwrap();
        let names = [
            format!(".ptbench-{dead}-abc123.tmp"),
            ".ptbench-Xy12ab.tmp".to_string(),
            format!(".ptbench-{}-def456.tmp", std::process::id()),
            ".ptbench-1-init.tmp".to_string(),
            "results.csv".to_string(),
            "ptbench-9-x.tmp".to_string(),
        ];
        for n in &names {
            fs::write(d.path().join(n), "x").unwrap();
        }
        let mut removed: Vec<String> = remove_stale_temporaries(d.path())
            .unwrap()
            .iter()
            .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
            .collect();
        removed.sort();
        let mut want = vec![names[0].clone(), names[1].clone()];
        want.sort();
        assert_eq!(removed, want);
        for n in &names[2..] {
            assert!(d.path().join(n).exists(), "{n}");
        }
        // A new output's temporary carries this process's pid.
        let mut o = Output::create(
            &d.path().join("a.csv"),
            &Rules::new("--csv", "a CSV file", &any),
        )
        .unwrap();
        o.write_all(b"a\n").unwrap();
        let tmp = temporaries()
            .into_iter()
            .find(|p| p.starts_with(d.path()))
            .unwrap();
        let name = tmp.file_name().unwrap().to_string_lossy().into_owned();
        assert!(
            name.starts_with(&format!(".ptbench-{}-", std::process::id())),
            "{name}"
        );
        o.commit().unwrap();
        assert!(remove_stale_temporaries(Path::new("/nonexistent/dir"))
            .unwrap()
            .is_empty());
    }

    fn any(_: &Path) -> bool {
        true
    }
    fn none(_: &Path) -> bool {
        false
    }

    fn write(path: &Path, rules: &Rules, text: &str) -> Result<(), OutputError> {
        let mut o = Output::create(path, rules)?;
        o.write_all(text.as_bytes()).unwrap();
        o.commit()
    }

    #[test]
    fn new_file_is_written_atomically_with_the_umask_mode() {
        use std::os::unix::fs::PermissionsExt;
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("a.csv");
        write(&p, &Rules::new("--csv", "a CSV file", &none), "x\n").unwrap();
        assert_eq!(fs::read_to_string(&p).unwrap(), "x\n");
        let mode = fs::metadata(&p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o666 & !umask());
        assert_eq!(
            fs::read_dir(d.path()).unwrap().count(),
            1,
            "no temporary left"
        );
    }

    #[test]
    fn existing_mode_is_kept_and_foreign_files_are_refused() {
        use std::os::unix::fs::PermissionsExt;
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("a.csv");
        fs::write(&p, "old\n").unwrap();
        fs::set_permissions(&p, fs::Permissions::from_mode(0o600)).unwrap();
        let e = write(&p, &Rules::new("--csv", "a CSV file", &none), "new\n").unwrap_err();
        assert!(matches!(e, OutputError::Foreign { .. }), "{e}");
        assert!(e.to_string().contains("--force"), "{e}");
        assert_eq!(fs::read_to_string(&p).unwrap(), "old\n");
        write(&p, &Rules::new("--csv", "a CSV file", &any), "new\n").unwrap();
        assert_eq!(fs::read_to_string(&p).unwrap(), "new\n");
        assert_eq!(
            fs::metadata(&p).unwrap().permissions().mode() & 0o777,
            0o600
        );
        let forced = Rules {
            force: true,
            ..Rules::new("--csv", "a CSV file", &none)
        };
        write(&p, &forced, "forced\n").unwrap();
        assert_eq!(fs::read_to_string(&p).unwrap(), "forced\n");
    }

    #[test]
    fn empty_files_may_be_replaced() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("a.csv");
        fs::write(&p, "").unwrap();
        write(&p, &Rules::new("--csv", "a CSV file", &none), "x\n").unwrap();
        assert_eq!(fs::read_to_string(&p).unwrap(), "x\n");
    }

    #[test]
    fn symlinks_are_written_through() {
        let d = tempfile::tempdir().unwrap();
        let target = d.path().join("real.csv");
        let link = d.path().join("link.csv");
        fs::write(&target, "").unwrap();
        std::os::unix::fs::symlink("real.csv", &link).unwrap();
        write(&link, &Rules::new("--csv", "a CSV file", &none), "x\n").unwrap();
        assert!(fs::symlink_metadata(&link)
            .unwrap()
            .file_type()
            .is_symlink());
        assert_eq!(fs::read_to_string(&target).unwrap(), "x\n");
        // A dangling link creates its target.
        let dangling = d.path().join("dangling.csv");
        std::os::unix::fs::symlink("new.csv", &dangling).unwrap();
        write(&dangling, &Rules::new("--csv", "a CSV file", &none), "y\n").unwrap();
        assert_eq!(fs::read_to_string(d.path().join("new.csv")).unwrap(), "y\n");
    }

    #[test]
    fn inputs_are_never_outputs() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("t.lackey");
        fs::write(&p, " L 1000,4\n").unwrap();
        let link = d.path().join("l");
        std::os::unix::fs::symlink(&p, &link).unwrap();
        let inputs = [p.clone()];
        for out in [&p, &link] {
            let rules = Rules {
                inputs: &inputs,
                force: true,
                ..Rules::new("--csv", "a CSV file", &any)
            };
            let e = write(out, &rules, "x").unwrap_err();
            assert!(matches!(e, OutputError::IsInput { .. }), "{e}");
        }
        assert_eq!(fs::read_to_string(&p).unwrap(), " L 1000,4\n");
    }

    #[test]
    fn devices_and_fifos_are_written_straight() {
        write(
            Path::new("/dev/null"),
            &Rules::new("--csv", "a CSV file", &none),
            "x",
        )
        .unwrap();
        use std::os::unix::fs::FileTypeExt;
        assert!(fs::metadata("/dev/null")
            .unwrap()
            .file_type()
            .is_char_device());
        let d = tempfile::tempdir().unwrap();
        let fifo = d.path().join("fifo");
        let c = std::ffi::CString::new(fifo.as_os_str().as_encoded_bytes()).unwrap();
        // SAFETY: a valid path and mode.
        assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
        let reader = {
            let fifo = fifo.clone();
            std::thread::spawn(move || fs::read_to_string(fifo).unwrap())
        };
        write(
            &fifo,
            &Rules::new("-o", "a trace", &none),
            "through the pipe",
        )
        .unwrap();
        assert_eq!(reader.join().unwrap(), "through the pipe");
        assert!(fs::metadata(&fifo).unwrap().file_type().is_fifo());
    }

    #[test]
    fn directories_and_missing_directories_are_named() {
        let d = tempfile::tempdir().unwrap();
        let r = Rules::new("--csv", "a CSV file", &any);
        let e = write(d.path(), &r, "x").unwrap_err();
        assert!(e.to_string().contains("is a directory"), "{e}");
        let e = write(&d.path().join("nope/"), &r, "x").unwrap_err();
        assert!(e.to_string().contains("does not exist"), "{e}");
        let e = write(&d.path().join("nope/a.csv"), &r, "x").unwrap_err();
        assert!(e.to_string().contains("does not exist"), "{e}");
        let e = write(Path::new("."), &r, "x").unwrap_err();
        assert!(e.to_string().contains("is a directory"), "{e}");
        fs::write(d.path().join("file"), "").unwrap();
        let e = write(&d.path().join("file/a.csv"), &r, "x").unwrap_err();
        assert!(e.to_string().contains("does not exist"), "{e}");
    }

    #[test]
    fn no_space_is_said_before_writing() {
        let d = tempfile::tempdir().unwrap();
        let r = Rules {
            expected_bytes: Some(u64::MAX / 2),
            ..Rules::new("-o", "a trace", &any)
        };
        let e = write(&d.path().join("big.ptbt"), &r, "x").unwrap_err();
        assert!(e.to_string().contains("free"), "{e}");
        assert_eq!(fs::read_dir(d.path()).unwrap().count(), 0);
    }

    #[test]
    fn an_uncommitted_output_leaves_nothing_and_temporaries_are_registered() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("a.ptbt");
        let mut o = Output::create(&p, &Rules::new("-o", "a trace", &any)).unwrap();
        o.write_all(b"partial").unwrap();
        assert_eq!(fs::read_dir(d.path()).unwrap().count(), 1);
        drop(o);
        assert_eq!(fs::read_dir(d.path()).unwrap().count(), 0);
        let mut o = Output::create(&p, &Rules::new("-o", "a trace", &any)).unwrap();
        o.write_all(b"partial").unwrap();
        let tmp = fs::read_dir(d.path())
            .unwrap()
            .next()
            .unwrap()
            .unwrap()
            .path();
        assert!(temporaries().contains(&tmp));
        drop(o);
        assert!(!temporaries().contains(&tmp));
    }

    #[test]
    fn human_sizes() {
        assert_eq!(human(12), "12 B");
        assert_eq!(human(1536), "1.5 KiB");
        assert_eq!(human(5 << 30), "5.0 GiB");
    }
}
