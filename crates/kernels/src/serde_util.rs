//! The crate's serde helpers, in one place.
//!
//! Serializing paths that may not be UTF-8 (a directory named with a stray `\xff` byte):
//! serde's own `Path` impl fails on them, which would abort a whole `--json` document. These
//! write the path lossily (invalid bytes become U+FFFD) instead.

use std::path::{Path, PathBuf};

use serde::Serializer;

/// One path.
pub(crate) fn path<S: Serializer>(p: &Path, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&p.to_string_lossy())
}

/// A list of paths.
pub(crate) fn paths<S: Serializer>(v: &[PathBuf], s: S) -> Result<S::Ok, S::Error> {
    s.collect_seq(v.iter().map(|p| p.to_string_lossy()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::ffi::OsStrExt;

    #[derive(serde::Serialize)]
    struct T {
        #[serde(serialize_with = "path")]
        p: PathBuf,
        #[serde(serialize_with = "paths")]
        v: Vec<PathBuf>,
    }

    #[test]
    fn invalid_utf8_paths_serialize() {
        let bad = PathBuf::from(std::ffi::OsStr::from_bytes(b"/k/hostile-\xff"));
        let t = T {
            p: bad.clone(),
            v: vec![bad, PathBuf::from("/ok")],
        };
        let text = serde_json::to_string(&t).unwrap();
        assert_eq!(
            text,
            "{\"p\":\"/k/hostile-\u{fffd}\",\"v\":[\"/k/hostile-\u{fffd}\",\"/ok\"]}"
        );
    }
}
