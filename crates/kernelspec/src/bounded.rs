//! Reading untrusted input files safely: the one helper every reader of a file a user (or
//! someone else) controls goes through — `kernel.json`, `kernels.toml`, policy files,
//! notebooks.
//!
//! [`read_regular`] opens the path non-blocking (a FIFO opens at once instead of waiting for a
//! writer), checks on the opened descriptor that it is a regular file (so a FIFO, a device
//! such as `/dev/zero`, a socket or a directory is refused before a single byte is read, and
//! nothing can be swapped in between the check and the read), and reads at most `limit`
//! bytes (a file that grows while it is read is still cut off). [`read_regular_nofollow`] also
//! refuses a symlink as the last component, for files root opens on a user's behalf.

use std::fmt;
use std::fs::File;
use std::io::{self, Read};
use std::path::{Path, PathBuf};

/// What a path turned out to be when it is not a regular file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileKind {
    /// A directory.
    Directory,
    /// A named pipe.
    Fifo,
    /// A character device (`/dev/zero`, a terminal).
    CharDevice,
    /// A block device.
    BlockDevice,
    /// A socket.
    Socket,
    /// A symbolic link (only seen when links are not followed).
    Symlink,
    /// Anything else.
    Other,
}

impl fmt::Display for FileKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            FileKind::Directory => "a directory",
            FileKind::Fifo => "a named pipe (FIFO)",
            FileKind::CharDevice => "a character device",
            FileKind::BlockDevice => "a block device",
            FileKind::Socket => "a socket",
            FileKind::Symlink => "a symbolic link",
            FileKind::Other => "not a regular file",
        })
    }
}

/// Why [`read_regular`] refused or failed.
#[derive(Debug, thiserror::Error)]
pub enum BoundedReadError {
    /// Opening or reading failed (missing file: [`io::ErrorKind::NotFound`]).
    #[error("failed to read {}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The operating system's error.
        #[source]
        source: io::Error,
    },
    /// The path is not a regular file.
    #[error("{} is {kind}, not a regular file", path.display())]
    NotRegular {
        /// The path.
        path: PathBuf,
        /// What it is.
        kind: FileKind,
    },
    /// The file is larger than allowed.
    #[error("{} is larger than {limit} bytes", path.display())]
    TooLarge {
        /// The file.
        path: PathBuf,
        /// The limit.
        limit: u64,
    },
}

impl BoundedReadError {
    /// Whether the file simply does not exist.
    pub fn is_not_found(&self) -> bool {
        matches!(self, BoundedReadError::Io { source, .. } if source.kind() == io::ErrorKind::NotFound)
    }

    /// The same error as an [`io::Error`] (for callers whose error types carry one).
    pub fn into_io(self) -> io::Error {
        match self {
            BoundedReadError::Io { source, .. } => source,
            other => io::Error::new(io::ErrorKind::InvalidInput, other.to_string()),
        }
    }
}

/// Reads the regular file at `path` (symlinks followed), at most `limit` bytes, never
/// blocking on a FIFO or device (see the module docs).
pub fn read_regular(path: &Path, limit: u64) -> Result<Vec<u8>, BoundedReadError> {
    read(path, limit, true)
}

/// [`read_regular`], but a symlink as the last component is refused.
pub fn read_regular_nofollow(path: &Path, limit: u64) -> Result<Vec<u8>, BoundedReadError> {
    read(path, limit, false)
}

fn read(path: &Path, limit: u64, follow: bool) -> Result<Vec<u8>, BoundedReadError> {
    let io_err = |source| BoundedReadError::Io {
        path: path.to_path_buf(),
        source,
    };
    let (file, len) = open_regular(path, follow)?;
    if len > limit {
        return Err(BoundedReadError::TooLarge {
            path: path.to_path_buf(),
            limit,
        });
    }
    let mut bytes = Vec::with_capacity(usize::try_from(len).unwrap_or(0));
    file.take(limit.saturating_add(1))
        .read_to_end(&mut bytes)
        .map_err(io_err)?;
    if bytes.len() as u64 > limit {
        return Err(BoundedReadError::TooLarge {
            path: path.to_path_buf(),
            limit,
        });
    }
    Ok(bytes)
}

#[cfg(unix)]
fn open_regular(path: &Path, follow: bool) -> Result<(File, u64), BoundedReadError> {
    use rustix::fs::{FileType, Mode, OFlags};
    let io_err = |e: rustix::io::Errno| BoundedReadError::Io {
        path: path.to_path_buf(),
        source: e.into(),
    };
    let mut flags = OFlags::RDONLY | OFlags::NONBLOCK | OFlags::CLOEXEC | OFlags::NOCTTY;
    if !follow {
        flags |= OFlags::NOFOLLOW;
    }
    let fd = match rustix::fs::open(path, flags, Mode::empty()) {
        Ok(fd) => fd,
        // O_NOFOLLOW on a symlink.
        Err(rustix::io::Errno::LOOP) if !follow => {
            return Err(BoundedReadError::NotRegular {
                path: path.to_path_buf(),
                kind: FileKind::Symlink,
            })
        }
        Err(e) => return Err(io_err(e)),
    };
    let st = rustix::fs::fstat(&fd).map_err(io_err)?;
    let kind = match FileType::from_raw_mode(st.st_mode) {
        FileType::RegularFile => None,
        FileType::Directory => Some(FileKind::Directory),
        FileType::Fifo => Some(FileKind::Fifo),
        FileType::CharacterDevice => Some(FileKind::CharDevice),
        FileType::BlockDevice => Some(FileKind::BlockDevice),
        FileType::Socket => Some(FileKind::Socket),
        FileType::Symlink => Some(FileKind::Symlink),
        _ => Some(FileKind::Other),
    };
    if let Some(kind) = kind {
        return Err(BoundedReadError::NotRegular {
            path: path.to_path_buf(),
            kind,
        });
    }
    // Regular files never block; clear O_NONBLOCK anyway so reads behave normally.
    let _ = rustix::fs::fcntl_setfl(&fd, OFlags::empty());
    Ok((File::from(fd), u64::try_from(st.st_size).unwrap_or(0)))
}

#[cfg(not(unix))]
fn open_regular(path: &Path, _follow: bool) -> Result<(File, u64), BoundedReadError> {
    let io_err = |source| BoundedReadError::Io {
        path: path.to_path_buf(),
        source,
    };
    let file = File::open(path).map_err(io_err)?;
    let meta = file.metadata().map_err(io_err)?;
    if !meta.is_file() {
        return Err(BoundedReadError::NotRegular {
            path: path.to_path_buf(),
            kind: if meta.is_dir() {
                FileKind::Directory
            } else {
                FileKind::Other
            },
        });
    }
    Ok((file, meta.len()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn regular_files_are_read_up_to_the_limit() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("a");
        std::fs::write(&f, b"hello").unwrap();
        assert_eq!(read_regular(&f, 5).unwrap(), b"hello");
        assert!(matches!(
            read_regular(&f, 4),
            Err(BoundedReadError::TooLarge { limit: 4, .. })
        ));
        let missing = read_regular(&dir.path().join("nope"), 10).unwrap_err();
        assert!(missing.is_not_found());
        assert!(matches!(
            read_regular(dir.path(), 10),
            Err(BoundedReadError::NotRegular {
                kind: FileKind::Directory,
                ..
            })
        ));
    }

    #[cfg(unix)]
    #[test]
    fn devices_fifos_and_symlinks_are_refused_without_blocking() {
        let dir = tempfile::tempdir().unwrap();
        let err = read_regular(Path::new("/dev/zero"), 1 << 20).unwrap_err();
        assert!(
            matches!(
                err,
                BoundedReadError::NotRegular {
                    kind: FileKind::CharDevice,
                    ..
                }
            ),
            "{err:?}"
        );
        let fifo = dir.path().join("fifo");
        rustix::fs::mknodat(
            rustix::fs::CWD,
            &fifo,
            rustix::fs::FileType::Fifo,
            rustix::fs::Mode::from_raw_mode(0o600),
            0,
        )
        .unwrap();
        let err = read_regular(&fifo, 10).unwrap_err();
        assert!(err.to_string().contains("named pipe"), "{err}");
        let target = dir.path().join("t");
        std::fs::write(&target, "x").unwrap();
        let link = dir.path().join("l");
        std::os::unix::fs::symlink(&target, &link).unwrap();
        assert_eq!(read_regular(&link, 10).unwrap(), b"x");
        assert!(matches!(
            read_regular_nofollow(&link, 10),
            Err(BoundedReadError::NotRegular {
                kind: FileKind::Symlink,
                ..
            })
        ));
    }
}
