//! Activation drift: a kernel registered by `kernels add` carries its environment's activation
//! in `kernel.json` `env`; when the environment changes (an `activate.d` script added, an
//! `env config vars set`), what activating it gives now no longer matches what was baked in.

use std::path::PathBuf;

use kernelspec::KernelSpec;
use serde_json::Value;

use super::{Check, Machine, Status};

/// The `metadata` key under which `kernels` records what it baked into a spec.
pub const METADATA_KEY: &str = "kernels";

/// What a spec says about the activation baked into it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BakedActivation {
    /// The environment whose activation was baked.
    pub prefix: PathBuf,
    /// The variables that came from the activation, when recorded (else every variable the
    /// activation gives now is compared, and stale extra ones cannot be told apart from the
    /// user's own `--env` values).
    pub keys: Option<Vec<String>>,
}

/// Reads `metadata.kernels` of a spec: the environment prefix (`env_prefix`, or `prefix`, or
/// `env.prefix`) and the baked variable names (`activation.vars`, a list of names or an
/// object whose keys are the names, or `activation_vars`). `None` for specs `kernels` did not
/// write.
pub fn baked_activation(spec: &KernelSpec) -> Option<BakedActivation> {
    let meta = spec.metadata.get(METADATA_KEY)?.as_object()?;
    let prefix = meta
        .get("env_prefix")
        .or_else(|| meta.get("prefix"))
        .or_else(|| meta.get("env").and_then(|e| e.get("prefix")))
        .and_then(Value::as_str)?;
    let names = |v: &Value| -> Option<Vec<String>> {
        match v {
            Value::Array(items) => Some(
                items
                    .iter()
                    .filter_map(|i| i.as_str().map(String::from))
                    .collect(),
            ),
            Value::Object(map) => Some(map.keys().cloned().collect()),
            _ => None,
        }
    };
    let keys = meta
        .get("activation")
        .and_then(|a| a.get("vars"))
        .and_then(names)
        .or_else(|| meta.get("activation_vars").and_then(names));
    Some(BakedActivation {
        prefix: PathBuf::from(prefix),
        keys,
    })
}

/// The drift check, for specs `kernels` wrote; `None` for others.
pub(super) fn check(spec: &KernelSpec, machine: &Machine<'_>) -> Option<Check> {
    let baked = baked_activation(spec)?;
    let Some(env) = machine.inspect(&baked.prefix) else {
        // The environment check reports a missing environment.
        return None;
    };
    let now = match envs::activate(&env, machine.host) {
        Ok(a) => a,
        Err(e) => {
            return Some(Check::new(
                "drift",
                Status::Warning,
                format!(
                    "could not compute the activation of {} to compare: {}",
                    baked.prefix.display(),
                    super::kernel::error_chain(&e)
                ),
            ))
        }
    };
    let mut details = Vec::new();
    for (key, value) in &now.vars {
        match spec.env.get(key) {
            None => details.push(format!(
                "{key}: missing from kernel.json, activation sets {value:?}"
            )),
            Some(baked_value) if baked_value != value => details.push(format!(
                "{key}: kernel.json has {baked_value:?}, activation gives {value:?}"
            )),
            Some(_) => {}
        }
    }
    if let Some(keys) = &baked.keys {
        for key in keys {
            if !now.vars.contains_key(key) && spec.env.contains_key(key) {
                details.push(format!(
                    "{key}: baked into kernel.json, no longer set by the activation"
                ));
            }
        }
    }
    Some(if details.is_empty() {
        Check::new(
            "drift",
            Status::Ok,
            format!(
                "the baked activation of {} is current",
                baked.prefix.display()
            ),
        )
    } else {
        Check::new(
            "drift",
            Status::Warning,
            format!(
                "the activation baked into kernel.json differs from what {} gives now ({} \
                 variable(s)); re-run `kernels add` for this kernel to refresh it",
                baked.prefix.display(),
                details.len()
            ),
        )
        .with_details(details)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_metadata_shapes() {
        let mut spec = KernelSpec::default();
        assert_eq!(baked_activation(&spec), None);
        spec.metadata.insert(
            METADATA_KEY.into(),
            serde_json::json!({"env_prefix": "/e", "activation": {"vars": ["PATH", "CONDA_PREFIX"]}}),
        );
        let b = baked_activation(&spec).unwrap();
        assert_eq!(b.prefix, PathBuf::from("/e"));
        assert_eq!(b.keys, Some(vec!["PATH".into(), "CONDA_PREFIX".into()]));
        spec.metadata.insert(
            METADATA_KEY.into(),
            serde_json::json!({"env": {"prefix": "/f"}, "activation_vars": {"A": "1"}}),
        );
        let b = baked_activation(&spec).unwrap();
        assert_eq!(b.prefix, PathBuf::from("/f"));
        assert_eq!(b.keys, Some(vec!["A".into()]));
    }
}
