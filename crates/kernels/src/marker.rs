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
//! It is written right after the environment is created (before anything else is installed
//! or registered) and read, without starting anything, by the snapshot. Neither conda nor
//! venv/uv look at unknown files in a prefix root; deleting the environment deletes it too.
//!
//! Anyone who can write the prefix can write or copy this file, so it is never trusted alone:
//! [`crate::ownership`] also asks for the creating user's record of the prefix and checks who
//! owns the marker.

use std::fs;
use std::io;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::spec_for_env::BackendLabel;

/// The marker's file name in the environment's root.
pub const ENV_MARKER: &str = ".kernels-env.json";

#[derive(Debug, Serialize, Deserialize)]
struct Marker {
    created_by: String,
    backend: BackendLabel,
}

/// Records that `kernels` created the environment at `prefix` with `backend` (written
/// atomically: temp file + rename).
pub fn write_env_marker(prefix: &Path, backend: BackendLabel) -> io::Result<()> {
    let marker = Marker {
        created_by: "kernels".to_owned(),
        backend,
    };
    let text = serde_json::to_string(&marker).map_err(io::Error::other)?;
    let tmp = prefix.join(format!("{ENV_MARKER}.tmp"));
    fs::write(&tmp, text + "\n")?;
    fs::rename(&tmp, prefix.join(ENV_MARKER))
}

/// How `kernels` created the environment at `prefix`, or `None` when it did not (no marker,
/// or one that is not ours or not readable).
pub fn read_env_marker(prefix: &Path) -> Option<BackendLabel> {
    let bytes = fs::read(prefix.join(ENV_MARKER)).ok()?;
    let marker: Marker = serde_json::from_slice(&bytes).ok()?;
    (marker.created_by == "kernels" && marker.backend != BackendLabel::Existing)
        .then_some(marker.backend)
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
