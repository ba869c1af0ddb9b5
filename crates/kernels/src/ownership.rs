//! Which environments `kernels` created, recorded where another user cannot forge it.
//!
//! The marker inside an environment ([`crate::ENV_MARKER`]) is a file anyone who can write
//! the prefix can write, or copy along with the environment; alone it proves nothing. So when
//! a run creates an environment it also records it in the state directory of the user it runs
//! for (`$XDG_STATE_HOME/kernels/created-envs.json`, beside the run lock): the environment's
//! canonical prefix and its identity (device and inode of the prefix directory).
//!
//! An environment counts as created by `kernels` ([`created_here`]) only when all of these
//! hold: the record names its canonical prefix; the directory there is the very one recorded
//! (same device and inode: a copy, or an environment re-made by hand at the old path, is
//! not); the marker is inside it; and the marker and the records file belong to the same user.
//! Deleting it ([`check_deletable`]) asks more: both files must belong to the user running
//! `kernels` now. Root therefore deletes only what root's own records name, never on the
//! strength of files a user could write.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::Read;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use envs::HostEnv;
use rustix::fs::{Mode, OFlags};
use serde::{Deserialize, Serialize};

use crate::lock::LockConfig;
use crate::spec_for_env::BackendLabel;

/// The records file's name, in the user's kernels state directory.
pub const RECORDS_FILE: &str = "created-envs.json";

/// Larger records files are not read (they are not ours).
const MAX_RECORDS_BYTES: u64 = 4 << 20;

/// One environment `kernels` created.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct Record {
    dev: u64,
    ino: u64,
    backend: BackendLabel,
}

#[derive(Debug, Default, Serialize, Deserialize)]
struct Records {
    version: u32,
    /// By canonical prefix.
    envs: BTreeMap<PathBuf, Record>,
}

/// Why an environment does not count as created by `kernels`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NotOurs {
    /// Nothing is at the prefix.
    #[error("it no longer exists")]
    Gone,
    /// No record names this prefix.
    #[error("kernels has no record of creating it (in {})", records.display())]
    NoRecord {
        /// The records file read.
        records: PathBuf,
    },
    /// A record names the prefix, but the directory there is another one.
    #[error("it is not the directory kernels created there (it was replaced or re-made since)")]
    Replaced,
    /// The marker inside the environment is missing or not ours.
    #[error("it carries no valid {} marker", crate::ENV_MARKER)]
    NoMarker,
    /// The marker or the records file belongs to someone else.
    #[error("{what} belongs to another user (uid {uid}), so it proves nothing for this one")]
    ForeignOwner {
        /// Which file.
        what: &'static str,
        /// Its owner.
        uid: u32,
    },
    /// The records file is not a plain private file.
    #[error("the records file {} is not a regular file writable only by its owner; it is not trusted", records.display())]
    UnsafeRecords {
        /// The records file.
        records: PathBuf,
    },
}

/// Why a record could not be written.
#[derive(Debug, thiserror::Error)]
#[error("failed to record that kernels created {} (in {})", prefix.display(), records.display())]
pub struct RecordError {
    /// The environment.
    pub prefix: PathBuf,
    /// The records file.
    pub records: PathBuf,
    /// The operating system's error.
    #[source]
    pub source: std::io::Error,
}

/// The records file of the user `host` describes.
pub fn records_path(host: &HostEnv) -> PathBuf {
    let lock = LockConfig::from_host(host).path;
    lock.parent().unwrap_or(Path::new(".")).join(RECORDS_FILE)
}

/// Records that this run created the environment at `prefix` (call it once the prefix
/// directory exists, under the run lock).
pub fn record_created(
    host: &HostEnv,
    prefix: &Path,
    backend: BackendLabel,
) -> Result<(), RecordError> {
    let records = records_path(host);
    let err = |source| RecordError {
        prefix: prefix.to_path_buf(),
        records: records.clone(),
        source,
    };
    let canonical = std::fs::canonicalize(prefix).map_err(err)?;
    let meta = std::fs::metadata(&canonical).map_err(err)?;
    let mut doc = read_records(&records).map(|(d, _)| d).unwrap_or_default();
    doc.envs.insert(
        canonical,
        Record {
            dev: meta.dev(),
            ino: meta.ino(),
            backend,
        },
    );
    write_records(&records, &doc).map_err(err)
}

/// Drops the record of `prefix` (after it was deleted or rolled back). `canonical` is the
/// prefix as it was canonicalised before it was deleted.
pub fn forget(host: &HostEnv, canonical: &Path) -> std::io::Result<()> {
    let records = records_path(host);
    forget_at(&records, canonical)
}

/// [`forget`], given the state directory instead of the user.
pub fn forget_in(state_dir: &Path, canonical: &Path) -> std::io::Result<()> {
    forget_at(&state_dir.join(RECORDS_FILE), canonical)
}

fn forget_at(records: &Path, canonical: &Path) -> std::io::Result<()> {
    let records = records.to_path_buf();
    let Ok((mut doc, _)) = read_records(&records) else {
        return Ok(());
    };
    if doc.envs.remove(canonical).is_some() {
        write_records(&records, &doc)?;
    }
    Ok(())
}

/// How `kernels` created the environment at `prefix`, when the records of the user `host`
/// describes say it did (see the module docs); for plans and reports.
pub fn created_here(host: &HostEnv, prefix: &Path) -> Result<BackendLabel, NotOurs> {
    verify(host, prefix, None).map(|(label, _)| label)
}

/// Like [`created_here`], and the marker and records must belong to the user running now:
/// may `remove --with-env` delete this environment? Returns the backend and the canonical
/// prefix (the path to delete).
pub fn check_deletable(host: &HostEnv, prefix: &Path) -> Result<(BackendLabel, PathBuf), NotOurs> {
    verify(host, prefix, Some(rustix::process::geteuid().as_raw()))
}

fn verify(
    host: &HostEnv,
    prefix: &Path,
    caller: Option<u32>,
) -> Result<(BackendLabel, PathBuf), NotOurs> {
    let records = records_path(host);
    let canonical = std::fs::canonicalize(prefix).map_err(|_| NotOurs::Gone)?;
    let meta = std::fs::metadata(&canonical).map_err(|_| NotOurs::Gone)?;
    let (doc, records_uid) = read_records(&records)?;
    let record = doc.envs.get(&canonical).ok_or_else(|| NotOurs::NoRecord {
        records: records.clone(),
    })?;
    if record.dev != meta.dev() || record.ino != meta.ino() {
        return Err(NotOurs::Replaced);
    }
    let marker = canonical.join(crate::ENV_MARKER);
    let marker_meta = std::fs::symlink_metadata(&marker).map_err(|_| NotOurs::NoMarker)?;
    if !marker_meta.is_file() {
        return Err(NotOurs::NoMarker);
    }
    let label = crate::read_env_marker(&canonical).ok_or(NotOurs::NoMarker)?;
    let expected = caller.unwrap_or(records_uid);
    if records_uid != expected {
        return Err(NotOurs::ForeignOwner {
            what: "the records file",
            uid: records_uid,
        });
    }
    if marker_meta.uid() != expected {
        return Err(NotOurs::ForeignOwner {
            what: "the environment's marker",
            uid: marker_meta.uid(),
        });
    }
    Ok((label, canonical))
}

/// Reads the records file: not through a symlink, never blocking, regular, not writable by
/// group or others, bounded. Returns the records and the file's owner.
fn read_records(path: &Path) -> Result<(Records, u32), NotOurs> {
    let unsafe_file = || NotOurs::UnsafeRecords {
        records: path.to_path_buf(),
    };
    let fd = match rustix::fs::open(
        path,
        OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::NONBLOCK | OFlags::CLOEXEC,
        Mode::empty(),
    ) {
        Ok(fd) => fd,
        Err(rustix::io::Errno::NOENT) => {
            return Err(NotOurs::NoRecord {
                records: path.to_path_buf(),
            })
        }
        Err(_) => return Err(unsafe_file()),
    };
    let file = File::from(fd);
    let meta = file.metadata().map_err(|_| unsafe_file())?;
    if !meta.is_file() || meta.mode() & 0o022 != 0 || meta.len() > MAX_RECORDS_BYTES {
        return Err(unsafe_file());
    }
    let mut bytes = Vec::new();
    file.take(MAX_RECORDS_BYTES)
        .read_to_end(&mut bytes)
        .map_err(|_| unsafe_file())?;
    let doc: Records = serde_json::from_slice(&bytes).map_err(|_| unsafe_file())?;
    Ok((doc, meta.uid()))
}

/// Writes the records atomically and durably (see [`crate::durable::write_private`]); the
/// state directory must be a real directory, not a symlink.
fn write_records(path: &Path, doc: &Records) -> std::io::Result<()> {
    let mut text = serde_json::to_string_pretty(&Records {
        version: 1,
        envs: doc.envs.clone(),
    })
    .map_err(std::io::Error::other)?;
    text.push('\n');
    crate::durable::write_private(path, text.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn host(state: &Path) -> HostEnv {
        HostEnv::from_vars([
            ("HOME", "/nonexistent"),
            ("XDG_STATE_HOME", state.to_str().unwrap()),
        ])
    }

    #[test]
    fn only_the_recorded_directory_with_its_marker_counts() {
        let t = tempfile::tempdir().unwrap();
        let h = host(&t.path().join("state"));
        let env = t.path().join("env");
        std::fs::create_dir(&env).unwrap();
        // A marker alone proves nothing.
        crate::write_env_marker(&env, BackendLabel::UV).unwrap();
        assert!(matches!(
            created_here(&h, &env),
            Err(NotOurs::NoRecord { .. })
        ));
        record_created(&h, &env, BackendLabel::UV).unwrap();
        assert_eq!(created_here(&h, &env), Ok(BackendLabel::UV));
        std::fs::create_dir(t.path().join("x")).unwrap();
        let (_, canonical) = check_deletable(&h, &t.path().join("x/../env")).unwrap();
        assert_eq!(canonical, std::fs::canonicalize(&env).unwrap());

        // A copy (marker included) is not ours; nor is one re-made at the old path.
        let copy = t.path().join("copy");
        std::fs::create_dir(&copy).unwrap();
        std::fs::copy(env.join(crate::ENV_MARKER), copy.join(crate::ENV_MARKER)).unwrap();
        assert!(created_here(&h, &copy).is_err());
        std::fs::rename(&env, t.path().join("moved")).unwrap();
        std::fs::rename(&copy, &env).unwrap();
        assert_eq!(created_here(&h, &env), Err(NotOurs::Replaced));

        // Forgotten records are gone.
        forget(&h, &std::fs::canonicalize(&env).unwrap()).unwrap();
        assert!(matches!(
            created_here(&h, &env),
            Err(NotOurs::NoRecord { .. })
        ));
    }

    #[test]
    fn a_records_file_others_may_write_is_not_trusted() {
        use std::os::unix::fs::PermissionsExt;
        let t = tempfile::tempdir().unwrap();
        let h = host(&t.path().join("state"));
        let env = t.path().join("env");
        std::fs::create_dir(&env).unwrap();
        crate::write_env_marker(&env, BackendLabel::UV).unwrap();
        record_created(&h, &env, BackendLabel::UV).unwrap();
        let records = records_path(&h);
        std::fs::set_permissions(&records, std::fs::Permissions::from_mode(0o666)).unwrap();
        assert!(matches!(
            check_deletable(&h, &env),
            Err(NotOurs::UnsafeRecords { .. })
        ));
    }
}
