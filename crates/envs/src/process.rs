//! The one process runner every tool goes through.
//!
//! A [`ToolCommand`] is an argv list plus an **allowlisted** environment: it starts from an
//! empty environment and copies only the host variables that are safe to inherit (see
//! [`inherits`]). Variables that silently change what conda, mamba, pip, uv or Python do
//! (`CONDA_*`, `_CE_*`, `MAMBA_*`, most `PIP_*` and `UV_*`, `VIRTUAL_ENV`, `PYTHON*`, `PS1`)
//! are never inherited; a driver that needs one sets it explicitly with
//! [`ToolCommand::env`]. stdin is always `/dev/null`, because conda waits for ever on an
//! open stdin pipe and treats EOF as "no".
//!
//! [`run`] captures stdout and stderr on their own threads (no pipe deadlock), feeds the
//! command line and both streams' lines to a [`ProcessObserver`] as they arrive, and polls a [`CancelToken`] every
//! 20 ms. The child runs in its own process group: a terminal Ctrl-C does not reach it
//! directly; the caller flips the token and [`run`] sends SIGINT to the whole group, waits
//! a grace period, then SIGKILLs it and returns [`ProcessError::Interrupted`].
//!
//! On Linux the child is also bound to the life of the process that started it
//! (`PR_SET_PDEATHSIG`, see [`die_with_parent`]): when `kernels` is SIGKILLed or OOM-killed,
//! no rollback runs in it, and an installer left running would go on writing into an
//! environment the next run is about to delete; the kernel kills the tool instead. The
//! signal reaches the tool only, not the helpers it started (conda's `compileall` workers,
//! pip's build processes); for those, a program that embeds the runner can name a
//! **group reaper** ([`set_group_reaper`]): a small process started beside each tool that
//! kills the tool's whole process group the moment this process dies (see
//! [`reap_group_main`]).

use std::collections::BTreeMap;
use std::ffi::{OsStr, OsString};
use std::fmt;
use std::io::{BufRead, BufReader, Read};
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc, OnceLock};
use std::time::{Duration, Instant};

use crate::vars::{self, HostEnv};

/// How often a running child is polled for exit and cancellation.
const POLL: Duration = Duration::from_millis(20);
/// How long a child gets to exit after SIGINT before it is killed.
const INTERRUPT_GRACE: Duration = Duration::from_secs(3);
/// How long to keep draining pipes after the child exited (a grandchild may hold them).
const DRAIN_LIMIT: Duration = Duration::from_secs(2);
/// How much of stdout/stderr an error message keeps.
const TAIL_LINES: usize = 40;

/// Exact variable names a child inherits from the host.
const INHERIT_EXACT: &[&str] = &[
    "HOME",
    "USER",
    "LOGNAME",
    "LANG",
    "LANGUAGE",
    "TMPDIR",
    "TZ",
    "TERM",
    "NO_COLOR",
    "REQUESTS_CA_BUNDLE",
    "CURL_CA_BUNDLE",
    // pip index / certificate configuration: managed machines point these at mirrors.
    "PIP_INDEX_URL",
    "PIP_EXTRA_INDEX_URL",
    "PIP_FIND_LINKS",
    "PIP_CERT",
    "PIP_CLIENT_CERT",
    "PIP_TRUSTED_HOST",
    "PIP_CACHE_DIR",
    "PIP_DEFAULT_TIMEOUT",
    "PIP_DISABLE_PIP_VERSION_CHECK",
    // uv index / cache configuration, for the same reason.
    "UV_INDEX_URL",
    "UV_DEFAULT_INDEX",
    "UV_INDEX",
    "UV_EXTRA_INDEX_URL",
    "UV_FIND_LINKS",
    "UV_CACHE_DIR",
    "UV_NATIVE_TLS",
    "UV_HTTP_TIMEOUT",
    "UV_INSECURE_HOST",
    "UV_OFFLINE",
];

/// Variable name prefixes a child inherits: locale, certificates, and conda's virtual-package
/// overrides (`CONDA_OVERRIDE_CUDA`, `CONDA_OVERRIDE_GLIBC`, …), which conda, mamba and
/// micromamba read to solve for a GPU or libc the build machine does not have.
const INHERIT_PREFIXES: &[&str] = &["LC_", "SSL_CERT_", "CONDA_OVERRIDE_"];

/// True when a host variable named `name` is passed to children.
///
/// Inherited: `HOME`, `USER`, `LOGNAME`, `LANG`, `LANGUAGE`, `LC_*`, `TMPDIR`, `TZ`,
/// `TERM`, `NO_COLOR`, `SSL_CERT_*`, `REQUESTS_CA_BUNDLE`, `CURL_CA_BUNDLE`,
/// `CONDA_OVERRIDE_*` (virtual packages: an image built on a GPU-less machine), proxies
/// (`http_proxy`, `HTTPS_PROXY`, `no_proxy`, … in either case), and the pip/uv **index,
/// certificate and cache** settings (`PIP_INDEX_URL`, `PIP_EXTRA_INDEX_URL`,
/// `PIP_FIND_LINKS`, `PIP_CERT`, `PIP_TRUSTED_HOST`, `PIP_CACHE_DIR`, `UV_INDEX_URL`,
/// `UV_DEFAULT_INDEX`, `UV_EXTRA_INDEX_URL`, `UV_FIND_LINKS`, `UV_CACHE_DIR`, …): users on
/// managed machines rely on mirrors and corporate CAs, and dropping those would make every
/// install fail there. `PATH` is not inherited here; it is set from [`HostEnv::path`].
///
/// Everything else is dropped, in particular the other `CONDA_*`, `_CE_*`, `_CONDA_*`, `MAMBA_*`,
/// the other `PIP_*`/`UV_*` settings (`PIP_REQUIRE_VIRTUALENV`, `UV_PYTHON`, …),
/// `VIRTUAL_ENV`, `PYTHON*` and `PS1`, which change a tool's target or behaviour.
pub fn inherits(name: &str) -> bool {
    if INHERIT_EXACT.contains(&name) || INHERIT_PREFIXES.iter().any(|p| name.starts_with(p)) {
        return true;
    }
    let lower = name.to_ascii_lowercase();
    lower.ends_with("_proxy") && !lower.starts_with("pip_") && !lower.starts_with("uv_")
}

/// The allowlisted environment a child starts from: [`inherits`] applied to `host`,
/// plus `PATH` from [`HostEnv::path`].
pub fn allowlisted_env(host: &HostEnv) -> BTreeMap<String, String> {
    let mut env: BTreeMap<String, String> = host
        .vars
        .iter()
        .filter(|(k, _)| inherits(k))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    env.insert(vars::PATH.to_owned(), host.path_string());
    env
}

/// A tool invocation: program, argv, allowlisted environment and working directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ToolCommand {
    program: PathBuf,
    args: Vec<OsString>,
    env: BTreeMap<String, String>,
    cwd: Option<PathBuf>,
    timeout: Option<Duration>,
}

impl ToolCommand {
    /// A command for `program` whose environment is [`allowlisted_env`] of `host`.
    pub fn new(program: impl Into<PathBuf>, host: &HostEnv) -> ToolCommand {
        ToolCommand {
            program: program.into(),
            args: Vec::new(),
            env: allowlisted_env(host),
            cwd: None,
            timeout: None,
        }
    }

    /// Appends one argument.
    pub fn arg(mut self, arg: impl AsRef<OsStr>) -> ToolCommand {
        self.args.push(arg.as_ref().to_owned());
        self
    }

    /// Appends several arguments.
    pub fn args<I, S>(mut self, args: I) -> ToolCommand
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        self.args
            .extend(args.into_iter().map(|a| a.as_ref().to_owned()));
        self
    }

    /// Sets a variable explicitly (allowed even when [`inherits`] would drop it).
    pub fn env(mut self, key: impl Into<String>, value: impl Into<String>) -> ToolCommand {
        self.env.insert(key.into(), value.into());
        self
    }

    /// Removes a variable from the child's environment.
    pub fn env_remove(mut self, key: &str) -> ToolCommand {
        self.env.remove(key);
        self
    }

    /// Replaces the child's `PATH`.
    pub fn path_dirs(self, dirs: &[PathBuf]) -> ToolCommand {
        let joined = vars::join_path_list(dirs);
        self.env(vars::PATH, joined)
    }

    /// Sets the working directory.
    pub fn cwd(mut self, dir: impl Into<PathBuf>) -> ToolCommand {
        self.cwd = Some(dir.into());
        self
    }

    /// Kills the child (and returns [`ProcessError::TimedOut`]) after `limit`.
    pub fn timeout(mut self, limit: Duration) -> ToolCommand {
        self.timeout = Some(limit);
        self
    }

    /// The program.
    pub fn program(&self) -> &Path {
        &self.program
    }

    /// The arguments (without the program).
    pub fn get_args(&self) -> &[OsString] {
        &self.args
    }

    /// The arguments as lossy strings (for tests and messages).
    pub fn args_lossy(&self) -> Vec<String> {
        self.args
            .iter()
            .map(|a| a.to_string_lossy().into_owned())
            .collect()
    }

    /// The complete environment the child will get.
    pub fn get_env(&self) -> &BTreeMap<String, String> {
        &self.env
    }

    /// The working directory, if set.
    pub fn get_cwd(&self) -> Option<&Path> {
        self.cwd.as_deref()
    }

    /// The command line, shell-quoted where needed, for display (`--dry-run`, errors).
    /// Never executed through a shell.
    pub fn display(&self) -> String {
        std::iter::once(self.program.as_os_str())
            .chain(self.args.iter().map(OsString::as_os_str))
            .map(|a| shell_quote(&a.to_string_lossy()))
            .collect::<Vec<_>>()
            .join(" ")
    }
}

impl fmt::Display for ToolCommand {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.display())
    }
}

/// Quotes `s` for display in a POSIX shell when it contains special characters.
pub fn shell_quote(s: &str) -> String {
    let plain = !s.is_empty()
        && s.chars().all(|c| {
            c.is_ascii_alphanumeric()
                || matches!(c, '-' | '_' | '.' | '/' | ':' | '=' | '+' | ',' | '@' | '%')
        });
    if plain {
        s.to_owned()
    } else {
        format!("'{}'", s.replace('\'', r"'\''"))
    }
}

/// A flag shared between the caller (e.g. a Ctrl-C handler) and [`run`].
#[derive(Debug, Clone, Default)]
pub struct CancelToken(Arc<AtomicBool>);

impl CancelToken {
    /// A token that is not cancelled.
    pub fn new() -> CancelToken {
        CancelToken::default()
    }

    /// Requests cancellation; running and future [`run`] calls stop their child.
    pub fn cancel(&self) {
        self.0.store(true, Ordering::SeqCst);
    }

    /// True once [`CancelToken::cancel`] was called.
    pub fn is_cancelled(&self) -> bool {
        self.0.load(Ordering::SeqCst)
    }

    /// The shared flag, e.g. for `signal_hook::flag::register`.
    pub fn flag(&self) -> Arc<AtomicBool> {
        Arc::clone(&self.0)
    }
}

/// Receives a running tool's command line and output as it happens.
pub trait ProcessObserver {
    /// The command is about to start.
    fn command(&self, cmd: &ToolCommand) {
        let _ = cmd;
    }
    /// One line of the child's stdout (without the newline).
    fn stdout_line(&self, line: &str) {
        let _ = line;
    }
    /// One line of the child's stderr (without the newline).
    fn stderr_line(&self, line: &str) {
        let _ = line;
    }
}

/// An observer that ignores everything.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoObserver;

impl ProcessObserver for NoObserver {}

/// What a finished tool produced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ToolOutput {
    /// Exit code, or `None` when a signal ended the process.
    pub code: Option<i32>,
    /// Terminating signal, if any.
    pub signal: Option<i32>,
    /// Everything written to stdout (lossy UTF-8).
    pub stdout: String,
    /// Everything written to stderr (lossy UTF-8).
    pub stderr: String,
}

impl ToolOutput {
    /// True for exit code 0.
    pub fn success(&self) -> bool {
        self.code == Some(0)
    }

    /// How the process ended, for messages (a process with neither a code nor a signal
    /// counts as exit status -1).
    pub fn exit(&self) -> ExitDescription {
        match (self.code, self.signal) {
            (Some(c), _) => ExitDescription::Code(c),
            (None, Some(s)) => ExitDescription::Signal(s),
            (None, None) => ExitDescription::Code(-1),
        }
    }

    /// Turns a non-zero exit into [`ProcessError::Failed`] carrying the output.
    pub fn check(self, cmd: &ToolCommand) -> Result<ToolOutput, ProcessError> {
        if self.success() {
            Ok(self)
        } else {
            Err(ProcessError::failed(cmd, &self))
        }
    }
}

/// How a process ended, for messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExitDescription {
    /// Exited with this code.
    Code(i32),
    /// Killed by this signal.
    Signal(i32),
}

impl fmt::Display for ExitDescription {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ExitDescription::Code(c) => write!(f, "exit status {c}"),
            ExitDescription::Signal(s) => write!(f, "signal {s}"),
        }
    }
}

/// Why running a tool did not produce a successful result.
#[derive(Debug, thiserror::Error)]
pub enum ProcessError {
    /// The program does not exist.
    #[error("`{program}` was not found", program = program.display())]
    NotFound {
        /// The program that was looked for.
        program: PathBuf,
    },
    /// The program exists but could not be started.
    #[error("failed to start `{program}`", program = program.display())]
    Spawn {
        /// The program.
        program: PathBuf,
        /// The operating system's error.
        #[source]
        source: std::io::Error,
    },
    /// Waiting for the program or reading its output failed.
    #[error("failed while waiting for `{program}`", program = program.display())]
    Wait {
        /// The program.
        program: PathBuf,
        /// The operating system's error.
        #[source]
        source: std::io::Error,
    },
    /// The program ran and exited unsuccessfully. `Display` is one line; the output is in
    /// the fields (`tool_error` summarises it).
    #[error("`{command}` failed with {status}")]
    Failed {
        /// The command line as displayed.
        command: String,
        /// How it ended.
        status: ExitDescription,
        /// The last lines of stdout.
        stdout_tail: String,
        /// The last lines of stderr.
        stderr_tail: String,
    },
    /// Cancelled through the [`CancelToken`]; the child's process group was stopped.
    #[error("`{command}` was interrupted")]
    Interrupted {
        /// The command line as displayed.
        command: String,
        /// The last lines of stderr before the interruption.
        stderr_tail: String,
    },
    /// The command's timeout elapsed; the child's process group was killed.
    #[error("`{command}` timed out after {}s", limit.as_secs())]
    TimedOut {
        /// The command line as displayed.
        command: String,
        /// The timeout.
        limit: Duration,
    },
}

impl ProcessError {
    /// A [`ProcessError::Failed`] for `cmd` that ended with `out`.
    pub fn failed(cmd: &ToolCommand, out: &ToolOutput) -> ProcessError {
        ProcessError::Failed {
            command: cmd.display(),
            status: out.exit(),
            stdout_tail: tail(&out.stdout, TAIL_LINES),
            stderr_tail: tail(&out.stderr, TAIL_LINES),
        }
    }

    /// True for [`ProcessError::Interrupted`].
    pub fn is_interrupted(&self) -> bool {
        matches!(self, ProcessError::Interrupted { .. })
    }
}

/// The last `n` lines of `s`.
pub fn tail(s: &str, n: usize) -> String {
    let lines: Vec<&str> = s.lines().collect();
    let start = lines.len().saturating_sub(n);
    lines[start..].join("\n")
}

/// Runs `cmd` to completion and returns its output whatever the exit status.
///
/// Use [`ToolOutput::check`] (or [`run_checked`]) when a non-zero exit is an error; the
/// conda driver instead parses stdout first, because conda reports errors as JSON.
pub fn run(
    cmd: &ToolCommand,
    cancel: &CancelToken,
    observer: &dyn ProcessObserver,
) -> Result<ToolOutput, ProcessError> {
    if cancel.is_cancelled() {
        return Err(ProcessError::Interrupted {
            command: cmd.display(),
            stderr_tail: String::new(),
        });
    }
    let mut child = spawn(cmd)?;
    // Dropped on every way out of this function, after the group was dealt with.
    let _reaper = GroupReaper::start(child.id());

    observer.command(cmd);
    let (tx, rx) = mpsc::channel::<Chunk>();
    if let Some(stdout) = child.stdout.take() {
        read_lines(stdout, Stream::Stdout, tx.clone());
    }
    if let Some(stderr) = child.stderr.take() {
        read_lines(stderr, Stream::Stderr, tx.clone());
    }
    drop(tx);

    let mut acc = Collected::default();
    let status = wait_for_exit(cmd, &mut child, &rx, &mut acc, cancel, observer)?;

    // The child exited; collect what is left in the pipes, but do not wait for ever on a
    // grandchild that inherited them.
    let deadline = Instant::now() + DRAIN_LIMIT;
    while acc.open() {
        let left = deadline.saturating_duration_since(Instant::now());
        match rx.recv_timeout(left) {
            Ok(chunk) => acc.take(chunk, observer),
            Err(_) => acc.close_all(),
        }
    }
    if let Some(source) = acc.read_error.take() {
        return Err(ProcessError::Wait {
            program: cmd.program.clone(),
            source,
        });
    }
    Ok(ToolOutput {
        code: status.code(),
        signal: status.signal(),
        stdout: acc.stdout,
        stderr: acc.stderr,
    })
}

/// Starts `cmd` in a process group of its own, with exactly its environment, no stdin, its
/// output piped and a parent-death signal; a missing program is [`ProcessError::NotFound`].
fn spawn(cmd: &ToolCommand) -> Result<Child, ProcessError> {
    let mut command = Command::new(&cmd.program);
    command
        .args(&cmd.args)
        .env_clear()
        .envs(&cmd.env)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0);
    if let Some(dir) = &cmd.cwd {
        command.current_dir(dir);
    }
    die_with_parent(&mut command);
    command.spawn().map_err(|source| {
        if source.kind() == std::io::ErrorKind::NotFound {
            ProcessError::NotFound {
                program: cmd.program.clone(),
            }
        } else {
            ProcessError::Spawn {
                program: cmd.program.clone(),
                source,
            }
        }
    })
}

/// Collects `child`'s output from `rx` until it exits; stops its group when the run is
/// cancelled, kills it when it outlives `cmd.timeout` or cannot be waited for.
fn wait_for_exit(
    cmd: &ToolCommand,
    child: &mut Child,
    rx: &mpsc::Receiver<Chunk>,
    acc: &mut Collected,
    cancel: &CancelToken,
    observer: &dyn ProcessObserver,
) -> Result<ExitStatus, ProcessError> {
    let started = Instant::now();
    loop {
        if acc.open() {
            match rx.recv_timeout(POLL) {
                Ok(chunk) => acc.take(chunk, observer),
                Err(mpsc::RecvTimeoutError::Timeout) => {}
                Err(mpsc::RecvTimeoutError::Disconnected) => acc.close_all(),
            }
        } else {
            std::thread::sleep(POLL);
        }
        if cancel.is_cancelled() {
            stop_group(child);
            return Err(ProcessError::Interrupted {
                command: cmd.display(),
                stderr_tail: tail(&acc.stderr, TAIL_LINES),
            });
        }
        if let Some(limit) = cmd.timeout {
            if started.elapsed() > limit {
                kill_group(child);
                return Err(ProcessError::TimedOut {
                    command: cmd.display(),
                    limit,
                });
            }
        }
        match child.try_wait() {
            Ok(Some(status)) => return Ok(status),
            Ok(None) => {}
            Err(source) => {
                kill_group(child);
                return Err(ProcessError::Wait {
                    program: cmd.program.clone(),
                    source,
                });
            }
        }
    }
}

/// Which pipe a [`Chunk`] came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stream {
    Stdout,
    Stderr,
}

/// What a pipe reader thread sends: a line (with its newline, if any), its end, or an error.
enum Chunk {
    Line(Stream, Vec<u8>),
    End(Stream),
    Failed(Stream, std::io::Error),
}

/// Reads `pipe` line by line on its own thread (no pipe deadlock), sending each line.
fn read_lines(pipe: impl Read + Send + 'static, stream: Stream, tx: mpsc::Sender<Chunk>) {
    std::thread::spawn(move || {
        let mut reader = BufReader::new(pipe);
        loop {
            let mut line = Vec::new();
            match reader.read_until(b'\n', &mut line) {
                Ok(0) => {
                    let _ = tx.send(Chunk::End(stream));
                    break;
                }
                Ok(_) => {
                    if tx.send(Chunk::Line(stream, line)).is_err() {
                        break;
                    }
                }
                Err(e) => {
                    let _ = tx.send(Chunk::Failed(stream, e));
                    break;
                }
            }
        }
    });
}

/// Both streams as collected so far.
struct Collected {
    stdout: String,
    stderr: String,
    stdout_open: bool,
    stderr_open: bool,
    read_error: Option<std::io::Error>,
}

impl Default for Collected {
    fn default() -> Collected {
        Collected {
            stdout: String::new(),
            stderr: String::new(),
            stdout_open: true,
            stderr_open: true,
            read_error: None,
        }
    }
}

impl Collected {
    fn open(&self) -> bool {
        self.stdout_open || self.stderr_open
    }

    fn close_all(&mut self) {
        self.stdout_open = false;
        self.stderr_open = false;
    }

    fn take(&mut self, chunk: Chunk, observer: &dyn ProcessObserver) {
        match chunk {
            Chunk::Line(stream, bytes) => {
                let text = String::from_utf8_lossy(&bytes);
                let line = text.trim_end_matches(['\n', '\r']);
                match stream {
                    Stream::Stdout => {
                        self.stdout.push_str(&text);
                        observer.stdout_line(line);
                    }
                    Stream::Stderr => {
                        self.stderr.push_str(&text);
                        observer.stderr_line(line);
                    }
                }
            }
            Chunk::End(stream) => self.close(stream),
            Chunk::Failed(stream, e) => {
                if stream == Stream::Stdout {
                    self.read_error = Some(e);
                }
                self.close(stream);
            }
        }
    }

    fn close(&mut self, stream: Stream) {
        match stream {
            Stream::Stdout => self.stdout_open = false,
            Stream::Stderr => self.stderr_open = false,
        }
    }
}

/// [`run`], then [`ToolOutput::check`].
pub fn run_checked(
    cmd: &ToolCommand,
    cancel: &CancelToken,
    observer: &dyn ProcessObserver,
) -> Result<ToolOutput, ProcessError> {
    run(cmd, cancel, observer)?.check(cmd)
}

/// Makes the child receive SIGKILL when the thread that spawned it dies (`PR_SET_PDEATHSIG`),
/// so a tool never outlives a `kernels` killed outright.
///
/// Linux ties the signal to the spawning *thread*, not the process. That is sound here:
/// [`run`] spawns the child and then waits for it (or kills it) on that same thread before
/// returning, so the thread cannot end while the child is alive unless the whole process
/// dies, which is the case this is for. The tool's own helpers (grandchildren, in the same
/// process group) are not covered by the signal; see `docs/crash-safety.md`.
///
/// A parent that died between `fork` and the `prctl` would never send the signal, so the
/// child checks that its parent is still the process that forked it and fails the spawn
/// otherwise.
#[cfg(target_os = "linux")]
#[allow(unsafe_code)]
fn die_with_parent(command: &mut Command) {
    let parent = rustix::process::getpid();
    // SAFETY: the closure runs in the forked child before `exec`. It makes only the raw
    // `prctl` and `getppid` system calls (async-signal-safe), takes no locks and allocates
    // nothing (the error it may return is a plain OS error code).
    unsafe {
        command.pre_exec(move || {
            rustix::process::set_parent_process_death_signal(Some(rustix::process::Signal::KILL))?;
            if rustix::process::getppid() != Some(parent) {
                return Err(std::io::Error::from(rustix::io::Errno::SRCH));
            }
            Ok(())
        });
    }
}

/// Elsewhere there is no parent-death signal; the process group is all there is.
#[cfg(not(target_os = "linux"))]
fn die_with_parent(_command: &mut Command) {}

/// The argument that makes a program embedding this runner act as a group reaper
/// ([`set_group_reaper`], [`reap_group_main`]).
pub const REAP_GROUP_ARG: &str = "__reap-group";

/// What this process runs as a group reaper: `program REAP_GROUP_ARG PGID`.
static REAPER: OnceLock<PathBuf> = OnceLock::new();

/// Names the program (normally this very executable) that reaps a tool's process group when
/// this process dies: [`run`] then starts `program __reap-group PGID` beside every tool, with
/// a pipe from this process on its stdin. The program must call [`reap_group_main`] when it
/// sees that argument. Set once; later calls are ignored.
pub fn set_group_reaper(program: PathBuf) {
    let _ = REAPER.set(program);
}

/// The group reaper's whole life: waits on stdin; `done` (the tool's run ended normally)
/// means exit; end of file without it means the process that started it died without a
/// word (SIGKILL, OOM), so the tool's process group `pgid` is killed. Returns the exit code.
pub fn reap_group_main(pgid: &str) -> i32 {
    let Some(pid) = pgid
        .parse::<i32>()
        .ok()
        .and_then(rustix::process::Pid::from_raw)
        .filter(|p| p.as_raw_nonzero().get() > 1)
    else {
        return 2;
    };
    let mut said = Vec::new();
    let _ = std::io::stdin().take(16).read_to_end(&mut said);
    if said != b"done" {
        let _ = rustix::process::kill_process_group(pid, rustix::process::Signal::KILL);
    }
    0
}

/// A started group reaper; dropping it tells it the run ended normally.
struct GroupReaper {
    child: Child,
}

impl GroupReaper {
    /// Starts the reaper for the group led by `pgid`, when one is set (best effort: without
    /// it only the parent-death signal guards the tool).
    fn start(pgid: u32) -> Option<GroupReaper> {
        let program = REAPER.get()?;
        let child = Command::new(program)
            .arg(REAP_GROUP_ARG)
            .arg(pgid.to_string())
            .env_clear()
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            // Its own group: a terminal's Ctrl-C is for the run, not for the reaper.
            .process_group(0)
            .spawn()
            .ok()?;
        Some(GroupReaper { child })
    }
}

impl Drop for GroupReaper {
    fn drop(&mut self) {
        use std::io::Write;
        if let Some(mut stdin) = self.child.stdin.take() {
            let _ = stdin.write_all(b"done");
        }
        let _ = self.child.wait();
    }
}

fn group_signal(child: &Child, sig: rustix::process::Signal) {
    let pid = rustix::process::Pid::from_child(child);
    // The child leads its own group (process_group(0)), so its pid is the group id.
    if rustix::process::kill_process_group(pid, sig).is_err() {
        let _ = rustix::process::kill_process(pid, sig);
    }
}

/// SIGINT to the group, a grace period, then SIGKILL.
fn stop_group(child: &mut Child) {
    group_signal(child, rustix::process::Signal::INT);
    let deadline = Instant::now() + INTERRUPT_GRACE;
    while Instant::now() < deadline {
        if let Ok(Some(_)) = child.try_wait() {
            // The leader is gone; make sure its helpers are too.
            group_signal(child, rustix::process::Signal::KILL);
            return;
        }
        std::thread::sleep(POLL);
    }
    kill_group(child);
}

fn kill_group(child: &mut Child) {
    group_signal(child, rustix::process::Signal::KILL);
    let _ = child.kill();
    let _ = child.wait();
}

/// Finds `name` in `dirs` (the first executable regular file), like a shell would.
pub fn find_on_path(name: &str, dirs: &[PathBuf]) -> Option<PathBuf> {
    dirs.iter().map(|d| d.join(name)).find(|p| is_executable(p))
}

/// True when `path` is a regular file (after symlinks) with an execute bit.
pub fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::RefCell;

    fn host() -> HostEnv {
        HostEnv::from_vars([
            ("HOME", "/home/u"),
            ("PATH", "/usr/bin:/bin"),
            ("LANG", "C.UTF-8"),
            ("LC_ALL", "C"),
            ("CONDA_PREFIX", "/opt/conda/envs/x"),
            ("CONDA_SHLVL", "1"),
            ("CONDA_OVERRIDE_CUDA", "12.4"),
            ("_CE_M", ""),
            ("MAMBA_ROOT_PREFIX", "/m"),
            ("PIP_REQUIRE_VIRTUALENV", "1"),
            ("PIP_INDEX_URL", "https://mirror/simple"),
            ("UV_PYTHON", "3.9"),
            ("UV_INDEX_URL", "https://mirror/simple"),
            ("VIRTUAL_ENV", "/v"),
            ("PYTHONPATH", "/p"),
            ("https_proxy", "http://proxy:3128"),
            ("SSL_CERT_FILE", "/etc/ssl/cert.pem"),
            ("PS1", "$ "),
        ])
    }

    #[test]
    fn allowlist_keeps_locale_proxies_and_index_config_only() {
        let env = allowlisted_env(&host());
        let keys: Vec<&str> = env.keys().map(String::as_str).collect();
        assert_eq!(
            keys,
            [
                "CONDA_OVERRIDE_CUDA",
                "HOME",
                "LANG",
                "LC_ALL",
                "PATH",
                "PIP_INDEX_URL",
                "SSL_CERT_FILE",
                "UV_INDEX_URL",
                "https_proxy"
            ]
        );
        assert_eq!(env["PATH"], "/usr/bin:/bin");
    }

    #[test]
    fn display_quotes_only_when_needed() {
        let cmd = ToolCommand::new("/bin/echo", &host()).args(["a b", "c", "it's"]);
        assert_eq!(cmd.display(), r#"/bin/echo 'a b' c 'it'\''s'"#);
    }

    #[test]
    fn run_captures_both_streams_and_status_without_deadlock() {
        // 1 MiB on each stream: a runner that reads one pipe after the other would block.
        let script = "head -c 1048576 /dev/zero | tr '\\0' o; head -c 1048576 /dev/zero | tr '\\0' e >&2; echo; echo last >&2; exit 3";
        let cmd = ToolCommand::new("/bin/sh", &host()).args(["-c", script]);
        let out = run(&cmd, &CancelToken::new(), &NoObserver).unwrap();
        assert_eq!(out.code, Some(3));
        assert_eq!(out.stdout.len(), 1048576 + 1);
        assert!(out.stderr.ends_with("last\n"));
        let err = out.check(&cmd).unwrap_err();
        let msg = err.to_string();
        assert!(msg.starts_with("`/bin/sh -c "), "{msg}");
        assert!(msg.ends_with("failed with exit status 3"), "{msg}");
        assert!(!msg.contains('\n'), "one line: {msg}");
    }

    #[test]
    fn child_sees_only_the_allowlisted_env_and_devnull_stdin() {
        let cmd = ToolCommand::new("/bin/sh", &host())
            .env("MAMBA_ROOT_PREFIX", "/explicit")
            .args(["-c", "env; if read x; then echo got-input; fi"]);
        let out = run(&cmd, &CancelToken::new(), &NoObserver).unwrap();
        assert!(out.success());
        assert!(!out.stdout.contains("CONDA_PREFIX"));
        assert!(!out.stdout.contains("VIRTUAL_ENV"));
        assert!(!out.stdout.contains("PYTHONPATH"));
        assert!(!out.stdout.contains("PIP_REQUIRE_VIRTUALENV"));
        assert!(out.stdout.contains("MAMBA_ROOT_PREFIX=/explicit"));
        assert!(out.stdout.contains("PIP_INDEX_URL=https://mirror/simple"));
        assert!(!out.stdout.contains("got-input"), "stdin must be at EOF");
    }

    #[test]
    fn observer_gets_the_command_and_both_streams_live() {
        struct Lines(RefCell<Vec<String>>);
        impl ProcessObserver for Lines {
            fn command(&self, cmd: &ToolCommand) {
                self.0
                    .borrow_mut()
                    .push(format!("$ {}", cmd.program().display()));
            }
            fn stdout_line(&self, line: &str) {
                self.0.borrow_mut().push(format!("out {line}"));
            }
            fn stderr_line(&self, line: &str) {
                self.0.borrow_mut().push(format!("err {line}"));
            }
        }
        let lines = Lines(RefCell::new(Vec::new()));
        // Each line waits for the previous one to arrive, so the order is the tool's.
        let script = "echo one >&2; sleep 0.2; echo two; sleep 0.2; printf three >&2";
        let cmd = ToolCommand::new("/bin/sh", &host()).args(["-c", script]);
        let out = run(&cmd, &CancelToken::new(), &lines).unwrap();
        assert_eq!(
            *lines.0.borrow(),
            ["$ /bin/sh", "err one", "out two", "err three"]
        );
        assert_eq!(out.stdout, "two\n");
        assert_eq!(out.stderr, "one\nthree");
    }

    #[test]
    fn missing_program_is_not_found() {
        let cmd = ToolCommand::new("/nonexistent/tool", &host());
        let err = run(&cmd, &CancelToken::new(), &NoObserver).unwrap_err();
        assert!(matches!(err, ProcessError::NotFound { .. }), "{err:?}");
    }

    #[test]
    fn cancel_interrupts_the_whole_process_group() {
        let dir = tempfile::tempdir().unwrap();
        let marker = dir.path().join("grandchild-pid");
        // The grandchild records its pid; after cancellation it must be gone too.
        let script = format!("sleep 30 & echo $! > '{}'; wait", marker.display());
        let cmd = ToolCommand::new("/bin/sh", &host()).args(["-c", &script]);
        let cancel = CancelToken::new();
        let c2 = cancel.clone();
        let t = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(300));
            c2.cancel();
        });
        // Interrupted, not the end of `sleep 30`: the cancel stopped it (how fast is not a
        // test's business).
        let err = run(&cmd, &cancel, &NoObserver).unwrap_err();
        t.join().unwrap();
        assert!(err.is_interrupted(), "{err:?}");
        let pid = std::fs::read_to_string(&marker).unwrap();
        std::thread::sleep(Duration::from_millis(100));
        let alive = Path::new("/proc").join(pid.trim()).join("stat");
        let state = std::fs::read_to_string(&alive).unwrap_or_default();
        // Gone, or a zombie waiting for init to reap it.
        assert!(
            state.is_empty() || state.contains(") Z"),
            "grandchild alive: {state}"
        );
    }

    #[test]
    fn timeout_kills() {
        let cmd = ToolCommand::new("/bin/sh", &host())
            .args(["-c", "sleep 30"])
            .timeout(Duration::from_millis(200));
        let err = run(&cmd, &CancelToken::new(), &NoObserver).unwrap_err();
        assert!(matches!(err, ProcessError::TimedOut { .. }), "{err:?}");
    }
}
