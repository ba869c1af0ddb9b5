//! A kernel's environment and interpreter, still on disk or not: what `list` shows in its
//! STATUS column and `show` in full.

use std::path::PathBuf;

use kernels::SpecEnv;
use kernelspec::KernelSpec;

/// Where a kernel runs and whether that is still on disk: a stat or two, so `list` stays as
/// fast as reading the files (`kernels doctor` checks much more, and can start the kernel).
pub struct EnvHealth {
    /// The environment prefix the spec runs in (our metadata, a wrapper's `-p`, or the prefix
    /// of an absolute interpreter path).
    pub env: Option<PathBuf>,
    /// What is gone (`"environment"` or `"interpreter"`) and its path.
    pub missing: Option<(&'static str, PathBuf)>,
}

impl EnvHealth {
    /// Looks at `spec`'s environment and interpreter.
    pub fn of(spec: &KernelSpec) -> EnvHealth {
        let env = match kernels::env_of_spec(spec) {
            Some(SpecEnv::Prefix(p)) => Some(p),
            _ => None,
        };
        let program = spec
            .argv
            .first()
            .map(PathBuf::from)
            .filter(|p| p.is_absolute());
        let missing = match (&env, program) {
            (Some(prefix), _) if !prefix.exists() => Some(("environment", prefix.clone())),
            (_, Some(program)) if !program.exists() => Some(("interpreter", program)),
            _ => None,
        };
        EnvHealth { env, missing }
    }
}
