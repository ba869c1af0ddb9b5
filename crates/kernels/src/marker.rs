//! The record `kernels` leaves inside every environment it creates.
//!
//! A kernel's `metadata.kernels.env_created` says whether `kernels` created its environment
//! (only then may `remove --with-env` or `apply --prune` delete it). That record lives in the
//! kernelspec, so it is lost when the kernelspec is deleted by hand; a kernel registered again
//! on the same environment would then look as if it ran in someone else's environment. The
//! environment therefore carries its own record, `<prefix>/.kernels-env.json`:
//!
//! ```json
//! {"created_by": "kernels", "backend": "uv"}
//! ```
//!
//! It is written into the prefix before the tool fills it, in the state `installing` with the
//! run that makes it (`"state": "installing", "owner": {"pid": …, "started": …}`), and
//! rewritten without them once the environment is complete: see [`crate::guard`]. It is
//! read, without starting anything, by the snapshot. Neither conda nor
//! venv/uv look at unknown files in a prefix root; deleting the environment deletes it too.
//!
//! Anyone who can write the prefix can write or copy this file, so it is never trusted alone:
//! [`crate::ownership`] also asks for the creating user's record of the prefix and checks who
//! owns the marker.

use std::fs;
use std::io;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::guard::{GuardState, Owner};
use crate::spec_for_env::BackendLabel;

/// The marker's file name in the environment's root (also the one file a prefix may hold
/// when a tool is asked to create an environment there: [`envs::PREFIX_GUARD`]).
pub const ENV_MARKER: &str = envs::PREFIX_GUARD;

/// Larger markers are not read (they are not ours).
const MAX_MARKER_BYTES: u64 = 64 << 10;

#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct Marker {
    created_by: String,
    pub(crate) backend: BackendLabel,
    #[serde(default, skip_serializing_if = "GuardState::is_ready")]
    pub(crate) state: GuardState,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) owner: Option<Owner>,
}

/// Records that `kernels` created the environment at `prefix` with `backend`, complete
/// (the guard's *ready*; see [`crate::guard`]).
pub fn write_env_marker(prefix: &Path, backend: BackendLabel) -> io::Result<()> {
    write_marker(prefix, backend, GuardState::Ready, None)
}

/// Writes the marker atomically and durably: temp file, fsync, rename, fsync of the prefix.
pub(crate) fn write_marker(
    prefix: &Path,
    backend: BackendLabel,
    state: GuardState,
    owner: Option<Owner>,
) -> io::Result<()> {
    use std::io::Write;
    let marker = Marker {
        created_by: "kernels".to_owned(),
        backend,
        state,
        owner,
    };
    let text = serde_json::to_string(&marker).map_err(io::Error::other)?;
    let tmp = prefix.join(format!("{ENV_MARKER}.tmp"));
    let mut file = fs::File::create(&tmp)?;
    file.write_all(text.as_bytes())?;
    file.write_all(b"\n")?;
    file.sync_all()?;
    drop(file);
    fs::rename(&tmp, prefix.join(ENV_MARKER))?;
    crate::durable::sync_dir(prefix);
    Ok(())
}

/// The marker in `prefix`, when there is one of ours (bounded, regular file).
pub(crate) fn read_marker(prefix: &Path) -> Option<Marker> {
    use std::io::Read;
    let path = prefix.join(ENV_MARKER);
    if !fs::symlink_metadata(&path).is_ok_and(|m| m.is_file()) {
        return None;
    }
    let mut bytes = Vec::new();
    fs::File::open(&path)
        .ok()?
        .take(MAX_MARKER_BYTES)
        .read_to_end(&mut bytes)
        .ok()?;
    let marker: Marker = serde_json::from_slice(&bytes).ok()?;
    (marker.created_by == "kernels" && marker.backend != BackendLabel::Existing).then_some(marker)
}

/// How `kernels` created the environment at `prefix`, or `None` when it did not (no marker,
/// or one that is not ours or not readable). Says nothing about whether it is complete:
/// see [`crate::guard::state`].
pub fn read_env_marker(prefix: &Path) -> Option<BackendLabel> {
    read_marker(prefix).map(|m| m.backend)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn marker_round_trips_and_foreign_files_are_ignored() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(read_env_marker(dir.path()), None);
        write_env_marker(dir.path(), BackendLabel::UV).unwrap();
        assert_eq!(read_env_marker(dir.path()), Some(BackendLabel::UV));
        assert!(!dir.path().join(format!("{ENV_MARKER}.tmp")).exists());
        for foreign in [
            "not json",
            r#"{"created_by": "someone", "backend": "uv"}"#,
            r#"{"created_by": "kernels", "backend": "existing"}"#,
            r#"{"created_by": "kernels"}"#,
        ] {
            fs::write(dir.path().join(ENV_MARKER), foreign).unwrap();
            assert_eq!(read_env_marker(dir.path()), None, "{foreign}");
        }
    }
}
