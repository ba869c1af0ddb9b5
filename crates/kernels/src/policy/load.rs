//! Finding and reading the policy sources, and deciding whether the system file can be
//! trusted. Loading never fails: a source that cannot be used is reported, with why.

use std::path::{Path, PathBuf};

use serde::Serialize;

use super::file::PolicyDoc;
use super::vars::{DEFAULT_SYSTEM_POLICY, KERNELS_SYSTEM_POLICY, XDG_CONFIG_HOME};
use super::{builtin_entries, Policy, Source};

/// Where the policy files are.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolicyPaths {
    /// The administrator's file `kernels protect --system` writes: [`KERNELS_SYSTEM_POLICY`]
    /// when set, else [`DEFAULT_SYSTEM_POLICY`]. Always read.
    pub system: PathBuf,
    /// [`DEFAULT_SYSTEM_POLICY`] when `system` is another file: the fixed administrator's
    /// file is read whatever the environment says, so `KERNELS_SYSTEM_POLICY` can add a
    /// second system file (tests, administrators who keep one elsewhere) but never replace or
    /// switch off the fixed one.
    pub fixed: Option<PathBuf>,
    /// The user's file (`None` without a home directory).
    pub user: Option<PathBuf>,
}

impl PolicyPaths {
    /// The paths for this host: [`DEFAULT_SYSTEM_POLICY`] always, [`KERNELS_SYSTEM_POLICY`]
    /// besides it when set, and `$XDG_CONFIG_HOME/kernels/policy.json` or
    /// `~/.config/kernels/policy.json`.
    pub fn from_host(host: &envs::HostEnv) -> PolicyPaths {
        let fixed = PathBuf::from(DEFAULT_SYSTEM_POLICY);
        let system = host
            .get(KERNELS_SYSTEM_POLICY)
            .filter(|p| !p.is_empty())
            .map_or_else(|| fixed.clone(), PathBuf::from);
        let fixed = (system != fixed).then_some(fixed);
        let config = host
            .get(XDG_CONFIG_HOME)
            .map(PathBuf::from)
            .filter(|p| p.is_absolute())
            .or_else(|| host.home.as_ref().map(|h| h.join(".config")));
        PolicyPaths {
            system,
            fixed,
            user: config.map(|c| c.join("kernels").join("policy.json")),
        }
    }
}

/// What one source contributed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SourceReport {
    /// The source.
    pub source: Source,
    /// What happened when reading it.
    pub state: SourceState,
}

/// The outcome of reading one source.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum SourceState {
    /// Read; this many entries apply.
    Loaded {
        /// Number of entries.
        entries: usize,
    },
    /// The file does not exist.
    Absent,
    /// The file exists but was not used (a system file others may write: its word cannot be
    /// trusted; the other sources still apply).
    Ignored {
        /// Why.
        reason: String,
    },
    /// A system file that exists but cannot be read or understood (unreadable, not a regular
    /// file, too large, invalid). Nobody can tell what it protects, so the policy fails
    /// closed: every check that could touch a protected item refuses until it is fixed.
    Unusable {
        /// Why.
        reason: String,
    },
}

impl SourceState {
    /// Why the source was not used, when it was not.
    pub fn reason(&self) -> Option<&str> {
        match self {
            SourceState::Ignored { reason } | SourceState::Unusable { reason } => Some(reason),
            _ => None,
        }
    }
}

impl Policy {
    /// Reads every source and merges them (see the module docs of [`crate::policy`]).
    pub fn load(paths: &PolicyPaths) -> Policy {
        let mut policy = Policy::from_entries(builtin_entries());
        let builtin_count = policy.entries.len();
        policy.sources.push(SourceReport {
            source: Source::BuiltIn,
            state: SourceState::Loaded {
                entries: builtin_count,
            },
        });
        for file in paths.fixed.iter().chain(std::iter::once(&paths.system)) {
            let trust = system_file_trust(file);
            policy.read_source(Source::System(file.clone()), trust);
        }
        // A missing fixed file next to another system file is not worth a line in reports.
        if let Some(fixed) = &paths.fixed {
            policy.sources.retain(|s| {
                !(s.source == Source::System(fixed.clone()) && s.state == SourceState::Absent)
            });
        }
        if let Some(user) = &paths.user {
            let source = Source::User(user.clone());
            if let Err(why) = user_file_trust(user) {
                policy.warnings.push(format!(
                    "{source}: {why} (still applied: it can only add protection)"
                ));
            }
            policy.read_source(source, Ok(()));
        }
        policy
    }

    fn read_source(&mut self, source: Source, trust: Result<(), String>) {
        let Some(path) = source.path().map(Path::to_path_buf) else {
            return;
        };
        let state = match PolicyDoc::read(&path, &source) {
            Ok(None) => SourceState::Absent,
            Ok(Some(doc)) => match trust {
                Err(reason) => {
                    self.warnings.push(format!("{source} is ignored: {reason}"));
                    SourceState::Ignored { reason }
                }
                Ok(()) => {
                    for w in &doc.warnings {
                        self.warnings.push(format!("{source}: {w}"));
                    }
                    let n = doc.entries.len();
                    self.entries.extend(doc.entries);
                    SourceState::Loaded { entries: n }
                }
            },
            Err(e) if matches!(source, Source::System(_)) => {
                let reason = boot::error_chain(&e);
                self.warnings.push(format!(
                    "{source} cannot be used: {reason}; changes to kernels and environments \
                     are refused until an administrator fixes it"
                ));
                SourceState::Unusable { reason }
            }
            Err(e) => {
                let reason = boot::error_chain(&e);
                self.warnings.push(format!("{source} is ignored: {reason}"));
                SourceState::Ignored { reason }
            }
        };
        self.sources.push(SourceReport { source, state });
    }
}

/// Whether the system file may be trusted: not writable by group or others, in a directory
/// others cannot replace it in, owned by root or by the user running `kernels` (an
/// administrator's own account). `Ok` when the file does not exist.
#[cfg(unix)]
pub(crate) fn system_file_trust(path: &Path) -> Result<(), String> {
    use std::os::unix::fs::MetadataExt;
    let meta = match std::fs::metadata(path) {
        Ok(m) => m,
        Err(_) => return Ok(()),
    };
    if !meta.is_file() {
        return Err("it is not a regular file".to_string());
    }
    let mode = meta.mode();
    if mode & 0o022 != 0 {
        return Err(format!(
            "it is writable by {} (mode {:o}); only its owner may write it",
            if mode & 0o002 != 0 {
                "everyone"
            } else {
                "its group"
            },
            mode & 0o7777
        ));
    }
    let me = rustix::process::geteuid().as_raw();
    if meta.uid() != 0 && meta.uid() != me {
        return Err(format!(
            "it is owned by uid {}, neither root nor the current user",
            meta.uid()
        ));
    }
    if let Some(dir) = path.parent() {
        if let Ok(d) = std::fs::metadata(dir) {
            let sticky = d.mode() & 0o1000 != 0;
            if d.mode() & 0o002 != 0 && !sticky {
                return Err(format!(
                    "its directory {} is writable by everyone, so anyone could replace it",
                    dir.display()
                ));
            }
        }
    }
    Ok(())
}

#[cfg(not(unix))]
pub(crate) fn system_file_trust(_path: &Path) -> Result<(), String> {
    Ok(())
}

/// The user file is always applied (it only adds protection); this only produces a warning
/// when someone else could write it.
#[cfg(unix)]
fn user_file_trust(path: &Path) -> Result<(), String> {
    use std::os::unix::fs::MetadataExt;
    match std::fs::metadata(path) {
        Ok(m) if m.mode() & 0o002 != 0 => Err(format!(
            "it is writable by everyone (mode {:o})",
            m.mode() & 0o7777
        )),
        _ => Ok(()),
    }
}

#[cfg(not(unix))]
fn user_file_trust(_path: &Path) -> Result<(), String> {
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::Target;
    #[cfg(unix)]
    use std::os::unix::fs::PermissionsExt;

    fn paths(dir: &Path) -> PolicyPaths {
        PolicyPaths {
            system: dir.join("etc/policy.json"),
            fixed: None,
            user: Some(dir.join("home/.config/kernels/policy.json")),
        }
    }

    fn write(path: &Path, text: &str) {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
        #[cfg(unix)]
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o644)).unwrap();
    }

    #[test]
    fn paths_from_host() {
        let host =
            envs::HostEnv::from_vars([("HOME", "/h"), ("KERNELS_SYSTEM_POLICY", "/s/p.json")]);
        let p = PolicyPaths::from_host(&host);
        assert_eq!(p.system, PathBuf::from("/s/p.json"));
        // The variable adds a file; the administrator's fixed file is still read.
        assert_eq!(p.fixed, Some(PathBuf::from(DEFAULT_SYSTEM_POLICY)));
        for off in ["", DEFAULT_SYSTEM_POLICY] {
            let host = envs::HostEnv::from_vars([("HOME", "/h"), ("KERNELS_SYSTEM_POLICY", off)]);
            let p = PolicyPaths::from_host(&host);
            assert_eq!(p.system, PathBuf::from(DEFAULT_SYSTEM_POLICY));
            assert_eq!(p.fixed, None);
        }
        assert_eq!(
            p.user,
            Some(PathBuf::from("/h/.config/kernels/policy.json"))
        );
        let host = envs::HostEnv::from_vars([("HOME", "/h"), ("XDG_CONFIG_HOME", "/x")]);
        let p = PolicyPaths::from_host(&host);
        assert_eq!(p.system, PathBuf::from(DEFAULT_SYSTEM_POLICY));
        assert_eq!(p.user, Some(PathBuf::from("/x/kernels/policy.json")));
        let p = PolicyPaths::from_host(&envs::HostEnv::from_vars([("XDG_CONFIG_HOME", "rel")]));
        assert_eq!(p.user, None);
    }

    #[test]
    fn merges_builtin_system_and_user() {
        let dir = tempfile::tempdir().unwrap();
        let p = paths(dir.path());
        write(
            &p.system,
            r#"{"version": 1, "kernels": [{"name": "sys-k", "required": true}]}"#,
        );
        write(p.user.as_ref().unwrap(), r#"{"envs": [{"name": "mine"}]}"#);
        let policy = Policy::load(&p);
        assert!(policy.warnings.is_empty(), "{:?}", policy.warnings);
        let targets: Vec<&Target> = policy.entries().iter().map(|e| &e.target).collect();
        assert!(targets.contains(&&Target::Kernel("sys-k".into())));
        assert!(targets.contains(&&Target::EnvName("mine".into())));
        assert!(targets.contains(&&Target::CondaBase));
        assert_eq!(policy.sources.len(), 3);
        assert!(policy.system_file_unusable().is_none());
    }

    #[test]
    fn missing_files_are_absent() {
        let dir = tempfile::tempdir().unwrap();
        let policy = Policy::load(&paths(dir.path()));
        assert_eq!(policy.sources[1].state, SourceState::Absent);
        assert_eq!(policy.sources[2].state, SourceState::Absent);
        assert_eq!(policy.entries().len(), builtin_entries().len());
    }

    #[cfg(unix)]
    #[test]
    fn writable_system_file_is_ignored_with_a_warning() {
        let dir = tempfile::tempdir().unwrap();
        let p = paths(dir.path());
        write(&p.system, r#"{"kernels": [{"name": "sys-k"}]}"#);
        std::fs::set_permissions(&p.system, std::fs::Permissions::from_mode(0o666)).unwrap();
        let policy = Policy::load(&p);
        assert!(policy.system_file_unusable().is_some());
        assert!(
            policy.warnings[0].contains("writable by everyone"),
            "{:?}",
            policy.warnings
        );
        assert!(!policy
            .entries()
            .iter()
            .any(|e| e.target == Target::Kernel("sys-k".into())));
        std::fs::set_permissions(&p.system, std::fs::Permissions::from_mode(0o664)).unwrap();
        assert!(Policy::load(&p).warnings[0].contains("its group"));
    }

    #[cfg(unix)]
    #[test]
    fn world_writable_directory_without_sticky_bit_is_distrusted() {
        let dir = tempfile::tempdir().unwrap();
        let p = paths(dir.path());
        write(&p.system, r#"{"kernels": []}"#);
        let etc = p.system.parent().unwrap();
        std::fs::set_permissions(etc, std::fs::Permissions::from_mode(0o777)).unwrap();
        assert!(Policy::load(&p).system_file_unusable().is_some());
        std::fs::set_permissions(etc, std::fs::Permissions::from_mode(0o1777)).unwrap();
        assert!(Policy::load(&p).system_file_unusable().is_none());
    }

    #[test]
    fn malformed_system_file_is_reported_and_builtins_still_apply() {
        let dir = tempfile::tempdir().unwrap();
        let p = paths(dir.path());
        write(&p.system, "{not json");
        let policy = Policy::load(&p);
        assert!(policy.system_file_unusable().is_some());
        assert!(policy.fails_closed().is_some());
        assert!(policy
            .entries()
            .iter()
            .any(|e| e.target == Target::CondaBase));
    }

    /// A kernel the refusal checks can be asked about.
    fn kernel(name: &str) -> kernelspec::FoundKernel {
        kernelspec::FoundKernel {
            name: name.into(),
            name_valid: true,
            resource_dir: PathBuf::from("/k").join(name),
            dir_index: 0,
            scope: kernelspec::Scope::User,
            is_symlink: false,
            spec: Ok(kernelspec::KernelSpec::default()),
            shadows: Vec::new(),
            shadowed_by: None,
        }
    }

    #[cfg(unix)]
    #[test]
    fn an_unusable_system_file_fails_closed_and_never_blocks() {
        let dir = tempfile::tempdir().unwrap();
        let fifo = dir.path().join("fifo.json");
        rustix::fs::mknodat(
            rustix::fs::CWD,
            &fifo,
            rustix::fs::FileType::Fifo,
            rustix::fs::Mode::from_raw_mode(0o644),
            0,
        )
        .unwrap();
        let invalid = dir.path().join("invalid.json");
        write(&invalid, "{\"kernels\": [");
        let unreadable_dir = dir.path().join("dir.json");
        std::fs::create_dir(&unreadable_dir).unwrap();
        for bad in [Path::new("/dev/null"), &fifo, &invalid, &unreadable_dir] {
            let p = PolicyPaths {
                system: bad.to_path_buf(),
                fixed: None,
                user: None,
            };
            let policy = Policy::load(&p);
            let report = policy.fails_closed().unwrap_or_else(|| panic!("{bad:?}"));
            assert!(matches!(report.state, SourceState::Unusable { .. }));
            let refusal = policy.check_remove_kernel(&kernel("anything")).unwrap_err();
            assert!(
                refusal.to_string().contains("cannot be used"),
                "{bad:?}: {refusal}"
            );
            assert!(refusal.hint().contains("administrator"));
        }
    }

    #[test]
    fn the_variable_cannot_switch_off_the_fixed_file() {
        // The fixed file's place is a constant; here a stand-in plays it, as `fixed`.
        let dir = tempfile::tempdir().unwrap();
        let admin = dir.path().join("etc/kernels/policy.json");
        write(&admin, r#"{"kernels": [{"name": "adminkern"}]}"#);
        let p = PolicyPaths {
            system: dir.path().join("missing.json"),
            fixed: Some(admin.clone()),
            user: None,
        };
        let policy = Policy::load(&p);
        assert!(policy.fails_closed().is_none());
        assert!(policy.check_remove_kernel(&kernel("adminkern")).is_err());
        assert!(policy.check_remove_kernel(&kernel("other")).is_ok());
        // Pointing the variable at /dev/null refuses everything instead of nothing.
        let p = PolicyPaths {
            system: PathBuf::from("/dev/null"),
            ..p
        };
        let policy = Policy::load(&p);
        assert!(policy.check_remove_kernel(&kernel("adminkern")).is_err());
        assert!(policy.check_remove_kernel(&kernel("other")).is_err());
    }
}
