//! `kernels protect`: turning names (or the whole machine, `--snapshot`) into policy entries,
//! and recording them in a policy file under a lock.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use envs::Environment;
use kernelspec::Discovery;

use super::file::{Addition, PolicyDoc, PolicyFileError};
use super::{Source, Target};
use crate::journal::{policy_write_entry, Journal};

/// What one `kernels protect` argument names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProtectTarget {
    /// A kernel name.
    Kernel(String),
    /// An environment name.
    EnvName(String),
    /// An environment prefix.
    EnvPath(PathBuf),
}

/// Why an argument of `kernels protect` cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProtectError {
    /// Not a name or an absolute path (usage error).
    #[error(
        "{input:?} is not a kernel name, environment name or absolute environment path: {why}"
    )]
    Invalid {
        /// The argument.
        input: String,
        /// What is wrong.
        why: String,
    },
    /// No kernel or environment has this name.
    #[error("no kernel or environment named `{name}` exists")]
    NotFound {
        /// The argument.
        name: String,
        /// Existing names that are close.
        closest: Vec<String>,
    },
    /// The path is not an environment.
    #[error("{} is not an environment (no conda-meta, pyvenv.cfg or bin/python)", .path.display())]
    NotAnEnv {
        /// The path.
        path: PathBuf,
    },
}

impl ProtectError {
    /// Whether this is a usage error (exit 2) rather than a failure (exit 1).
    pub fn is_usage(&self) -> bool {
        matches!(self, ProtectError::Invalid { .. })
    }
}

/// Checks that `input` can be a name at all: a kernel name or a conda environment name, i.e.
/// 1 to 255 bytes of `[A-Za-z0-9._+@-]`, not `.`/`..` (paths are taken only when absolute).
fn check_name(input: &str) -> Result<(), ProtectError> {
    let invalid = |why: &str| ProtectError::Invalid {
        input: input.to_string(),
        why: why.to_string(),
    };
    if input.is_empty() {
        return Err(invalid("it is empty"));
    }
    if input.len() > kernelspec::MAX_NAME_LEN {
        return Err(invalid("it is longer than 255 bytes"));
    }
    if input == "." || input == ".." {
        return Err(invalid("'.' and '..' are not names"));
    }
    if input.contains('/') {
        return Err(invalid(
            "relative paths are not accepted; give an absolute path",
        ));
    }
    if let Some(c) = input
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || "._+@-".contains(*c)))
    {
        return Err(invalid(&format!("it contains {c:?}")));
    }
    Ok(())
}

/// Resolves `kernels protect NAME...` arguments against what exists now. A name may be a
/// kernel (case-insensitive), an environment name, or both; an absolute path must be an
/// environment. Every argument must name something that exists.
pub fn plan_protect(
    inputs: &[String],
    discovery: &Discovery,
    envs: &[Environment],
) -> Result<Vec<ProtectTarget>, ProtectError> {
    let mut out = Vec::new();
    for input in inputs {
        if input.starts_with('/') {
            if input.len() > 4096 || input.contains('\0') {
                return Err(ProtectError::Invalid {
                    input: input.clone(),
                    why: "not a usable path".into(),
                });
            }
            let path = PathBuf::from(input);
            if !path.is_dir() {
                return Err(ProtectError::NotFound {
                    name: input.clone(),
                    closest: Vec::new(),
                });
            }
            if Environment::inspect(&path).is_none() {
                return Err(ProtectError::NotAnEnv { path });
            }
            out.push(ProtectTarget::EnvPath(path));
            continue;
        }
        check_name(input)?;
        let lower = input.to_ascii_lowercase();
        let mut found = false;
        if discovery
            .kernels
            .iter()
            .chain(discovery.shadowed.iter())
            .any(|k| k.name == lower)
        {
            out.push(ProtectTarget::Kernel(lower));
            found = true;
        }
        if envs
            .iter()
            .any(|e| e.name.as_deref() == Some(input.as_str()))
        {
            out.push(ProtectTarget::EnvName(input.clone()));
            found = true;
        }
        if !found {
            let candidates: Vec<String> = discovery
                .kernels
                .iter()
                .map(|k| k.name.clone())
                .chain(envs.iter().filter_map(|e| e.name.clone()))
                .collect();
            return Err(ProtectError::NotFound {
                name: input.clone(),
                closest: closest_names(input, &candidates),
            });
        }
    }
    Ok(out)
}

impl ProtectTarget {
    /// The required policy entry for this target.
    pub fn addition(&self) -> Addition {
        let target = match self {
            ProtectTarget::Kernel(n) => Target::Kernel(n.clone()),
            ProtectTarget::EnvName(n) => Target::EnvName(n.clone()),
            ProtectTarget::EnvPath(p) => Target::EnvPath(p.clone()),
        };
        Addition {
            target,
            required: true,
        }
    }
}

/// Every kernel (winning and shadowed copies, by name) and every environment (by prefix)
/// present now, including the environments behind kernels that no registry lists
/// (`kernel_envs`), as required entries. Sorted and without duplicates.
pub fn snapshot_additions(
    discovery: &Discovery,
    envs: &[Environment],
    kernel_envs: &[PathBuf],
) -> Vec<Addition> {
    let kernels: BTreeSet<&str> = discovery
        .kernels
        .iter()
        .chain(discovery.shadowed.iter())
        .map(|k| k.name.as_str())
        .collect();
    let mut prefixes: Vec<PathBuf> = Vec::new();
    for p in envs
        .iter()
        .map(|e| e.prefix.as_path())
        .chain(kernel_envs.iter().map(PathBuf::as_path))
    {
        if !prefixes.iter().any(|q| super::same_path(q, p)) {
            prefixes.push(p.to_path_buf());
        }
    }
    prefixes.sort();
    kernels
        .into_iter()
        .map(|n| Addition {
            target: Target::Kernel(n.to_string()),
            required: true,
        })
        .chain(prefixes.into_iter().map(|p| Addition {
            target: Target::EnvPath(p),
            required: true,
        }))
        .collect()
}

/// Adds `additions` to the policy file at `path` (created if missing), writing atomically, as
/// a step of `journal`: the file's previous content (or its absence) is recorded there
/// ([`crate::JournalEntry::PolicyWritten`]) before the write, so rolling the journal back — or the
/// next run's recovery, after a kill — puts the file back byte for byte. The caller commits
/// or rolls back. Returns how many entries were added or changed; nothing is written (or
/// recorded) when that is 0.
///
/// The read-modify-write is not locked here: callers serialise mutating runs with
/// [`crate::RunLock`] (a concurrent writer could lose an update, never corrupt the file).
pub fn write_additions(
    journal: &mut Journal,
    path: &Path,
    source: &Source,
    additions: &[Addition],
) -> Result<usize, PolicyFileError> {
    let mut doc = PolicyDoc::read(path, source)?.unwrap_or_else(PolicyDoc::empty);
    let changed = doc.add(additions);
    if changed == 0 {
        return Ok(0);
    }
    let journal_err = |source| PolicyFileError::Write {
        action: "record the previous content in the run's journal before rewriting",
        path: path.to_path_buf(),
        source,
    };
    let entry = policy_write_entry(path).map_err(journal_err)?;
    journal.record(entry).map_err(journal_err)?;
    doc.write(path)?;
    Ok(changed)
}

/// Up to three of `candidates` closest to `input` (see [`kernelspec::closest`]), best first.
pub fn closest_names(input: &str, candidates: &[String]) -> Vec<String> {
    kernelspec::closest(input, candidates.iter().map(String::as_str), 3)
        .into_iter()
        .map(str::to_owned)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use kernelspec::{FoundKernel, KernelSpec, Scope};
    use std::fs;

    fn found(name: &str) -> FoundKernel {
        FoundKernel {
            name: name.into(),
            name_valid: true,
            resource_dir: PathBuf::from("/k").join(name),
            dir_index: 0,
            scope: Scope::User,
            is_symlink: false,
            spec: Ok(KernelSpec::default()),
            shadows: Vec::new(),
            shadowed_by: None,
        }
    }

    fn env(name: Option<&str>, prefix: &Path) -> Environment {
        Environment {
            name: name.map(String::from),
            prefix: envs::Prefix::from_recorded(prefix),
            kind: envs::EnvKind::Conda,
            python: None,
            python_version: None,
            has_ipykernel: false,
            frozen: None,
        }
    }

    #[test]
    fn names_resolve_to_kernels_envs_or_both() {
        let d = Discovery {
            kernels: vec![found("torch"), found("python3")],
            shadowed: vec![found("old")],
            problems: vec![],
        };
        let envs = vec![env(Some("torch"), Path::new("/c/envs/torch"))];
        let t = plan_protect(&["Torch".into(), "old".into()], &d, &envs).unwrap();
        assert_eq!(
            t,
            vec![
                ProtectTarget::Kernel("torch".into()),
                ProtectTarget::Kernel("old".into())
            ]
        );
        let t = plan_protect(&["torch".into()], &d, &envs).unwrap();
        assert_eq!(t.len(), 2);
        match plan_protect(&["torhc".into()], &d, &envs).unwrap_err() {
            ProtectError::NotFound { closest, .. } => {
                assert_eq!(closest, vec!["torch".to_string()])
            }
            other => panic!("{other}"),
        }
    }

    #[test]
    fn escaping_names_are_usage_errors() {
        let d = Discovery {
            kernels: vec![],
            shadowed: vec![],
            problems: vec![],
        };
        for bad in [
            "../x", "a/b", "a\0b", ".", "..", "", "a b", "a\\b", "\u{212a}",
        ] {
            let e = plan_protect(&[bad.to_string()], &d, &[]).unwrap_err();
            assert!(e.is_usage(), "{bad:?}: {e}");
        }
        let e = plan_protect(&["x".repeat(300)], &d, &[]).unwrap_err();
        assert!(e.is_usage());
        let e = plan_protect(&["/no/such/env".into()], &d, &[]).unwrap_err();
        assert!(matches!(e, ProtectError::NotFound { .. }));
    }

    #[test]
    fn snapshot_lists_everything_once() {
        let tmp = tempfile::tempdir().unwrap();
        let d = Discovery {
            kernels: vec![found("b"), found("a")],
            shadowed: vec![found("a")],
            problems: vec![],
        };
        let e = tmp.path().join("e");
        std::fs::create_dir_all(&e).unwrap();
        let adds = snapshot_additions(&d, &[env(None, &e)], &[e.clone(), tmp.path().join("v")]);
        let targets: Vec<Target> = adds.iter().map(|a| a.target.clone()).collect();
        assert_eq!(
            targets,
            vec![
                Target::Kernel("a".into()),
                Target::Kernel("b".into()),
                Target::EnvPath(e),
                Target::EnvPath(tmp.path().join("v")),
            ]
        );
        assert!(adds.iter().all(|a| a.required));
    }

    #[test]
    fn write_additions_is_idempotent() {
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join("cfg/kernels/policy.json");
        let source = Source::User(path.clone());
        let adds = vec![Addition {
            target: Target::Kernel("k".into()),
            required: true,
        }];
        let mut j = Journal::new();
        assert_eq!(write_additions(&mut j, &path, &source, &adds).unwrap(), 1);
        let before = fs::read(&path).unwrap();
        assert_eq!(write_additions(&mut j, &path, &source, &adds).unwrap(), 0);
        assert_eq!(j.entries().len(), 1, "an unchanged file is not a step");
        j.commit();
        assert_eq!(fs::read(&path).unwrap(), before);
    }

    #[test]
    fn closest() {
        let c: Vec<String> = ["python3", "python38-azureml", "torch", "r"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        assert_eq!(closest_names("pyhton3", &c)[0], "python3");
        assert!(closest_names("zzzzzz", &c).is_empty());
        assert_eq!(
            closest_names("azureml", &c),
            vec!["python38-azureml".to_string()]
        );
    }
}
