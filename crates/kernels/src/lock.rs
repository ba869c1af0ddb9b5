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
//! itself is never deleted (deleting a lock file races with the next run opening it). It is
//! opened relative to its directory without following a symlink at the directory or the file,
//! and must be a regular file: a planted link (to `/etc/shadow`) or FIFO is refused.
//!
//! A busy lock is polled every 100 ms for up to [`LockConfig::timeout`]
//! ([`crate::vars::KERNELS_LOCK_TIMEOUT`], default 60 s); the caller is told once that it is
//! waiting, and the wait ends early when the run is cancelled.

use std::fs::File;
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
        let mut file = open_lock_file(&path)?;
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

/// Creates the lock's directory, then opens the lock file in it without following a symlink
/// at either of the last two steps (the state directory and the file), and checks it is a
/// regular file: a lock planted as a symlink to another file (`/etc/shadow`) or as a FIFO
/// is refused, never written through or waited on.
fn open_lock_file(path: &Path) -> Result<File, LockError> {
    let io = |action: &'static str| {
        move |source: std::io::Error| LockError::Io {
            action,
            path: path.to_path_buf(),
            source,
        }
    };
    let dir = path.parent().unwrap_or(Path::new("."));
    let name = path.file_name().unwrap_or(path.as_os_str());
    std::fs::create_dir_all(dir).map_err(io("create the directory of"))?;
    #[cfg(unix)]
    {
        use rustix::fs::{FileType, Mode, OFlags};
        let nofollow = |e: rustix::io::Errno, what: &'static str| {
            if e == rustix::io::Errno::LOOP || e == rustix::io::Errno::NOTDIR {
                std::io::Error::new(
                    std::io::ErrorKind::InvalidInput,
                    format!("{what} is a symbolic link (or not a directory); it is not followed"),
                )
            } else {
                e.into()
            }
        };
        let dir_fd = rustix::fs::open(
            dir,
            OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
            Mode::empty(),
        )
        .map_err(|e| io("open the directory of")(nofollow(e, "its directory")))?;
        let fd = rustix::fs::openat(
            &dir_fd,
            name,
            OFlags::RDWR | OFlags::CREATE | OFlags::NOFOLLOW | OFlags::NONBLOCK | OFlags::CLOEXEC,
            Mode::from_raw_mode(0o644),
        )
        .map_err(|e| io("open")(nofollow(e, "it")))?;
        let st = rustix::fs::fstat(&fd).map_err(|e| io("examine")(e.into()))?;
        if FileType::from_raw_mode(st.st_mode) != FileType::RegularFile {
            return Err(io("use")(std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                "it is not a regular file",
            )));
        }
        let _ = rustix::fs::fcntl_setfl(&fd, OFlags::empty());
        Ok(File::from(fd))
    }
    #[cfg(not(unix))]
    {
        std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(dir.join(name))
            .map_err(io("open"))
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

    #[cfg(unix)]
    #[test]
    fn a_planted_symlink_or_fifo_is_never_followed_or_waited_on() {
        let t = tempfile::tempdir().unwrap();
        let victim = t.path().join("victim");
        std::fs::write(&victim, "secret").unwrap();
        let c = cfg(t.path(), Duration::from_secs(1));
        std::fs::create_dir_all(c.path.parent().unwrap()).unwrap();
        std::os::unix::fs::symlink(&victim, &c.path).unwrap();
        let err = RunLock::acquire(&c, &CancelToken::new(), &mut |_| {}).unwrap_err();
        assert!(format!("{err:?}").contains("symbolic link"), "{err:?}");
        assert_eq!(std::fs::read_to_string(&victim).unwrap(), "secret");

        // The state directory itself as a link elsewhere.
        let elsewhere = t.path().join("elsewhere");
        std::fs::create_dir(&elsewhere).unwrap();
        let linked = t.path().join("linked");
        std::os::unix::fs::symlink(&elsewhere, &linked).unwrap();
        let c2 = LockConfig {
            path: linked.join("lock"),
            timeout: Duration::from_secs(1),
        };
        assert!(RunLock::acquire(&c2, &CancelToken::new(), &mut |_| {}).is_err());
        assert!(std::fs::read_dir(&elsewhere).unwrap().next().is_none());

        std::fs::remove_file(&c.path).unwrap();
        rustix::fs::mknodat(
            rustix::fs::CWD,
            &c.path,
            rustix::fs::FileType::Fifo,
            rustix::fs::Mode::from_raw_mode(0o600),
            0,
        )
        .unwrap();
        let err = RunLock::acquire(&c, &CancelToken::new(), &mut |_| {}).unwrap_err();
        assert!(format!("{err:?}").contains("not a regular file"), "{err:?}");
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
