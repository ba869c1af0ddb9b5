//! One mutating `kernels` run at a time, per user.
//!
//! Every command that changes environments or kernelspecs (`add`, `install`, `remove`,
//! `prune`, `protect`, `apply`) takes [`RunLock`] before it reads the machine for its plan and
//! holds it until it is done, so two runs (a setup script and a user in a terminal, two
//! `apply` at boot) cannot interleave their steps or plan against a state the other one is
//! changing. `--dry-run` and read-only commands take no lock.
//!
//! The lock is an advisory exclusive `flock` on `$XDG_STATE_HOME/kernels/lock` (else
//! `~/.local/state/kernels/lock`); the holder writes its process id into the file, so a
//! waiting run can say who it waits for. The operating system releases the lock when the
//! holder exits, however it exits, so a crashed run never leaves a stale lock behind. The file
//! itself is never deleted (deleting a lock file races with the next run opening it).
//!
//! A busy lock is polled every 100 ms for up to [`LockConfig::timeout`]
//! ([`crate::vars::KERNELS_LOCK_TIMEOUT`], default 60 s); the caller is told once that it is
//! waiting, and the wait ends early when the run is cancelled.

use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::thread;
use std::time::{Duration, Instant};

use envs::{CancelToken, HostEnv};

use crate::vars;

/// How often a busy lock is tried again.
const POLL: Duration = Duration::from_millis(100);

/// Where the lock is and how long to wait for it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LockConfig {
    /// The lock file.
    pub path: PathBuf,
    /// How long to wait for a busy lock.
    pub timeout: Duration,
}

impl LockConfig {
    /// The lock of the user described by `host`: `$XDG_STATE_HOME/kernels/lock` (else
    /// `~/.local/state/kernels/lock`), waiting `$KERNELS_LOCK_TIMEOUT` seconds (default 60).
    pub fn from_host(host: &HostEnv) -> LockConfig {
        let state = host
            .get(vars::XDG_STATE_HOME)
            .map(PathBuf::from)
            .filter(|p| p.is_absolute())
            .unwrap_or_else(|| {
                host.home
                    .clone()
                    .unwrap_or_else(std::env::temp_dir)
                    .join(".local/state")
            });
        LockConfig {
            path: state.join("kernels").join("lock"),
            timeout: parse_timeout(host.get(vars::KERNELS_LOCK_TIMEOUT)),
        }
    }
}

/// Seconds (fractions allowed) → duration; anything else gives the default.
fn parse_timeout(value: Option<&str>) -> Duration {
    value
        .and_then(|v| v.trim().parse::<f64>().ok())
        .filter(|s| s.is_finite() && *s >= 0.0)
        .map(|s| Duration::from_secs_f64(s.min(86_400.0)))
        .unwrap_or(vars::DEFAULT_LOCK_TIMEOUT)
}

/// Why the lock could not be taken.
#[derive(Debug, thiserror::Error)]
pub enum LockError {
    /// Another run held the lock for the whole wait.
    #[error("another kernels run is busy{} (waited {}s for {})",
        holder.map(|p| format!(" (pid {p})")).unwrap_or_default(),
        waited.as_secs(),
        path.display())]
    Busy {
        /// The lock file.
        path: PathBuf,
        /// The process id the holder wrote, if readable.
        holder: Option<u32>,
        /// How long this run waited.
        waited: Duration,
    },
    /// The run was cancelled while waiting.
    #[error("interrupted while waiting for the lock {}", path.display())]
    Interrupted {
        /// The lock file.
        path: PathBuf,
    },
    /// The lock file could not be created, opened or locked.
    #[error("failed to {action} the lock file {}", path.display())]
    Io {
        /// What was being done.
        action: &'static str,
        /// The lock file.
        path: PathBuf,
        /// The operating system's error.
        #[source]
        source: std::io::Error,
    },
}

impl LockError {
    /// What the user can do about it.
    pub fn hint(&self) -> Option<String> {
        match self {
            LockError::Busy { .. } => Some(format!(
                "wait for the other run to finish, or wait longer with {}=SECONDS",
                vars::KERNELS_LOCK_TIMEOUT
            )),
            _ => None,
        }
    }
}

/// The held lock; released when dropped (or when the process ends).
#[derive(Debug)]
pub struct RunLock {
    file: File,
    path: PathBuf,
}

impl RunLock {
    /// Takes the lock, waiting up to `cfg.timeout`. `on_wait` is called once, with the
    /// holder's process id when known, if the lock is busy at first.
    pub fn acquire(
        cfg: &LockConfig,
        cancel: &CancelToken,
        on_wait: &mut dyn FnMut(Option<u32>),
    ) -> Result<RunLock, LockError> {
        let path = cfg.path.clone();
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(|source| LockError::Io {
                action: "create the directory of",
                path: path.clone(),
                source,
            })?;
        }
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .map_err(|source| LockError::Io {
                action: "open",
                path: path.clone(),
                source,
            })?;
        let started = Instant::now();
        let mut told = false;
        loop {
            match fs4::FileExt::try_lock(&file) {
                Ok(()) => break,
                Err(fs4::TryLockError::WouldBlock) => {}
                Err(fs4::TryLockError::Error(source)) => {
                    return Err(LockError::Io {
                        action: "lock",
                        path,
                        source,
                    })
                }
            }
            if cancel.is_cancelled() {
                return Err(LockError::Interrupted { path });
            }
            let waited = started.elapsed();
            if waited >= cfg.timeout {
                return Err(LockError::Busy {
                    holder: read_holder(&mut file),
                    path,
                    waited,
                });
            }
            if !told {
                told = true;
                on_wait(read_holder(&mut file));
            }
            thread::sleep(POLL.min(cfg.timeout.saturating_sub(waited)));
        }
        // Best effort: the pid is only for messages.
        let _ = file
            .set_len(0)
            .and_then(|()| file.seek(SeekFrom::Start(0)))
            .and_then(|_| write!(file, "{}", std::process::id()))
            .and_then(|()| file.flush());
        Ok(RunLock { file, path })
    }

    /// The lock file.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for RunLock {
    fn drop(&mut self) {
        let _ = fs4::FileExt::unlock(&self.file);
    }
}

fn read_holder(file: &mut File) -> Option<u32> {
    let mut text = String::new();
    file.seek(SeekFrom::Start(0)).ok()?;
    file.read_to_string(&mut text).ok()?;
    text.trim().parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(dir: &Path, timeout: Duration) -> LockConfig {
        LockConfig {
            path: dir.join("state/kernels/lock"),
            timeout,
        }
    }

    #[test]
    fn config_follows_xdg_state_home_and_timeout_variable() {
        let host = HostEnv::from_vars([("HOME", "/h"), ("KERNELS_LOCK_TIMEOUT", "2.5")]);
        let c = LockConfig::from_host(&host);
        assert_eq!(c.path, PathBuf::from("/h/.local/state/kernels/lock"));
        assert_eq!(c.timeout, Duration::from_millis(2500));
        let host = HostEnv::from_vars([
            ("HOME", "/h"),
            ("XDG_STATE_HOME", "/s"),
            ("KERNELS_LOCK_TIMEOUT", "soon"),
        ]);
        let c = LockConfig::from_host(&host);
        assert_eq!(c.path, PathBuf::from("/s/kernels/lock"));
        assert_eq!(c.timeout, vars::DEFAULT_LOCK_TIMEOUT);
    }

    #[test]
    fn second_holder_waits_then_reports_busy_with_pid() {
        let t = tempfile::tempdir().unwrap();
        let c = cfg(t.path(), Duration::from_millis(300));
        let first = RunLock::acquire(&c, &CancelToken::new(), &mut |_| {}).unwrap();
        let text = std::fs::read_to_string(first.path()).unwrap();
        assert_eq!(text, std::process::id().to_string());
        let mut waited_for = None;
        let started = Instant::now();
        // flock locks belong to the open file description, so a second open in the same
        // process contends like another process would.
        let err = RunLock::acquire(&c, &CancelToken::new(), &mut |pid| waited_for = Some(pid))
            .unwrap_err();
        assert!(started.elapsed() >= Duration::from_millis(300));
        assert_eq!(waited_for, Some(Some(std::process::id())));
        match &err {
            LockError::Busy { holder, .. } => assert_eq!(*holder, Some(std::process::id())),
            other => panic!("{other:?}"),
        }
        assert!(err.to_string().contains("another kernels run is busy (pid"));
        drop(first);
        let again = RunLock::acquire(&c, &CancelToken::new(), &mut |_| {});
        assert!(again.is_ok());
    }

    #[test]
    fn cancelled_wait_stops_early() {
        let t = tempfile::tempdir().unwrap();
        let c = cfg(t.path(), Duration::from_secs(30));
        let _first = RunLock::acquire(&c, &CancelToken::new(), &mut |_| {}).unwrap();
        let cancel = CancelToken::new();
        cancel.cancel();
        // Interrupted, not busy after the 30 s wait: the cancel ended the wait.
        let err = RunLock::acquire(&c, &cancel, &mut |_| {}).unwrap_err();
        assert!(matches!(err, LockError::Interrupted { .. }), "{err:?}");
    }
}
