//! [`Prefix`]: the one model of an environment prefix, the directory that holds an
//! environment (`bin/python`, `conda-meta`, `pyvenv.cfg`, `lib/R`).
//!
//! A prefix is always absolute. How it was made absolute matters (the policy checks and
//! the planner compare prefixes), so each way has its own constructor and a call site says
//! which one it means:
//! * [`Prefix::absolute`]: a path the user gave, made absolute against the current
//!   directory lexically (`.` and repeated `/` dropped, `..` and symlinks kept), as
//!   [`std::path::absolute`] does;
//! * [`Prefix::canonical`]: the same with symlinks and `..` resolved (the directory must
//!   exist);
//! * [`Prefix::from_recorded`]: a path that is absolute already (recorded in a kernelspec,
//!   listed by conda, built from another prefix), kept byte for byte.
//!
//! It serializes as a plain string, as a path would (lossily when the path is not UTF-8,
//! so that one odd directory name does not abort a whole JSON document).

use std::ffi::OsStr;
use std::fmt;
use std::ops::Deref;
use std::path::{Path, PathBuf};

/// An absolute environment prefix.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Prefix(PathBuf);

impl Prefix {
    /// `path` made absolute against the current directory, lexically (unchanged when it is
    /// absolute already, but for `.` components and repeated separators).
    pub fn absolute(path: impl AsRef<Path>) -> Prefix {
        let path = path.as_ref();
        Prefix(std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf()))
    }

    /// `path` with every symlink and `..` resolved; fails when it does not exist.
    pub fn canonical(path: impl AsRef<Path>) -> std::io::Result<Prefix> {
        std::fs::canonicalize(path).map(Prefix)
    }

    /// A path that was made absolute where it was recorded (a kernelspec's metadata,
    /// conda's environment list) or built from another prefix: kept exactly as it is when it
    /// is absolute; a relative one is made absolute as [`Prefix::absolute`] does.
    pub fn from_recorded(path: impl Into<PathBuf>) -> Prefix {
        let path = path.into();
        if path.is_absolute() {
            Prefix(path)
        } else {
            Prefix::absolute(path)
        }
    }

    /// A path known to be absolute, kept exactly as it is; `None` for a relative one.
    pub fn from_absolute(path: impl Into<PathBuf>) -> Option<Prefix> {
        let path = path.into();
        path.is_absolute().then_some(Prefix(path))
    }

    /// The prefix as a path.
    pub fn as_path(&self) -> &Path {
        &self.0
    }

    /// The prefix as an owned path.
    pub fn into_path_buf(self) -> PathBuf {
        self.0
    }

    /// The prefix as the OS string a command line takes.
    pub fn as_os_str(&self) -> &OsStr {
        self.0.as_os_str()
    }
}

impl Deref for Prefix {
    type Target = Path;

    fn deref(&self) -> &Path {
        &self.0
    }
}

impl AsRef<Path> for Prefix {
    fn as_ref(&self) -> &Path {
        &self.0
    }
}

impl AsRef<OsStr> for Prefix {
    fn as_ref(&self) -> &OsStr {
        self.0.as_os_str()
    }
}

impl From<Prefix> for PathBuf {
    fn from(p: Prefix) -> PathBuf {
        p.0
    }
}

impl PartialEq<Path> for Prefix {
    fn eq(&self, other: &Path) -> bool {
        self.0 == other
    }
}

impl PartialEq<PathBuf> for Prefix {
    fn eq(&self, other: &PathBuf) -> bool {
        &self.0 == other
    }
}

impl PartialEq<Prefix> for PathBuf {
    fn eq(&self, other: &Prefix) -> bool {
        self == &other.0
    }
}

impl fmt::Display for Prefix {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0.display(), f)
    }
}

impl serde::Serialize for Prefix {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0.to_string_lossy())
    }
}

impl<'de> serde::Deserialize<'de> for Prefix {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Prefix, D::Error> {
        let path = <PathBuf as serde::Deserialize>::deserialize(d)?;
        Prefix::from_absolute(path)
            .ok_or_else(|| serde::de::Error::custom("an environment prefix must be absolute"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relative_paths_become_absolute_lexically() {
        let cwd = std::env::current_dir().unwrap();
        assert_eq!(Prefix::absolute("envs/x").as_path(), cwd.join("envs/x"));
        assert_eq!(Prefix::absolute("./x/../y").as_path(), cwd.join("x/../y"));
        assert_eq!(Prefix::absolute("/a//b/./c").as_path(), Path::new("/a/b/c"));
        assert_eq!(Prefix::from_absolute("x"), None);
        assert_eq!(Prefix::from_recorded("x").as_path(), cwd.join("x"));
        assert_eq!(
            Prefix::from_recorded("/a/./b").as_os_str(),
            OsStr::new("/a/./b")
        );
        assert_eq!(
            Prefix::from_absolute("/a/./b").unwrap().as_os_str(),
            OsStr::new("/a/./b")
        );
    }

    #[test]
    fn canonical_resolves_symlinks() {
        let t = tempfile::tempdir().unwrap();
        let real = t.path().join("real");
        std::fs::create_dir(&real).unwrap();
        std::os::unix::fs::symlink(&real, t.path().join("link")).unwrap();
        let p = Prefix::canonical(t.path().join("link")).unwrap();
        assert_eq!(p, std::fs::canonicalize(&real).unwrap());
        assert!(Prefix::canonical(t.path().join("gone")).is_err());
    }

    #[test]
    fn serializes_as_a_plain_string_and_displays_as_a_path() {
        let p = Prefix::absolute("/opt/envs/a b");
        assert_eq!(serde_json::to_string(&p).unwrap(), r#""/opt/envs/a b""#);
        assert_eq!(p.to_string(), "/opt/envs/a b");
        let back: Prefix = serde_json::from_str(r#""/opt/envs/a b""#).unwrap();
        assert_eq!(back, p);
        assert!(serde_json::from_str::<Prefix>(r#""rel""#).is_err());
        use std::os::unix::ffi::OsStrExt;
        let odd = Prefix::from_absolute(OsStr::from_bytes(b"/e/\xff")).unwrap();
        assert_eq!(serde_json::to_string(&odd).unwrap(), "\"/e/\u{fffd}\"");
    }
}
