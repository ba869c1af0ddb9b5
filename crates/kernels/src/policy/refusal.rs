//! The typed refusal a policy check returns, with a hint on what to do instead.

use std::fmt;
use std::path::PathBuf;

use serde::Serialize;

use super::{Source, Target};

/// Which rule protects something, and where the rule comes from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Protection {
    /// The rule's target.
    pub target: Target,
    /// The rule's source.
    pub source: Source,
    /// The reason the rule gives, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

impl fmt::Display for Protection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} is protected by the {}", self.target, self.source)?;
        if let Some(reason) = &self.reason {
            write!(f, " ({reason})")?;
        }
        Ok(())
    }
}

/// What was about to happen to a kernel.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum KernelAction {
    /// `kernels remove`.
    Remove,
    /// Writing over it (`add`/`apply` with the same name in the same directory).
    Replace,
    /// `kernels prune`.
    Prune,
}

impl fmt::Display for KernelAction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            KernelAction::Remove => "remove",
            KernelAction::Replace => "replace",
            KernelAction::Prune => "prune",
        })
    }
}

/// How a new kernel name meets a protected kernel of the same name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Clash {
    /// Same directory: the new spec would overwrite it.
    Replaces,
    /// The new spec's directory comes first: Jupyter would start the new kernel instead.
    Shadows,
    /// The protected kernel's directory comes first: two kernels of one name, one of them
    /// invisible.
    CollidesWith,
}

impl fmt::Display for Clash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Clash::Replaces => "would replace",
            Clash::Shadows => "would shadow",
            Clash::CollidesWith => "collides with",
        })
    }
}

/// What was about to happen to an environment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum EnvAction {
    /// Deleting it (`remove --with-env`, `apply` pruning).
    Remove,
    /// Installing or removing packages.
    Modify,
    /// Writing a kernelspec inside it (`<prefix>/share/jupyter/kernels`).
    AddKernel,
    /// Deleting a kernelspec inside it.
    RemoveKernel,
}

impl fmt::Display for EnvAction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            EnvAction::Remove => "remove",
            EnvAction::Modify => "change packages in",
            EnvAction::AddKernel => "write a kernel into",
            EnvAction::RemoveKernel => "remove a kernel from",
        })
    }
}

/// A change the protection policy forbids (exit 3 in the CLI). There is no override flag.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Refusal {
    /// The kernel itself is protected.
    #[error("refusing to {action} kernel `{name}` ({dir}): {by}", dir = .dir.display())]
    Kernel {
        /// What was about to happen.
        action: KernelAction,
        /// The kernel's name.
        name: String,
        /// Its spec directory.
        #[serde(serialize_with = "crate::serde_util::path")]
        dir: PathBuf,
        /// The rule.
        by: Box<Protection>,
    },
    /// A new kernel's name meets a protected kernel (case-insensitively).
    #[error(
        "refusing to register kernel `{name}` in {target_dir}: it {clash} the protected kernel at {existing_dir} ({by})",
        target_dir = .target_dir.display(),
        existing_dir = .existing_dir.display()
    )]
    NameClash {
        /// The new kernel's name.
        name: String,
        /// Where it would be written.
        #[serde(serialize_with = "crate::serde_util::path")]
        target_dir: PathBuf,
        /// How the two meet.
        clash: Clash,
        /// The protected spec directory.
        #[serde(serialize_with = "crate::serde_util::path")]
        existing_dir: PathBuf,
        /// The rule.
        by: Box<Protection>,
    },
    /// A new kernel would show the display name of a protected kernel.
    #[error(
        "refusing to register kernel `{name}` as \"{display_name}\": that is the display name of the protected kernel `{existing}` ({by})"
    )]
    DisplayName {
        /// The new kernel's name.
        name: String,
        /// The display name asked for.
        display_name: String,
        /// The protected kernel that has it.
        existing: String,
        /// The rule.
        by: Box<Protection>,
    },
    /// The environment is protected.
    #[error("refusing to {action} environment {prefix}: {by}", prefix = .prefix.display())]
    Env {
        /// What was about to happen.
        action: EnvAction,
        /// The environment's prefix.
        #[serde(serialize_with = "crate::serde_util::path")]
        prefix: PathBuf,
        /// The rule.
        by: Box<Protection>,
    },
    /// Deleting the environment would delete something that must stay, which lies inside it.
    #[error(
        "refusing to remove environment {prefix}: {inside} lies inside it and would be deleted with it",
        prefix = .prefix.display()
    )]
    Contains {
        /// The environment's prefix (canonical).
        #[serde(serialize_with = "crate::serde_util::path")]
        prefix: PathBuf,
        /// What lies inside.
        inside: super::check::Occupant,
    },
    /// The environment is frozen (CEP 22 `conda-meta/frozen`).
    #[error(
        "refusing to {action} environment {prefix}: it is frozen (conda-meta/frozen){}",
        frozen_message(.message),
        prefix = .prefix.display()
    )]
    Frozen {
        /// What was about to happen.
        action: EnvAction,
        /// The environment's prefix.
        #[serde(serialize_with = "crate::serde_util::path")]
        prefix: PathBuf,
        /// The marker's message, if it has one.
        message: Option<String>,
    },
    /// A system policy file exists but cannot be read or understood, so what it protects is
    /// unknown: the change is refused (fail closed).
    #[error(
        "refusing to change kernels or environments: the system policy {path} cannot be used ({reason}), so what it protects is unknown",
        path = .path.display()
    )]
    PolicyUnusable {
        /// The file.
        #[serde(serialize_with = "crate::serde_util::path")]
        path: PathBuf,
        /// Why it cannot be used.
        reason: String,
    },
}

impl Refusal {
    /// The refusal every protecting check gives while a system policy file cannot be used.
    pub fn policy_unusable(path: &std::path::Path, reason: &str) -> Refusal {
        Refusal::PolicyUnusable {
            path: path.to_path_buf(),
            reason: reason.to_string(),
        }
    }
}

fn frozen_message(message: &Option<String>) -> String {
    match message {
        Some(m) => format!(": {m}"),
        None => String::new(),
    }
}

impl Refusal {
    /// The rule behind the refusal (none for a frozen environment).
    pub fn protection(&self) -> Option<&Protection> {
        match self {
            Refusal::Kernel { by, .. }
            | Refusal::NameClash { by, .. }
            | Refusal::DisplayName { by, .. }
            | Refusal::Env { by, .. } => Some(by),
            Refusal::Frozen { .. } | Refusal::Contains { .. } | Refusal::PolicyUnusable { .. } => {
                None
            }
        }
    }

    /// What the user can do instead.
    pub fn hint(&self) -> String {
        let first = match self {
            Refusal::NameClash { .. } | Refusal::DisplayName { .. } => {
                "choose another kernel name and display name".to_string()
            }
            Refusal::Frozen { prefix, .. } => {
                return format!(
                    "the environment was frozen on purpose (conda CEP 22); no kernels option \
                     overrides that. If it really must change, whoever froze it can delete {}",
                    prefix.join("conda-meta/frozen").display()
                )
            }
            Refusal::Contains { .. } => {
                return "remove the kernel alone (without --with-env), and delete what you no \
                        longer need inside that directory by hand"
                    .to_string()
            }
            Refusal::PolicyUnusable { path, .. } => {
                return format!(
                    "an administrator must fix or remove {} (it must be a readable regular \
                     JSON file; `kernels policy` shows the problem)",
                    path.display()
                )
            }
            Refusal::Kernel { .. } | Refusal::Env { .. } => "leave it in place".to_string(),
        };
        let source = match self.protection().map(|p| &p.source) {
            Some(Source::BuiltIn) => {
                "the built-in defaults protect the machine's own kernels and environments, which \
                 Jupyter and the image depend on"
                    .to_string()
            }
            Some(Source::System(path)) => format!(
                "the system policy {} is set by an administrator; ask them if this must change",
                path.display()
            ),
            Some(Source::User(path)) => format!(
                "you protected it yourself in {}; delete that entry first if you really mean it",
                path.display()
            ),
            None => String::new(),
        };
        format!("{first}; {source}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_name_the_rule_and_the_source() {
        let r = Refusal::Kernel {
            action: KernelAction::Remove,
            name: "python38-azureml".into(),
            dir: "/usr/local/share/jupyter/kernels/python38-azureml".into(),
            by: Box::new(Protection {
                target: Target::Kernel("python38-azureml".into()),
                source: Source::BuiltIn,
                reason: None,
            }),
        };
        let text = r.to_string();
        assert!(
            text.contains("refusing to remove kernel `python38-azureml`"),
            "{text}"
        );
        assert!(
            text.contains("protected by the built-in defaults"),
            "{text}"
        );
        assert!(r.hint().contains("built-in defaults"));
        let r = Refusal::Frozen {
            action: EnvAction::Modify,
            prefix: "/e".into(),
            message: Some("keep".into()),
        };
        assert!(
            r.to_string().ends_with("frozen (conda-meta/frozen): keep"),
            "{r}"
        );
        assert!(r.hint().contains("/e/conda-meta/frozen"));
        let r = Refusal::Env {
            action: EnvAction::Remove,
            prefix: "/e".into(),
            by: Box::new(Protection {
                target: Target::EnvPath("/e".into()),
                source: Source::System("/etc/kernels/policy.json".into()),
                reason: Some("shared".into()),
            }),
        };
        assert!(
            r.to_string()
                .contains("system policy /etc/kernels/policy.json (shared)"),
            "{r}"
        );
        assert!(r.hint().contains("administrator"));
    }
}
