//! Recording a program's memory trace with Valgrind lackey, streamed straight into a sink.
//!
//! [`record`] runs
//!
//! ```text
//! valgrind --tool=lackey --trace-mem=yes --log-fd=N [extra options] CMD ARGS...
//! ```
//!
//! and parses lackey's output as it comes, handing batches of up to [`BATCH`] accesses to a
//! sink; no trace text is ever written to a file.
//!
//! **The pipe.** Lackey writes its trace to Valgrind's log, and the log goes to a pipe of its
//! own, not to the program's stdout or stderr: the program's stdin, stdout and stderr are
//! inherited untouched (a terminal stays a terminal, output is not reordered or captured). The
//! pipe is made with [`std::io::pipe`], whose ends are close-on-exec. Its write end is cloned
//! first ([`std::io::PipeWriter::try_clone`]), which reserves a second descriptor number `N`
//! that nothing else can be using; in the child, between `fork` and `exec`
//! ([`CommandExt::pre_exec`](std::os::unix::process::CommandExt::pre_exec)), `dup2(write end,
//! N)` makes `N` a copy of the write end that survives `exec`, and Valgrind is told
//! `--log-fd=N`. Valgrind moves its log descriptor out of the program's way at start, so the
//! program does not see `N` either, and every other descriptor of this process stays
//! close-on-exec. The parent drops its copies of the write end right after the spawn, so the
//! pipe reaches its end exactly when Valgrind (and anything it forked) exits.
//!
//! **Following children** ([`RecordOptions::follow`], `ptbench record`'s default). Valgrind
//! runs with `--trace-children=yes`, so a program reached through `exec` (a shell, a shim, an
//! interpreter's `#!` line) and the processes it starts are traced too. Lackey's lines carry no
//! process id, so one shared log could not be told apart once two processes write to it at the
//! same time; instead every traced process image logs to a TCP connection of its own
//! (`--log-socket=127.0.0.1:PORT`, a listener ptbench opens on an ephemeral loopback port):
//! Valgrind connects once per image it starts (the first program, and again after each `exec`).
//! Each connection is read on a thread of its own and parsed as above; the main thread hands
//! the batches to the sink as they arrive, each image in an address space of its own (asid 0 for
//! the first image to deliver accesses, then 1, 2, ...): a `ContextSwitch` event before a batch
//! of another image than the last one, and an `Exit` event for an image whose stream ended,
//! before the next image's accesses. A program that is a single image is recorded exactly as
//! without following (asid 0, no events). Limits: a child forked without `exec` keeps writing to
//! its parent's connection (Valgrind opens a new one only at `exec`), so its accesses count in
//! its parent's address space; processes are interleaved at batch granularity (up to [`BATCH`]
//! accesses), in the order their batches arrive; no `Fork` event is written (the child's image
//! starts empty). A socket costs more system time than a pipe for Valgrind's small writes
//! (about 1.7 times the wall time measured on a 42-million-access `gzip`), so without following
//! the pipe is used.
//!
//! **Parsing.** The stream is read a block of whole lines at a time and parsed in place with
//! the lackey parser of [`crate::lackey`] (no allocation per line). Valgrind's `==pid==` lines
//! are counted and kept (a bounded number of them) for the summary; a line that is not lackey
//! (something else writing to the log) is counted and skipped, never an error.
//!
//! **Failures.** If Valgrind is not found: [`RecordError::ValgrindMissing`], which says how to
//! install it. A command that does not exist, is a directory or is not executable is found
//! before Valgrind runs ([`RecordError::Command`]). If Valgrind exits without starting the
//! program (nothing traced, no `Command:` line): [`RecordError::Valgrind`], with its exit status
//! and what it logged. Valgrind prints why it could not start a program on its stderr, which is
//! the program's stderr and is left alone, so that message is on the terminal, not in the
//! error. Once the program has run, its exit status is reported in [`RecordSummary`], whatever
//! it is.

use crate::engine::{Block, Stream};
use crate::syntax::{is_skipped, shown, trim, trim_end};
use crate::{lackey, BATCH, DEFAULT_CHUNK_BYTES};
use ptbench_core::{Access, AccessKind};
use std::collections::VecDeque;
use std::ffi::{OsStr, OsString};
use std::io::{self, Read};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus};
use thiserror::Error;

/// Bad lines whose text a summary keeps.
const KEEP_SKIPPED: usize = 5;
/// Valgrind lines a summary keeps from the start of the log, and again from its end.
const KEEP_MESSAGES: usize = 64;

/// How to record.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RecordOptions {
    /// The Valgrind to run; `None`: `valgrind` found on `PATH`.
    pub valgrind: Option<PathBuf>,
    /// More Valgrind options, placed after ptbench's and before the command (say
    /// `--vex-iropt-register-updates=allregs-at-mem-access`).
    pub valgrind_args: Vec<OsString>,
    /// Follow the program into the programs it `exec`s and the children it starts
    /// (`--trace-children=yes`), each process image an address space of its own (see the
    /// [module](self) documentation). `false`: only the first program is traced.
    pub follow: bool,
}

/// What a lackey stream held.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LackeyCounts {
    /// Loads (` L`, and the load of each ` M`).
    pub reads: u64,
    /// Stores (` S`, and the store of each ` M`).
    pub writes: u64,
    /// Instruction fetches (`I`).
    pub fetches: u64,
    /// Lines in the stream.
    pub lines: u64,
    /// Valgrind's `==pid==` / `--pid--` lines.
    pub valgrind_lines: u64,
    /// Valgrind's lines, the first and last 64 of them (with a `... (N lines left out)` line
    /// between when there were more), line ends cut.
    pub valgrind_messages: Vec<String>,
    /// Lines that are not lackey (nor Valgrind's, blank or `#`), skipped.
    pub skipped_lines: u64,
    /// The first few skipped lines (cut at 120 characters).
    pub first_skipped: Vec<String>,
    /// Bytes of the stream.
    pub log_bytes: u64,
    /// Whether Valgrind logged that it started the program (its `Command:` line) or any
    /// access was traced.
    pub started: bool,
}

impl LackeyCounts {
    /// Accesses: `reads + writes + fetches`.
    pub fn accesses(&self) -> u64 {
        self.reads + self.writes + self.fetches
    }
}

/// What [`record`] did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RecordSummary {
    /// What the trace held.
    pub trace: LackeyCounts,
    /// How the program ended (Valgrind exits as its program does: with its code, or killed by
    /// its signal).
    pub exit_status: ExitStatus,
    /// The Valgrind that ran.
    pub valgrind: PathBuf,
    /// Process images traced (each with accesses of its own): 1 for a program that neither
    /// `exec`s nor starts others, or when children are not followed.
    pub processes: u64,
}

impl RecordSummary {
    /// Accesses recorded.
    pub fn accesses(&self) -> u64 {
        self.trace.accesses()
    }
}

/// Why a recording failed.
#[derive(Debug, Error)]
pub enum RecordError {
    /// No command was given.
    #[error("no command to record")]
    NoCommand,
    /// Valgrind is not installed (or not where it was said to be).
    #[error(
        "valgrind was not found {}: recording needs Valgrind's lackey tool; install it with `apt-get install valgrind` (Debian, Ubuntu), `dnf install valgrind` (Fedora) or `pacman -S valgrind` (Arch){}",
        match path { Some(p) => format!("at {}", p.display()), None => "on PATH".to_string() },
        if path.is_some() { ", or give the path of an installed valgrind" } else { "" }
    )]
    ValgrindMissing {
        /// Where it was looked for, if a path was given; `None`: on `PATH`.
        path: Option<PathBuf>,
    },
    /// The command cannot be run (found before Valgrind starts).
    #[error("cannot record `{program}`: {reason}")]
    Command {
        /// The command as given.
        program: String,
        /// What is wrong: not found, a directory, not executable.
        reason: String,
    },
    /// Valgrind could not be started.
    #[error("could not start {}: {source}", path.display())]
    Spawn {
        /// The Valgrind run.
        path: PathBuf,
        /// Why.
        source: io::Error,
    },
    /// Valgrind exited without starting the program.
    #[error("valgrind did not start `{program}` ({status}): {message}")]
    Valgrind {
        /// The command as given.
        program: String,
        /// Valgrind's exit status.
        status: ExitStatus,
        /// What Valgrind logged, or where its message went.
        message: String,
    },
    /// Reading Valgrind's log failed.
    #[error("reading valgrind's output: {0}")]
    Read(io::Error),
    /// The sink refused a batch; the recording was stopped (Valgrind killed).
    #[error("the trace sink failed: {0}")]
    Sink(io::Error),
    /// More processes than a trace has address-space ids.
    #[error("the program started more than {} processes, more than a trace's address-space ids; record it with children not followed", u32::from(u16::MAX) + 1)]
    TooManyProcesses,
}

/// Records `cmd` (the program, then its arguments) under Valgrind lackey, handing its accesses
/// to `sink` in batches of at most [`BATCH`], in program order. See the [module](self)
/// documentation for how the trace reaches this process.
pub fn record(
    cmd: &[OsString],
    sink: &mut dyn FnMut(&[Access]) -> io::Result<()>,
    opts: &RecordOptions,
) -> Result<RecordSummary, RecordError> {
    let (program, args) = cmd.split_first().ok_or(RecordError::NoCommand)?;
    let valgrind = find_valgrind(opts)?;
    check_program(program)?;
    let (trace, exit_status, processes) = if opts.follow {
        let listener =
            std::net::TcpListener::bind(("127.0.0.1", 0)).map_err(|source| RecordError::Spawn {
                path: valgrind.clone(),
                source,
            })?;
        let port = listener.local_addr().map_err(RecordError::Read)?.port();
        let mut log = OsString::from("--log-socket=127.0.0.1:");
        log.push(port.to_string());
        let child = spawn(&valgrind, opts, Log::Socket(log), program, args)?.1;
        follow(listener, child, sink)?
    } else {
        let (reader, child) = spawn(&valgrind, opts, Log::Pipe, program, args)?;
        let reader = reader.ok_or(RecordError::Read(io::Error::other("no log pipe")))?;
        let (trace, exit_status) = pump_one(reader, child, sink)?;
        (trace, exit_status, 1)
    };
    if !trace.started {
        let mut logged: Vec<&str> = trace
            .valgrind_messages
            .iter()
            // `==pid== text`: the text, if any.
            .filter_map(|m| m.split_once("== ").map(|(_, text)| text.trim()))
            .filter(|text| !text.is_empty())
            .collect();
        logged.truncate(8);
        let message = if logged.is_empty() {
            "valgrind printed why on stderr".to_string()
        } else {
            logged.join(" / ")
        };
        return Err(RecordError::Valgrind {
            program: program.to_string_lossy().into_owned(),
            status: exit_status,
            message,
        });
    }
    Ok(RecordSummary {
        trace,
        exit_status,
        valgrind,
        processes,
    })
}

/// Reads the one stream of an unfollowed recording, then reaps Valgrind.
fn pump_one(
    reader: io::PipeReader,
    mut child: std::process::Child,
    sink: &mut dyn FnMut(&[Access]) -> io::Result<()>,
) -> Result<(LackeyCounts, ExitStatus), RecordError> {
    match read_lackey(Unhurried(reader), sink) {
        Ok(t) => Ok((t, child.wait().map_err(RecordError::Read)?)),
        Err(e) => {
            // Stop Valgrind, which may be blocked on the full pipe, and reap it.
            let _ = child.kill();
            let _ = child.wait();
            Err(e)
        }
    }
}

/// What a connection's reader thread sends.
enum Msg {
    /// Accesses of connection `.0`.
    Batch(usize, Vec<Access>),
    /// Connection `.0` ended with these counts (or a read error).
    Done(usize, Result<LackeyCounts, RecordError>),
}

/// Batches in flight from the readers before they wait for the sink.
const IN_FLIGHT: usize = 8;
/// How often the accepting loop looks for new connections and for Valgrind's exit.
const POLL: std::time::Duration = std::time::Duration::from_millis(5);

/// Accepts one connection per process image Valgrind traces, reads each on a thread of its own
/// and hands their accesses to `sink` as they arrive, each image in an address space (asid) of
/// its own, numbered from 0 in the order they first deliver accesses: a `ContextSwitch` event
/// before a batch of another image than the last, and an `Exit` event for an image whose stream
/// has ended, before the next image's accesses. A program that is one image is recorded exactly
/// as without following: asid 0 and no events. Returns the summed counts, Valgrind's exit
/// status and the number of images that delivered accesses.
fn follow(
    listener: std::net::TcpListener,
    mut child: std::process::Child,
    sink: &mut dyn FnMut(&[Access]) -> io::Result<()>,
) -> Result<(LackeyCounts, ExitStatus, u64), RecordError> {
    listener.set_nonblocking(true).map_err(RecordError::Read)?;
    let (tx, rx) = std::sync::mpsc::sync_channel::<Msg>(IN_FLIGHT);
    let mut threads = Vec::new();
    let mut live = 0usize;
    let mut exit_status = None;
    let mut per_conn: Vec<Option<LackeyCounts>> = Vec::new();
    let mut asids: Vec<Option<u16>> = Vec::new();
    let mut next_asid: u32 = 0;
    let mut current: Option<u16> = None;
    let mut exits: Vec<u16> = Vec::new();
    let mut events: Vec<Access> = Vec::new();
    let mut failure: Option<RecordError> = None;
    loop {
        // New connections: one per process image.
        loop {
            match listener.accept() {
                Ok((stream, _)) => {
                    let id = per_conn.len();
                    per_conn.push(None);
                    asids.push(None);
                    live += 1;
                    let tx = tx.clone();
                    threads.push(std::thread::spawn(move || {
                        if stream.set_nonblocking(false).is_err() {
                            let _ = tx.send(Msg::Done(id, Ok(LackeyCounts::default())));
                            return;
                        }
                        let send = tx.clone();
                        let counts = read_lackey(Unhurried(stream), &mut |batch: &[Access]| {
                            send.send(Msg::Batch(id, batch.to_vec()))
                                .map_err(|_| io::Error::other("the recording stopped"))
                        });
                        let _ = tx.send(Msg::Done(id, counts));
                    }));
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => {
                    failure.get_or_insert(RecordError::Read(e));
                    break;
                }
            }
        }
        if failure.is_some() {
            break;
        }
        if exit_status.is_none() {
            exit_status = child.try_wait().map_err(RecordError::Read)?;
        } else if live == 0 {
            // Valgrind has exited, every stream has ended and no connection is waiting.
            break;
        }
        match rx.recv_timeout(POLL) {
            Ok(Msg::Batch(id, batch)) => {
                let asid = match asids[id] {
                    Some(a) => a,
                    None => {
                        let a = u16::try_from(next_asid).map_err(|_| RecordError::TooManyProcesses);
                        let a = match a {
                            Ok(a) => a,
                            Err(e) => {
                                failure = Some(e);
                                break;
                            }
                        };
                        next_asid += 1;
                        asids[id] = Some(a);
                        a
                    }
                };
                if current != Some(asid) {
                    events.clear();
                    events.extend(
                        exits
                            .drain(..)
                            .map(|e| Access::new(AccessKind::Exit, 0, 0).in_asid(e)),
                    );
                    if current.is_some() {
                        events.push(Access::new(AccessKind::ContextSwitch, 0, 0).in_asid(asid));
                    }
                    current = Some(asid);
                    if !events.is_empty() {
                        if let Err(e) = sink(&events) {
                            failure = Some(RecordError::Sink(e));
                            break;
                        }
                    }
                }
                let mut batch = batch;
                if asid != 0 {
                    batch.iter_mut().for_each(|a| a.asid = asid);
                }
                if let Err(e) = sink(&batch) {
                    failure = Some(RecordError::Sink(e));
                    break;
                }
            }
            Ok(Msg::Done(id, counts)) => {
                live -= 1;
                match counts {
                    Ok(c) => per_conn[id] = Some(c),
                    Err(e) => {
                        failure = Some(e);
                        break;
                    }
                }
                if let Some(a) = asids[id] {
                    exits.push(a);
                }
            }
            Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {}
            Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => {}
        }
    }
    drop(rx);
    if let Some(e) = failure {
        let _ = child.kill();
        let _ = child.wait();
        return Err(e);
    }
    drop(tx);
    for t in threads {
        let _ = t.join();
    }
    let exit_status = match exit_status {
        Some(s) => s,
        None => child.wait().map_err(RecordError::Read)?,
    };
    let mut total = LackeyCounts::default();
    for c in per_conn.into_iter().flatten() {
        total.reads += c.reads;
        total.writes += c.writes;
        total.fetches += c.fetches;
        total.lines += c.lines;
        total.valgrind_lines += c.valgrind_lines;
        total.skipped_lines += c.skipped_lines;
        total.log_bytes += c.log_bytes;
        total.started |= c.started;
        let room = KEEP_MESSAGES.saturating_sub(total.valgrind_messages.len());
        total
            .valgrind_messages
            .extend(c.valgrind_messages.into_iter().take(room));
        let room = KEEP_SKIPPED.saturating_sub(total.first_skipped.len());
        total
            .first_skipped
            .extend(c.first_skipped.into_iter().take(room));
    }
    Ok((total, exit_status, u64::from(next_asid)))
}

/// Parses a lackey stream (`valgrind --tool=lackey --trace-mem=yes` output, arriving by any
/// means) to its end, handing its accesses to `sink` in batches of at most [`BATCH`]. The half
/// of [`record`] that reads; lines that are not lackey are counted and skipped.
pub fn read_lackey(
    input: impl Read + Send + 'static,
    sink: &mut dyn FnMut(&[Access]) -> io::Result<()>,
) -> Result<LackeyCounts, RecordError> {
    let mut stream = Stream::new(Box::new(input), DEFAULT_CHUNK_BYTES);
    let mut p = Pump {
        counts: LackeyCounts::default(),
        batch: Vec::with_capacity(BATCH),
        tail: VecDeque::new(),
        sink,
    };
    loop {
        match stream.next_lines(DEFAULT_CHUNK_BYTES) {
            Ok(Block::Data(d)) => p.block(d)?,
            Ok(Block::Long(prefix)) => p.long_line(prefix),
            Ok(_) => break,
            Err(e) => return Err(RecordError::Read(e)),
        }
    }
    p.flush()?;
    let mut counts = p.counts;
    if !p.tail.is_empty() {
        let left_out = counts.valgrind_lines - (KEEP_MESSAGES + p.tail.len()) as u64;
        if left_out > 0 {
            counts
                .valgrind_messages
                .push(format!("... ({left_out} lines left out)"));
        }
        counts.valgrind_messages.extend(p.tail);
    }
    counts.log_bytes = stream.consumed;
    counts.started |= counts.accesses() > 0;
    Ok(counts)
}

/// Valgrind writes its log a line (some 15 bytes) per `write`. A reader that empties the pipe
/// as soon as anything is in it is woken for nearly every line (Linux wakes a pipe's reader
/// when a write finds it empty): twice the system time of writing the log to a file, measured.
/// So after a short read this one waits a little before the next, and the lines gather in the
/// pipe meanwhile (about 20 KB a millisecond from lackey, well under a pipe's 64 KiB, so the
/// writer is never held up).
struct Unhurried<R>(R);

/// A read shorter than this is followed by a pause of [`PAUSE`].
const SHORT_READ: usize = 32 << 10;
const PAUSE: std::time::Duration = std::time::Duration::from_millis(1);

impl<R: Read> Read for Unhurried<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.0.read(buf)?;
        if n > 0 && n < SHORT_READ.min(buf.len()) {
            std::thread::sleep(PAUSE);
        }
        Ok(n)
    }
}

struct Pump<'a> {
    counts: LackeyCounts,
    batch: Vec<Access>,
    /// The last Valgrind lines, once the first [`KEEP_MESSAGES`] are kept.
    tail: VecDeque<String>,
    sink: &'a mut dyn FnMut(&[Access]) -> io::Result<()>,
}

impl Pump<'_> {
    /// Parses whole lines.
    fn block(&mut self, d: &[u8]) -> Result<(), RecordError> {
        let mut p = 0;
        while p < d.len() {
            if self.batch.len() > BATCH - 2 {
                self.flush()?;
            }
            self.counts.lines += 1;
            if let Some(next) = lackey::fast(d, p, &mut self.batch) {
                p = next;
                continue;
            }
            let end = memchr::memchr(b'\n', &d[p..]).map_or(d.len(), |i| p + i);
            let raw = trim_end(&d[p..end]);
            let line = trim(raw);
            p = end + 1;
            if line.starts_with(b"==") || line.starts_with(b"--") {
                self.valgrind_line(line);
            } else if is_skipped(line) {
                // Blank, or a `#` comment.
            } else if lackey::parse(line, &mut self.batch).is_err() {
                self.skipped(raw);
            }
        }
        Ok(())
    }

    /// A line longer than any lackey record, of which `prefix` was kept: skipped.
    fn long_line(&mut self, prefix: &[u8]) {
        self.counts.lines += 1;
        self.skipped(trim_end(prefix));
    }

    fn skipped(&mut self, line: &[u8]) {
        self.counts.skipped_lines += 1;
        if self.counts.first_skipped.len() < KEEP_SKIPPED {
            self.counts.first_skipped.push(shown(line));
        }
    }

    fn valgrind_line(&mut self, line: &[u8]) {
        let c = &mut self.counts;
        c.valgrind_lines += 1;
        if !c.started && memchr::memmem::find(line, b"Command: ").is_some() {
            c.started = true;
        }
        let text = shown(line);
        if c.valgrind_messages.len() < KEEP_MESSAGES {
            c.valgrind_messages.push(text);
        } else {
            if self.tail.len() == KEEP_MESSAGES {
                self.tail.pop_front();
            }
            self.tail.push_back(text);
        }
    }

    /// Hands the batch to the sink.
    fn flush(&mut self) -> Result<(), RecordError> {
        if self.batch.is_empty() {
            return Ok(());
        }
        for a in &self.batch {
            match a.kind {
                AccessKind::Read => self.counts.reads += 1,
                AccessKind::Write => self.counts.writes += 1,
                // Lackey gives nothing else.
                _ => self.counts.fetches += 1,
            }
        }
        (self.sink)(&self.batch).map_err(RecordError::Sink)?;
        self.batch.clear();
        Ok(())
    }
}

/// The Valgrind to run: the one given, or the first `valgrind` on `PATH`.
fn find_valgrind(opts: &RecordOptions) -> Result<PathBuf, RecordError> {
    match &opts.valgrind {
        Some(p) if is_executable_file(p) => Ok(p.clone()),
        Some(p) => Err(RecordError::ValgrindMissing {
            path: Some(p.clone()),
        }),
        None => {
            search_path(OsStr::new("valgrind")).ok_or(RecordError::ValgrindMissing { path: None })
        }
    }
}

/// The first executable file `name` in a directory of `PATH`.
fn search_path(name: &OsStr) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| {
            // An empty entry is the current directory, as for the shell.
            if dir.as_os_str().is_empty() {
                PathBuf::from(".").join(name)
            } else {
                dir.join(name)
            }
        })
        .find(|p| is_executable_file(p))
}

fn is_executable_file(p: &Path) -> bool {
    match std::fs::metadata(p) {
        Ok(m) => m.is_file() && executable(&m),
        Err(_) => false,
    }
}

#[cfg(unix)]
fn executable(m: &std::fs::Metadata) -> bool {
    use std::os::unix::fs::PermissionsExt;
    m.permissions().mode() & 0o111 != 0
}

#[cfg(not(unix))]
fn executable(_: &std::fs::Metadata) -> bool {
    true
}

/// Finds the failures Valgrind would report on its stderr before starting `program` (looked
/// up on `PATH` when it has no `/`, as Valgrind does): not found, a directory, not executable.
fn check_program(program: &OsStr) -> Result<(), RecordError> {
    let fail = |reason: &str| RecordError::Command {
        program: program.to_string_lossy().into_owned(),
        reason: reason.to_string(),
    };
    let has_slash = program.to_string_lossy().contains('/');
    if !has_slash {
        return match search_path(program) {
            Some(_) => Ok(()),
            None => Err(fail("command not found on PATH")),
        };
    }
    match std::fs::metadata(program) {
        Err(e) if e.kind() == io::ErrorKind::NotFound => Err(fail("no such file")),
        Err(e) => Err(fail(&e.to_string())),
        Ok(m) if m.is_dir() => Err(fail("is a directory")),
        Ok(m) if !executable(&m) => Err(fail("is not executable (no x permission)")),
        Ok(_) => Ok(()),
    }
}

/// Where Valgrind's log goes.
enum Log {
    /// A pipe of its own (`--log-fd`), read through the returned reader.
    Pipe,
    /// This `--log-socket=...` option (every process image connects anew).
    Socket(OsString),
}

/// Starts Valgrind on `program args`, its log on a pipe of its own or a socket (see the module
/// documentation); returns the pipe's read end (for [`Log::Pipe`]) and the child.
#[cfg(unix)]
fn spawn(
    valgrind: &Path,
    opts: &RecordOptions,
    log: Log,
    program: &OsStr,
    args: &[OsString],
) -> Result<(Option<io::PipeReader>, std::process::Child), RecordError> {
    use std::os::fd::AsRawFd;
    use std::os::unix::process::CommandExt;

    let spawn_err = |source| RecordError::Spawn {
        path: valgrind.to_path_buf(),
        source,
    };
    let mut command = Command::new(valgrind);
    command.arg("--tool=lackey").arg("--trace-mem=yes");
    let log = match log {
        Log::Socket(option) => {
            command.arg("--trace-children=yes").arg(option);
            None
        }
        Log::Pipe => Some(io::pipe().map_err(spawn_err)?),
    };
    // Pipe: a second close-on-exec descriptor of the write end: its number is ours, so `dup2`
    // onto it in the child overwrites nothing else, and the copy it makes is not close-on-exec.
    let mut held = None;
    if let Some((_, writer)) = &log {
        let reserved = writer.try_clone().map_err(spawn_err)?;
        let (from, to) = (writer.as_raw_fd(), reserved.as_raw_fd());
        let mut log_fd = OsString::from("--log-fd=");
        log_fd.push(to.to_string());
        command.arg(log_fd);
        // SAFETY: the closure runs in the child between fork and exec, where only
        // async-signal-safe calls are allowed; it makes one, dup2, and allocates nothing.
        unsafe {
            command.pre_exec(move || {
                if sys::dup2(from, to) == -1 {
                    Err(io::Error::last_os_error())
                } else {
                    Ok(())
                }
            });
        }
        held = Some(reserved);
    }
    command.args(&opts.valgrind_args).arg(program).args(args);
    let child = command.spawn().map_err(|e| {
        if e.kind() == io::ErrorKind::NotFound {
            RecordError::ValgrindMissing {
                path: Some(valgrind.to_path_buf()),
            }
        } else {
            spawn_err(e)
        }
    })?;
    // Only the child holds the write end now: the pipe ends when it (and what it forked) exits.
    drop(command);
    drop(held);
    let reader = log.map(|(reader, writer)| {
        drop(writer);
        reader
    });
    Ok((reader, child))
}

#[cfg(not(unix))]
fn spawn(
    valgrind: &Path,
    _: &RecordOptions,
    _: Log,
    _: &OsStr,
    _: &[OsString],
) -> Result<(Option<io::PipeReader>, std::process::Child), RecordError> {
    Err(RecordError::Spawn {
        path: valgrind.to_path_buf(),
        source: io::Error::new(io::ErrorKind::Unsupported, "recording needs a Unix system"),
    })
}

#[cfg(unix)]
mod sys {
    use std::ffi::c_int;

    extern "C" {
        /// POSIX `dup2`, from the C library std links anyway (declared here rather than adding
        /// the `libc` crate for one function).
        pub fn dup2(oldfd: c_int, newfd: c_int) -> c_int;
    }
}
