//! Activation drift: a kernel registered by `kernels add` carries its environment's activation
//! in `kernel.json` `env`; when the environment changes (an `activate.d` script added, an
//! `env config vars set`), what activating it gives now no longer matches what was baked in.

use kernelspec::KernelSpec;

use super::{Check, Machine, Status};
use crate::ManagedMeta;

/// The drift check, for specs `kernels` wrote; `None` for others.
///
/// Reads `metadata.kernels` ([`ManagedMeta`]): the prefix (`env`) and the variables that came
/// from activation (`activation.vars`). Variables the user set with `--env` are not compared;
/// a spec whose activation method is `none` (a system prefix) is not checked.
pub(super) fn check(spec: &KernelSpec, machine: &Machine<'_>) -> Option<Check> {
    let meta = ManagedMeta::from_spec(spec)?;
    if meta.activation.method == "none" {
        return None;
    }
    let prefix = &meta.env;
    let Some(env) = machine.inspect(prefix) else {
        // The environment check reports a missing environment.
        return None;
    };
    let now = match machine.activation(&env) {
        Ok(a) => a,
        Err(e) => {
            return Some(Check::new(
                "drift",
                Status::Warning,
                format!(
                    "could not compute the activation of {} to compare: {e}",
                    prefix.display()
                ),
            ))
        }
    };
    let mut details = Vec::new();
    let user_own = |key: &String| spec.env.contains_key(key) && !meta.activation.vars.contains(key);
    for (key, value) in now.vars.iter().filter(|(k, _)| !user_own(k)) {
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
    for key in &meta.activation.vars {
        if !now.vars.contains_key(key) && spec.env.contains_key(key) {
            details.push(format!(
                "{key}: baked into kernel.json, no longer set by the activation"
            ));
        }
    }
    Some(if details.is_empty() {
        Check::new(
            "drift",
            Status::Ok,
            format!("the baked activation of {} is current", prefix.display()),
        )
    } else {
        Check::new(
            "drift",
            Status::Warning,
            format!(
                "the activation baked into kernel.json differs from what {} gives now ({} \
                 variable(s)); re-run `kernels add` for this kernel to refresh it",
                prefix.display(),
                details.len()
            ),
        )
        .with_details(details)
    })
}
