//! The decisions: may this kernel or environment be removed, replaced, registered over,
//! changed? Each check reads only what it is given (plus the CEP 22 marker of the environment a
//! kernel directory sits in) and returns `Ok` or a [`Refusal`].

use std::fmt;
use std::path::{Path, PathBuf};

use envs::{EnvKind, Environment, Frozen};
use kernelspec::{Discovery, FoundKernel, JupyterPaths};
use serde::Serialize;

use super::refusal::{Clash, EnvAction, KernelAction, Protection, Refusal};
use super::{same_path, Entry, Policy, Target};

/// Something worth telling the user about a registration that is allowed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum RegisterWarning {
    /// The new kernel hides a kernel of the same name in a lower-priority directory.
    Shadows {
        /// The kernel name.
        name: String,
        /// The spec directory that will be hidden.
        #[serde(serialize_with = "crate::serde_util::path")]
        hidden: PathBuf,
    },
    /// A kernel of the same name in a higher-priority directory hides the new one: Jupyter
    /// will not start it.
    ShadowedBy {
        /// The kernel name.
        name: String,
        /// The spec directory that wins.
        #[serde(serialize_with = "crate::serde_util::path")]
        winner: PathBuf,
    },
    /// Another visible kernel has the same display name (frontends cannot tell them apart).
    DuplicateDisplayName {
        /// The display name.
        display_name: String,
        /// The other kernel.
        other: String,
        /// Its spec directory.
        #[serde(serialize_with = "crate::serde_util::path")]
        other_dir: PathBuf,
    },
    /// The target directory is not on Jupyter's search path.
    NotOnSearchPath {
        /// The directory.
        #[serde(serialize_with = "crate::serde_util::path")]
        dir: PathBuf,
    },
}

impl fmt::Display for RegisterWarning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RegisterWarning::Shadows { name, hidden } => write!(
                f,
                "kernel `{name}` will hide the kernel of the same name at {}",
                hidden.display()
            ),
            RegisterWarning::ShadowedBy { name, winner } => write!(
                f,
                "kernel `{name}` will be hidden by the kernel of the same name at {}, which \
                 Jupyter finds first",
                winner.display()
            ),
            RegisterWarning::DuplicateDisplayName {
                display_name,
                other,
                other_dir,
            } => write!(
                f,
                "display name \"{display_name}\" is also used by kernel `{other}` ({}); \
                 frontends will show two identical entries",
                other_dir.display()
            ),
            RegisterWarning::NotOnSearchPath { dir } => write!(
                f,
                "{} is not on Jupyter's kernel search path; Jupyter will not see this kernel",
                dir.display()
            ),
        }
    }
}

/// Something on the machine that must survive the deletion of an environment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", content = "path", rename_all = "snake_case")]
pub enum Occupant {
    /// An environment the policy protects.
    ProtectedEnv(#[serde(serialize_with = "crate::serde_util::path")] PathBuf),
    /// A conda installation (its root, the base environment).
    CondaRoot(#[serde(serialize_with = "crate::serde_util::path")] PathBuf),
    /// A directory Jupyter finds kernels in, or a kernel's own directory.
    KernelDir(#[serde(serialize_with = "crate::serde_util::path")] PathBuf),
    /// Another environment (a venv or conda prefix below the one being deleted).
    OtherEnv(#[serde(serialize_with = "crate::serde_util::path")] PathBuf),
}

impl Occupant {
    /// Where it is (canonical).
    pub fn path(&self) -> &Path {
        match self {
            Occupant::ProtectedEnv(p)
            | Occupant::CondaRoot(p)
            | Occupant::KernelDir(p)
            | Occupant::OtherEnv(p) => p,
        }
    }
}

impl fmt::Display for Occupant {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Occupant::ProtectedEnv(p) => write!(f, "the protected environment {}", p.display()),
            Occupant::CondaRoot(p) => write!(f, "the conda installation {}", p.display()),
            Occupant::KernelDir(p) => write!(f, "the kernel directory {}", p.display()),
            Occupant::OtherEnv(p) => write!(f, "another environment ({})", p.display()),
        }
    }
}

/// Display names match when they look the same: case-insensitively, after NFKC, with
/// invisible characters dropped, whitespace and dashes folded and look-alike letters mapped
/// (see [`super::confusable`]).
fn same_display_name(a: &str, b: &str) -> bool {
    super::confusable::same_display_name(a, b)
}

/// The environment prefix of a `<prefix>/share/jupyter/kernels` directory and its CEP 22 marker,
/// when that environment is frozen.
pub fn frozen_env_of_kernel_dir(kernels_dir: &Path) -> Option<(PathBuf, Frozen)> {
    let share = kernels_dir.parent()?;
    if kernels_dir.file_name()? != "kernels" || share.file_name()? != "jupyter" {
        return None;
    }
    let share = share.parent()?;
    if share.file_name()? != "share" {
        return None;
    }
    let prefix = share.parent()?;
    envs::read_frozen(prefix).map(|f| (prefix.to_path_buf(), f))
}

impl Policy {
    fn matching_kernel_entries(&self, name: &str, display_name: Option<&str>) -> Vec<&Entry> {
        self.entries
            .iter()
            .filter(|e| match &e.target {
                Target::Kernel(n) => n.eq_ignore_ascii_case(name),
                Target::DisplayName(d) => display_name.is_some_and(|dn| same_display_name(d, dn)),
                _ => false,
            })
            .collect()
    }

    /// The rule protecting a kernel of this name (or display name), if any.
    pub fn kernel_protection(&self, name: &str, display_name: Option<&str>) -> Option<Protection> {
        Policy::strongest(self.matching_kernel_entries(name, display_name).into_iter())
            .map(Entry::protection)
    }

    /// The rule protecting a discovered kernel (by its name, or its display name when its
    /// spec loads), if any.
    pub fn kernel_protection_of(&self, kernel: &FoundKernel) -> Option<Box<Protection>> {
        let display = kernel.spec.as_ref().ok().map(|s| s.display_name.as_str());
        self.kernel_protection(&kernel.name, display).map(Box::new)
    }

    /// The entries that name this kernel (for reports).
    pub fn kernel_entries(&self, kernel: &FoundKernel) -> Vec<&Entry> {
        let display = kernel.spec.as_ref().ok().map(|s| s.display_name.as_str());
        self.matching_kernel_entries(&kernel.name, display)
    }

    /// The entries that name this environment (for reports).
    pub fn env_entries(&self, env: &Environment) -> Vec<&Entry> {
        self.entries
            .iter()
            .filter(|e| match &e.target {
                Target::EnvName(n) => env.name.as_deref() == Some(n.as_str()),
                Target::EnvPath(p) => same_path(p, &env.prefix),
                Target::CondaBase => env.kind == EnvKind::CondaBase,
                _ => false,
            })
            .collect()
    }

    /// The rule protecting an environment, if any.
    pub fn env_protection(&self, env: &Environment) -> Option<Box<Protection>> {
        Policy::strongest(self.env_entries(env).into_iter()).map(|e| Box::new(e.protection()))
    }

    /// May `kernels remove` delete this kernel? Refused when it is protected, or when it lives
    /// inside a frozen environment.
    pub fn check_remove_kernel(&self, kernel: &FoundKernel) -> Result<(), Refusal> {
        self.check_kernel(kernel, KernelAction::Remove)
    }

    /// May `kernels prune` delete this kernel? Same rule as [`Policy::check_remove_kernel`].
    pub fn check_prune_kernel(&self, kernel: &FoundKernel) -> Result<(), Refusal> {
        self.check_kernel(kernel, KernelAction::Prune)
    }

    /// Refuses while a system policy file cannot be used (see [`Policy::fails_closed`]).
    fn check_usable(&self) -> Result<(), Refusal> {
        match self.fails_closed() {
            Some(report) => Err(Refusal::policy_unusable(
                report.source.path().unwrap_or(Path::new("")),
                report.state.reason().unwrap_or("unreadable"),
            )),
            None => Ok(()),
        }
    }

    fn check_kernel(&self, kernel: &FoundKernel, action: KernelAction) -> Result<(), Refusal> {
        self.check_usable()?;
        if let Some(by) = self.kernel_protection_of(kernel) {
            return Err(Refusal::Kernel {
                action,
                name: kernel.name.clone(),
                dir: kernel.resource_dir.clone(),
                by,
            });
        }
        if let Some((prefix, frozen)) = kernel
            .resource_dir
            .parent()
            .and_then(frozen_env_of_kernel_dir)
        {
            return Err(Refusal::Frozen {
                action: EnvAction::RemoveKernel,
                prefix,
                message: frozen.message,
            });
        }
        Ok(())
    }

    /// May a kernel `name` with `display_name` be written into `target_kernels_dir`?
    ///
    /// Refused when a protected kernel of the same name (case-insensitively) exists in any
    /// directory (the new spec would replace it, shadow it, or collide with it), when another
    /// protected kernel already shows `display_name`, or when the directory is inside a frozen
    /// environment. Allowed registrations still get warnings: any shadowing, either way, and
    /// duplicate display names, for unprotected kernels too.
    pub fn check_register_kernel(
        &self,
        name: &str,
        display_name: &str,
        target_kernels_dir: &Path,
        discovery: &Discovery,
        paths: &JupyterPaths,
    ) -> Result<Vec<RegisterWarning>, Refusal> {
        self.check_usable()?;
        let name = name.to_ascii_lowercase();
        let mut warnings = Vec::new();
        if let Some((prefix, frozen)) = frozen_env_of_kernel_dir(target_kernels_dir) {
            return Err(Refusal::Frozen {
                action: EnvAction::AddKernel,
                prefix,
                message: frozen.message,
            });
        }
        let target_index = paths
            .kernel_dirs()
            .iter()
            .position(|d| same_path(&d.path, target_kernels_dir));
        if target_index.is_none() {
            warnings.push(RegisterWarning::NotOnSearchPath {
                dir: target_kernels_dir.to_path_buf(),
            });
        }
        let everyone = discovery.kernels.iter().chain(discovery.shadowed.iter());
        for kernel in everyone.clone().filter(|k| k.name == name) {
            let same_dir = kernel
                .resource_dir
                .parent()
                .is_some_and(|d| same_path(d, target_kernels_dir));
            let clash = if same_dir {
                Clash::Replaces
            } else {
                match target_index {
                    Some(t) if t < kernel.dir_index => Clash::Shadows,
                    _ => Clash::CollidesWith,
                }
            };
            if let Some(by) = self.kernel_protection_of(kernel) {
                return Err(Refusal::NameClash {
                    name,
                    target_dir: target_kernels_dir.to_path_buf(),
                    clash,
                    existing_dir: kernel.resource_dir.clone(),
                    by,
                });
            }
            match clash {
                Clash::Replaces => {}
                Clash::Shadows => warnings.push(RegisterWarning::Shadows {
                    name: name.clone(),
                    hidden: kernel.resource_dir.clone(),
                }),
                Clash::CollidesWith => warnings.push(RegisterWarning::ShadowedBy {
                    name: name.clone(),
                    winner: kernel.resource_dir.clone(),
                }),
            }
        }
        for kernel in discovery.kernels.iter().filter(|k| k.name != name) {
            let Ok(spec) = &kernel.spec else { continue };
            if !same_display_name(&spec.display_name, display_name) {
                continue;
            }
            if let Some(by) = self.kernel_protection_of(kernel) {
                return Err(Refusal::DisplayName {
                    name,
                    display_name: display_name.to_string(),
                    existing: kernel.name.clone(),
                    by,
                });
            }
            warnings.push(RegisterWarning::DuplicateDisplayName {
                display_name: display_name.to_string(),
                other: kernel.name.clone(),
                other_dir: kernel.resource_dir.clone(),
            });
        }
        Ok(warnings)
    }

    /// May this environment be deleted? Refused when it is protected or frozen.
    pub fn check_remove_env(&self, env: &Environment) -> Result<(), Refusal> {
        self.check_usable()?;
        if let Some(by) = self.env_protection(env) {
            return Err(Refusal::Env {
                action: EnvAction::Remove,
                prefix: env.prefix.to_path_buf(),
                by,
            });
        }
        check_not_frozen(env, EnvAction::Remove)
    }

    /// May the environment be deleted, with everything under its prefix? Refused as
    /// [`Policy::check_remove_env`] does, and when any of `occupants` (what lies on the
    /// machine and must stay: protected environments, conda installations, kernel
    /// directories, other environments) lies at or under the prefix. `env.prefix` and the
    /// occupants' paths must be canonical (see [`crate::deletion`]).
    pub fn check_delete_env(
        &self,
        env: &Environment,
        occupants: &[Occupant],
    ) -> Result<(), Refusal> {
        self.check_remove_env(env)?;
        match occupants.iter().find(|o| o.path().starts_with(&env.prefix)) {
            Some(o) => Err(Refusal::Contains {
                prefix: env.prefix.to_path_buf(),
                inside: o.clone(),
            }),
            None => Ok(()),
        }
    }

    /// May packages be installed into (or removed from) this environment? Protected
    /// environments allow it (that is what their users are told to do); frozen ones do not.
    pub fn check_modify_env(&self, env: &Environment) -> Result<(), Refusal> {
        check_not_frozen(env, EnvAction::Modify)
    }
}

fn check_not_frozen(env: &Environment, action: EnvAction) -> Result<(), Refusal> {
    match &env.frozen {
        Some(frozen) => Err(Refusal::Frozen {
            action,
            prefix: env.prefix.to_path_buf(),
            message: frozen.message.clone(),
        }),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::{builtin_entries, Source};
    use kernelspec::{KernelSpec, PathsInput, Platform, Scope};

    /// A machine with a JUPYTER_PATH dir (highest), a user dir and a system-like dir.
    struct Machine {
        _tmp: tempfile::TempDir,
        paths: JupyterPaths,
        high: PathBuf,
        user: PathBuf,
    }

    impl Machine {
        fn new() -> Machine {
            let tmp = tempfile::tempdir().unwrap();
            let high = tmp.path().join("jp");
            let home = tmp.path().join("home");
            std::fs::create_dir_all(&home).unwrap();
            let input = PathsInput::new(Platform::Linux, Some(home.clone()))
                .var("JUPYTER_PATH", &high.display().to_string())
                .var("JUPYTER_DATA_DIR", &home.join("data").display().to_string());
            let paths = JupyterPaths::new(&input);
            Machine {
                paths,
                high: high.join("kernels"),
                user: home.join("data/kernels"),
                _tmp: tmp,
            }
        }

        fn index(&self, dir: &Path) -> usize {
            self.paths
                .kernel_dirs()
                .iter()
                .position(|d| d.path == dir)
                .unwrap()
        }

        fn kernel(&self, dir: &Path, dirname: &str, display: &str) -> FoundKernel {
            let spec = KernelSpec {
                argv: vec!["python".into()],
                display_name: display.into(),
                language: "python".into(),
                ..KernelSpec::default()
            };
            FoundKernel {
                name: dirname.to_lowercase(),
                name_valid: true,
                resource_dir: dir.join(dirname),
                dir_index: self.index(dir),
                scope: Scope::User,
                is_symlink: false,
                spec: Ok(spec),
                shadows: Vec::new(),
                shadowed_by: None,
            }
        }
    }

    fn discovery(kernels: Vec<FoundKernel>) -> Discovery {
        Discovery {
            kernels,
            shadowed: Vec::new(),
            problems: Vec::new(),
        }
    }

    fn builtin() -> Policy {
        Policy::from_entries(builtin_entries())
    }

    #[test]
    fn remove_refuses_protected_names_and_display_names() {
        let m = Machine::new();
        let p = builtin();
        let k = m.kernel(&m.high, "Python38-AzureML", "anything");
        let err = p.check_remove_kernel(&k).unwrap_err();
        assert!(
            matches!(
                err,
                Refusal::Kernel {
                    action: KernelAction::Remove,
                    ..
                }
            ),
            "{err}"
        );
        let k = m.kernel(&m.user, "renamed", "Python 3.6 - AzureML");
        assert!(p.check_remove_kernel(&k).is_err());
        let k = m.kernel(&m.user, "mine", "Python (mine)");
        assert!(p.check_remove_kernel(&k).is_ok());
        assert!(matches!(
            p.check_prune_kernel(&m.kernel(&m.user, "python310-sdkv2", "x")),
            Err(Refusal::Kernel {
                action: KernelAction::Prune,
                ..
            })
        ));
    }

    #[test]
    fn register_refuses_case_insensitive_shadowing_of_a_protected_kernel() {
        // Finding 2: a system-ish dir has python38-azureml; the user registers Python38-AzureML
        // in a dir Jupyter searches first.
        let m = Machine::new();
        let protected = m.kernel(&m.user, "python38-azureml", "Python 3.8 - AzureML");
        let d = discovery(vec![protected]);
        let err = builtin()
            .check_register_kernel("Python38-AzureML", "Mine", &m.high, &d, &m.paths)
            .unwrap_err();
        match err {
            Refusal::NameClash { clash, .. } => assert_eq!(clash, Clash::Shadows),
            other => panic!("{other}"),
        }
        // Same dir: replace. Lower-priority dir: collides.
        let err = builtin()
            .check_register_kernel("python38-azureml", "x", &m.user, &d, &m.paths)
            .unwrap_err();
        assert!(matches!(
            err,
            Refusal::NameClash {
                clash: Clash::Replaces,
                ..
            }
        ));
        let d2 = discovery(vec![m.kernel(&m.high, "python38-azureml", "x")]);
        let err = builtin()
            .check_register_kernel("python38-azureml", "x", &m.user, &d2, &m.paths)
            .unwrap_err();
        assert!(matches!(
            err,
            Refusal::NameClash {
                clash: Clash::CollidesWith,
                ..
            }
        ));
    }

    #[test]
    fn builtin_names_that_do_not_exist_may_be_registered() {
        let m = Machine::new();
        let warnings = builtin()
            .check_register_kernel(
                "python38-azureml",
                "Python 3.8 - AzureML",
                &m.user,
                &discovery(vec![]),
                &m.paths,
            )
            .unwrap();
        assert!(warnings.is_empty(), "{warnings:?}");
    }

    #[test]
    fn register_refuses_a_protected_display_name_but_warns_on_plain_duplicates() {
        let m = Machine::new();
        let d = discovery(vec![
            m.kernel(&m.user, "python3-azureml", "Python 3.6 - AzureML"),
            m.kernel(&m.user, "other", "Python (dup)"),
        ]);
        let err = builtin()
            .check_register_kernel("new", "python 3.6 - azureml ", &m.high, &d, &m.paths)
            .unwrap_err();
        assert!(matches!(err, Refusal::DisplayName { .. }), "{err}");
        let w = builtin()
            .check_register_kernel("new", "Python (dup)", &m.high, &d, &m.paths)
            .unwrap();
        assert!(
            matches!(w[..], [RegisterWarning::DuplicateDisplayName { .. }]),
            "{w:?}"
        );
    }

    #[test]
    fn register_warns_on_shadowing_either_way_for_unprotected_kernels() {
        let m = Machine::new();
        let d = discovery(vec![m.kernel(&m.user, "mine", "Python (mine)")]);
        let w = builtin()
            .check_register_kernel("MINE", "Python (mine 2)", &m.high, &d, &m.paths)
            .unwrap();
        assert!(matches!(&w[..], [RegisterWarning::Shadows { .. }]), "{w:?}");
        let d = discovery(vec![m.kernel(&m.high, "mine", "Python (mine)")]);
        let w = builtin()
            .check_register_kernel("mine", "Python (mine 2)", &m.user, &d, &m.paths)
            .unwrap();
        assert!(
            matches!(&w[..], [RegisterWarning::ShadowedBy { .. }]),
            "{w:?}"
        );
        // Replacing one's own kernel in place: nothing to say.
        let d = discovery(vec![m.kernel(&m.user, "mine", "Python (mine)")]);
        let w = builtin()
            .check_register_kernel("mine", "Python (mine)", &m.user, &d, &m.paths)
            .unwrap();
        assert!(w.is_empty(), "{w:?}");
        let w = builtin()
            .check_register_kernel(
                "x",
                "X",
                Path::new("/elsewhere/kernels"),
                &discovery(vec![]),
                &m.paths,
            )
            .unwrap();
        assert!(matches!(&w[..], [RegisterWarning::NotOnSearchPath { .. }]));
    }

    #[test]
    fn user_entries_protect_too() {
        let m = Machine::new();
        let mut entries = builtin_entries();
        entries.push(Entry {
            target: Target::Kernel("mine".into()),
            required: true,
            source: Source::User("/u/policy.json".into()),
            reason: None,
        });
        let p = Policy::from_entries(entries);
        let err = p
            .check_remove_kernel(&m.kernel(&m.user, "Mine", "M"))
            .unwrap_err();
        assert!(
            err.to_string().contains("user policy /u/policy.json"),
            "{err}"
        );
        assert!(err.hint().contains("delete that entry"));
    }

    fn env(dir: &Path, kind: EnvKind, name: Option<&str>) -> Environment {
        std::fs::create_dir_all(dir).unwrap();
        Environment {
            name: name.map(String::from),
            prefix: envs::Prefix::from_recorded(dir),
            kind,
            python: None,
            python_version: None,
            has_ipykernel: false,
            frozen: envs::read_frozen(dir),
        }
    }

    #[test]
    fn envs_protected_by_base_name_and_path_but_installable() {
        let tmp = tempfile::tempdir().unwrap();
        let p = builtin();
        let base = env(&tmp.path().join("conda"), EnvKind::CondaBase, Some("base"));
        assert!(matches!(
            p.check_remove_env(&base),
            Err(Refusal::Env { .. })
        ));
        assert!(p.check_modify_env(&base).is_ok());
        let az = env(
            &tmp.path().join("conda/envs/azureml_py38"),
            EnvKind::Conda,
            Some("azureml_py38"),
        );
        assert!(p.check_remove_env(&az).is_err());
        let mine = env(
            &tmp.path().join("conda/envs/mine"),
            EnvKind::Conda,
            Some("mine"),
        );
        assert!(p.check_remove_env(&mine).is_ok());
        // By path, through a symlink.
        let link = tmp.path().join("link");
        #[cfg(unix)]
        std::os::unix::fs::symlink(&mine.prefix, &link).unwrap();
        let by_path = Policy::from_entries(vec![Entry {
            target: Target::EnvPath(link),
            required: false,
            source: Source::System("/etc/kernels/policy.json".into()),
            reason: None,
        }]);
        assert!(by_path.check_remove_env(&mine).is_err());
    }

    #[test]
    fn frozen_envs_refuse_every_change_and_their_kernels_too() {
        let tmp = tempfile::tempdir().unwrap();
        let prefix = tmp.path().join("envs/frozen");
        std::fs::create_dir_all(prefix.join("conda-meta")).unwrap();
        std::fs::write(
            prefix.join("conda-meta/frozen"),
            r#"{"message": "shared env"}"#,
        )
        .unwrap();
        let e = env(&prefix, EnvKind::Conda, Some("frozen"));
        let p = Policy::default();
        let err = p.check_modify_env(&e).unwrap_err();
        assert!(err.to_string().contains("shared env"), "{err}");
        assert!(p.check_remove_env(&e).is_err());
        let kdir = prefix.join("share/jupyter/kernels");
        std::fs::create_dir_all(kdir.join("python3")).unwrap();
        let m = Machine::new();
        let k = FoundKernel {
            resource_dir: kdir.join("python3"),
            ..m.kernel(&m.user, "python3", "Python 3")
        };
        assert!(matches!(
            p.check_remove_kernel(&k),
            Err(Refusal::Frozen {
                action: EnvAction::RemoveKernel,
                ..
            })
        ));
        let err = p
            .check_register_kernel("x", "X", &kdir, &discovery(vec![]), &m.paths)
            .unwrap_err();
        assert!(matches!(
            err,
            Refusal::Frozen {
                action: EnvAction::AddKernel,
                ..
            }
        ));
    }
}
