//! One `kernels` run at a time per environment prefix, whoever runs it.
//!
//! The run lock ([`crate::RunLock`]) serialises one user's runs; two users (or two HOMEs)
//! creating, filling or deleting the same `--prefix` at once would still interleave: one
//! run's rollback deleting the environment another run had just made, an installer pointed at
//! a prefix that vanished under it. [`PrefixLock`] closes that: an exclusive `flock` on a file
//! beside the prefix, `<parent>/.<name>.kernels-lock`, which every user who can see the
//! prefix can open (read-only is enough for `flock`).
//!
//! * The file is opened without following symlinks and without blocking, and must be a
//!   regular file: a planted symlink or FIFO is refused, never followed.
//! * After the lock is taken, the path must still name the locked file (same device and
//!   inode); otherwise the holder before us deleted it, and we try again. That makes it safe
//!   for the holder to delete the file when it is done, so no lock file is left behind.
//! * The parent directory is created when missing (the environment tool would create it
//!   anyway); [`PrefixLock::new_parents`] lists what was created, for the caller to remove
//!   again, after the lock is released, when the run is rolled back.
//! * A busy lock is polled every 100 ms up to the run lock's timeout and honours the cancel
//!   token (Ctrl-C, SIGTERM).

use std::fs::File;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::thread;
use std::time::{Duration, Instant};

use envs::CancelToken;
use rustix::fs::{flock, FlockOperation, Mode, OFlags};

use crate::journal::missing_ancestors;

/// How often a busy prefix lock is tried again.
const POLL: Duration = Duration::from_millis(100);

/// Why a prefix could not be locked.
#[derive(Debug, thiserror::Error)]
pub enum PrefixLockError {
    /// Another run worked on the prefix for the whole wait.
    #[error("another kernels run is working on {} (waited {}s for {})", prefix.display(), waited.as_secs(), lock.display())]
    Busy {
        /// The environment prefix.
        prefix: PathBuf,
        /// The lock file.
        lock: PathBuf,
        /// How long this run waited.
        waited: Duration,
    },
    /// The wait was cancelled.
    #[error("interrupted while waiting for the lock on {}", prefix.display())]
    Interrupted {
        /// The environment prefix.
        prefix: PathBuf,
    },
    /// The lock file is not a regular file (a symlink, FIFO or directory was put there).
    #[error("{} is not a regular file (a symlink or something else was put there); it was not used", lock.display())]
    NotAFile {
        /// The lock file.
        lock: PathBuf,
    },
    /// The lock file could not be made or opened.
    #[error("failed to {action} the lock file {}", lock.display())]
    Io {
        /// What was being done.
        action: &'static str,
        /// The lock file.
        lock: PathBuf,
        /// The operating system's error.
        #[source]
        source: std::io::Error,
    },
}

/// An exclusive lock on one environment prefix, released (and its file deleted) on drop.
#[derive(Debug)]
pub struct PrefixLock {
    file: File,
    path: PathBuf,
    new_parents: Vec<PathBuf>,
}

impl PrefixLock {
    /// The lock file of `prefix`: `<parent>/.<name>.kernels-lock`.
    pub fn path_for(prefix: &Path) -> PathBuf {
        let name = prefix
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        prefix
            .parent()
            .unwrap_or(Path::new("/"))
            .join(format!(".{name}.kernels-lock"))
    }

    /// Takes the lock on `prefix`, waiting up to `timeout`.
    pub fn acquire(
        prefix: &Path,
        timeout: Duration,
        cancel: &CancelToken,
    ) -> Result<PrefixLock, PrefixLockError> {
        let path = Self::path_for(prefix);
        let io = |action: &'static str, path: &Path| {
            let lock = path.to_path_buf();
            move |source| PrefixLockError::Io {
                action,
                lock,
                source,
            }
        };
        let new_parents = match path.parent() {
            Some(dir) => {
                let missing = missing_ancestors(&path);
                std::fs::create_dir_all(dir).map_err(io("create the directory of", &path))?;
                missing
            }
            None => Vec::new(),
        };
        let started = Instant::now();
        loop {
            let file = open_lock_file(&path)?;
            match flock(&file, FlockOperation::NonBlockingLockExclusive) {
                Ok(()) => {
                    if still_named(&file, &path) {
                        return Ok(PrefixLock {
                            file,
                            path,
                            new_parents,
                        });
                    }
                    // The holder before us deleted it; lock the file that is there now.
                    continue;
                }
                Err(e) if e == rustix::io::Errno::WOULDBLOCK => {}
                Err(e) => return Err(io("lock", &path)(e.into())),
            }
            if cancel.is_cancelled() {
                return Err(PrefixLockError::Interrupted {
                    prefix: prefix.to_path_buf(),
                });
            }
            let waited = started.elapsed();
            if waited >= timeout {
                return Err(PrefixLockError::Busy {
                    prefix: prefix.to_path_buf(),
                    lock: path,
                    waited,
                });
            }
            thread::sleep(POLL.min(timeout.saturating_sub(waited)));
        }
    }

    /// The directories above the lock file that did not exist before [`PrefixLock::acquire`]
    /// made them, nearest first.
    pub fn new_parents(&self) -> &[PathBuf] {
        &self.new_parents
    }
}

impl Drop for PrefixLock {
    fn drop(&mut self) {
        // Deleted while still locked: a waiter that opened it sees the name gone and retries.
        if still_named(&self.file, &self.path) {
            let _ = std::fs::remove_file(&self.path);
        }
        let _ = flock(&self.file, FlockOperation::Unlock);
    }
}

/// Opens (creating) the lock file without following a symlink and without blocking on a
/// FIFO; read-write when allowed, else read-only (another user's lock file).
fn open_lock_file(path: &Path) -> Result<File, PrefixLockError> {
    let flags = OFlags::CREATE | OFlags::NOFOLLOW | OFlags::NONBLOCK | OFlags::CLOEXEC;
    let mode = Mode::from_raw_mode(0o644);
    let fd = match rustix::fs::open(path, flags | OFlags::RDWR, mode) {
        Ok(fd) => fd,
        Err(rustix::io::Errno::ACCESS) => rustix::fs::open(
            path,
            OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::NONBLOCK,
            mode,
        )
        .map_err(|e| open_error(path, e))?,
        Err(e) => return Err(open_error(path, e)),
    };
    let file = File::from(fd);
    match file.metadata() {
        Ok(m) if m.is_file() => Ok(file),
        Ok(_) => Err(PrefixLockError::NotAFile {
            lock: path.to_path_buf(),
        }),
        Err(source) => Err(PrefixLockError::Io {
            action: "examine",
            lock: path.to_path_buf(),
            source,
        }),
    }
}

fn open_error(path: &Path, e: rustix::io::Errno) -> PrefixLockError {
    if e == rustix::io::Errno::LOOP {
        return PrefixLockError::NotAFile {
            lock: path.to_path_buf(),
        };
    }
    PrefixLockError::Io {
        action: "open",
        lock: path.to_path_buf(),
        source: e.into(),
    }
}

/// Whether `path` still names the open `file` (same device and inode).
fn still_named(file: &File, path: &Path) -> bool {
    match (file.metadata(), std::fs::symlink_metadata(path)) {
        (Ok(a), Ok(b)) => a.dev() == b.dev() && a.ino() == b.ino(),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_holder_waits_and_the_file_goes_with_the_last_holder() {
        let t = tempfile::tempdir().unwrap();
        let prefix = t.path().join("new/env");
        let cancel = CancelToken::new();
        let first = PrefixLock::acquire(&prefix, Duration::from_secs(5), &cancel).unwrap();
        assert_eq!(first.new_parents(), [t.path().join("new")]);
        let lock_file = PrefixLock::path_for(&prefix);
        assert!(lock_file.is_file());
        let err = PrefixLock::acquire(&prefix, Duration::from_millis(250), &cancel).unwrap_err();
        assert!(matches!(err, PrefixLockError::Busy { .. }), "{err}");
        let waiter = {
            let prefix = prefix.clone();
            std::thread::spawn(move || {
                PrefixLock::acquire(&prefix, Duration::from_secs(10), &CancelToken::new()).map(drop)
            })
        };
        std::thread::sleep(Duration::from_millis(200));
        drop(first);
        waiter.join().unwrap().unwrap();
        assert!(!lock_file.exists());
    }

    #[test]
    fn a_planted_symlink_or_fifo_is_refused() {
        let t = tempfile::tempdir().unwrap();
        let target = t.path().join("victim");
        std::fs::write(&target, "keep").unwrap();
        let prefix = t.path().join("env");
        std::os::unix::fs::symlink(&target, PrefixLock::path_for(&prefix)).unwrap();
        let err =
            PrefixLock::acquire(&prefix, Duration::from_secs(1), &CancelToken::new()).unwrap_err();
        assert!(matches!(err, PrefixLockError::NotAFile { .. }), "{err}");
        assert_eq!(std::fs::read_to_string(&target).unwrap(), "keep");

        let prefix = t.path().join("env2");
        let made = std::process::Command::new("mkfifo")
            .arg(PrefixLock::path_for(&prefix))
            .status()
            .unwrap();
        assert!(made.success());
        let err =
            PrefixLock::acquire(&prefix, Duration::from_secs(1), &CancelToken::new()).unwrap_err();
        assert!(matches!(err, PrefixLockError::NotAFile { .. }), "{err}");
    }
}
