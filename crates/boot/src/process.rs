//! The kernel's OS process: spawning in a new process group, draining its output
//! into bounded tails, signalling the group, and reaping it.

use std::collections::{BTreeMap, VecDeque};
use std::io::{BufRead, BufReader, Read};
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::error::BootError;

/// How many lines of stdout and of stderr we keep.
pub(crate) const TAIL_LINES: usize = 40;

/// Where to find `kill(1)`; std has no `killpg`, and unsafe code is not allowed here.
const KILL_PROGRAMS: [&str; 2] = ["/bin/kill", "/usr/bin/kill"];

/// How often waits re-check whether the process exited.
const POLL: Duration = Duration::from_millis(50);

/// A signal we send to the kernel's process group.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Signal {
    /// Interrupt.
    Int,
    /// Polite termination.
    Term,
    /// Forced termination.
    Kill,
}

impl Signal {
    /// Name without the `SIG` prefix, as `kill -s` takes it.
    pub(crate) fn name(self) -> &'static str {
        match self {
            Self::Int => "INT",
            Self::Term => "TERM",
            Self::Kill => "KILL",
        }
    }
}

/// The last lines of one output stream, shared with its reader thread.
#[derive(Debug, Clone, Default)]
pub(crate) struct Tail(Arc<Mutex<VecDeque<String>>>);

impl Tail {
    fn push(&self, line: String) {
        let mut lines = self
            .0
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if lines.len() == TAIL_LINES {
            lines.pop_front();
        }
        lines.push_back(line);
    }

    /// A copy of the lines kept so far.
    pub(crate) fn snapshot(&self) -> Vec<String> {
        let lines = self
            .0
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        lines.iter().cloned().collect()
    }
}

/// How the process ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Exit {
    /// Exit code, when it exited normally.
    pub(crate) code: Option<i32>,
    /// Signal number, when a signal killed it.
    pub(crate) signal: Option<i32>,
}

impl From<ExitStatus> for Exit {
    fn from(status: ExitStatus) -> Self {
        Self {
            code: status.code(),
            signal: status.signal(),
        }
    }
}

/// A running (or exited) kernel process, leader of its own process group.
#[derive(Debug)]
pub(crate) struct KernelProcess {
    name: String,
    child: Child,
    pid: u32,
    exit: Option<Exit>,
    stdout: Tail,
    stderr: Tail,
    readers: Vec<JoinHandle<()>>,
}

impl KernelProcess {
    /// Spawn `program argv[1..]` with exactly `env`, stdin null, output piped, in a new
    /// process group.
    pub(crate) fn spawn(
        name: &str,
        program: &Path,
        args: &[String],
        env: &BTreeMap<String, String>,
        cwd: Option<&Path>,
    ) -> Result<Self, BootError> {
        let mut command = Command::new(program);
        command
            .args(args)
            .env_clear()
            .envs(env)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .process_group(0);
        if let Some(cwd) = cwd {
            command.current_dir(cwd);
        }
        let mut child = command.spawn().map_err(|source| BootError::Spawn {
            name: name.to_owned(),
            program: program.to_path_buf(),
            source,
        })?;
        let stdout = Tail::default();
        let stderr = Tail::default();
        let mut readers = Vec::with_capacity(2);
        if let Some(out) = child.stdout.take() {
            readers.push(drain(out, stdout.clone()));
        }
        if let Some(err) = child.stderr.take() {
            readers.push(drain(err, stderr.clone()));
        }
        Ok(Self {
            name: name.to_owned(),
            pid: child.id(),
            child,
            exit: None,
            stdout,
            stderr,
            readers,
        })
    }

    /// Process id (also the process group id).
    pub(crate) fn pid(&self) -> u32 {
        self.pid
    }

    /// The exit, if the process has exited (reaps it).
    pub(crate) fn try_exit(&mut self) -> Result<Option<Exit>, BootError> {
        if self.exit.is_none() {
            let status = self.child.try_wait().map_err(|source| BootError::Wait {
                name: self.name.clone(),
                pid: self.pid,
                source,
            })?;
            self.exit = status.map(Exit::from);
        }
        Ok(self.exit)
    }

    /// Wait up to `limit` for the process to exit.
    pub(crate) async fn wait_exit(&mut self, limit: Duration) -> Result<Option<Exit>, BootError> {
        let deadline = Instant::now() + limit;
        loop {
            if let Some(exit) = self.try_exit()? {
                return Ok(Some(exit));
            }
            let now = Instant::now();
            if now >= deadline {
                return Ok(None);
            }
            tokio::time::sleep(POLL.min(deadline - now)).await;
        }
    }

    /// Send `signal` to the whole process group.
    pub(crate) fn signal_group(&self, signal: Signal) -> Result<(), BootError> {
        let fail = |message: String| BootError::Signal {
            name: self.name.clone(),
            signal: signal.name(),
            pgid: self.pid,
            message,
        };
        let kill = KILL_PROGRAMS
            .iter()
            .map(PathBuf::from)
            .find(|p| p.is_file())
            .ok_or_else(|| fail(format!("no kill program at {}", KILL_PROGRAMS.join(" or "))))?;
        let output = Command::new(&kill)
            .args(["-s", signal.name(), "--", &format!("-{}", self.pid)])
            .env_clear()
            .stdin(Stdio::null())
            .output()
            .map_err(|err| fail(format!("could not run {}: {err}", kill.display())))?;
        if output.status.success() {
            Ok(())
        } else {
            Err(fail(format!(
                "{} exited with {}: {}",
                kill.display(),
                output.status,
                String::from_utf8_lossy(&output.stderr).trim()
            )))
        }
    }

    /// jupyter_client's stop schedule: wait `grace / 2` for a voluntary exit, SIGTERM the
    /// group, wait `grace / 2`, SIGKILL the group. Afterwards the leader is reaped.
    pub(crate) async fn stop(&mut self, grace: Duration) -> Result<Exit, BootError> {
        let half = grace / 2;
        if let Some(exit) = self.wait_exit(half).await? {
            self.kill_leftovers();
            return Ok(exit);
        }
        self.terminate(half).await
    }

    /// SIGTERM the group, wait up to `term_wait`, SIGKILL it; reap the leader. When the
    /// leader already exited, only what is left of its group is killed.
    pub(crate) async fn terminate(&mut self, term_wait: Duration) -> Result<Exit, BootError> {
        if let Some(exit) = self.try_exit()? {
            self.kill_leftovers();
            return Ok(exit);
        }
        // The group may vanish between the check and the signal; that is fine.
        let _ = self.signal_group(Signal::Term);
        if let Some(exit) = self.wait_exit(term_wait).await? {
            self.kill_leftovers();
            return Ok(exit);
        }
        self.signal_group(Signal::Kill)?;
        let limit = Duration::from_secs(5);
        self.wait_exit(limit).await?.ok_or(BootError::Timeout {
            name: self.name.clone(),
            waiting_for: "waiting for the process to exit after SIGKILL",
            waited: limit,
        })
    }

    /// SIGKILL whatever else is left in the group after the leader exited (for example
    /// children of a wrapper script). A group with no members makes `kill` fail; ignore.
    pub(crate) fn kill_leftovers(&self) {
        let _ = self.signal_group(Signal::Kill);
    }

    /// Give the reader threads up to `limit` to reach end of file, so tails are complete
    /// after an exit. Grandchildren holding the pipes open do not block us past `limit`.
    pub(crate) async fn settle_output(&mut self, limit: Duration) {
        let deadline = Instant::now() + limit;
        while self.readers.iter().any(|r| !r.is_finished()) && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        self.readers.retain(|r| !r.is_finished());
    }

    /// Last lines of stderr.
    pub(crate) fn stderr_tail(&self) -> Vec<String> {
        self.stderr.snapshot()
    }

    /// Last lines of stdout.
    pub(crate) fn stdout_tail(&self) -> Vec<String> {
        self.stdout.snapshot()
    }

    /// Synchronous last resort (used on drop): SIGKILL the group and reap the leader.
    pub(crate) fn kill_now(&mut self) {
        if matches!(self.try_exit(), Ok(Some(_))) {
            return;
        }
        if self.signal_group(Signal::Kill).is_err() {
            let _ = self.child.kill();
        }
        if let Ok(status) = self.child.wait() {
            self.exit = Some(Exit::from(status));
        }
    }
}

impl Drop for KernelProcess {
    /// A process dropped while still running (a boot abandoned mid-start, on Ctrl-C) is
    /// killed with its whole group and reaped: no kernel is ever left behind.
    fn drop(&mut self) {
        self.kill_now();
    }
}

/// Read `stream` line by line (lossy UTF-8) into `tail` on a thread.
fn drain(stream: impl Read + Send + 'static, tail: Tail) -> JoinHandle<()> {
    std::thread::spawn(move || {
        let mut reader = BufReader::new(stream);
        let mut line = Vec::new();
        loop {
            line.clear();
            match reader.read_until(b'\n', &mut line) {
                Ok(0) | Err(_) => break,
                Ok(_) => {
                    let text = String::from_utf8_lossy(&line);
                    tail.push(text.trim_end_matches(['\n', '\r']).to_owned());
                }
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tail_keeps_the_last_lines() {
        let tail = Tail::default();
        for i in 0..(TAIL_LINES + 5) {
            tail.push(format!("line {i}"));
        }
        let lines = tail.snapshot();
        assert_eq!(lines.len(), TAIL_LINES);
        assert_eq!(lines[0], "line 5");
        assert_eq!(lines[TAIL_LINES - 1], format!("line {}", TAIL_LINES + 4));
    }
}
