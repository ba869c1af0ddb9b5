//! The static checks of one kernel.

use std::path::{Path, PathBuf};

use envs::EnvKind;
use kernelspec::{FoundKernel, KernelSpec, SpecWarning};

use super::{drift, Check, KernelReport, Machine, Status};
use crate::policy::Policy;
use crate::wrappers::{prefix_of_program, EnvStatus, Located, ProgramStatus};

/// Runs every static check on `kernel`.
pub(super) fn check_kernel(
    kernel: &FoundKernel,
    machine: &Machine<'_>,
    policy: &Policy,
) -> KernelReport {
    let mut report = KernelReport {
        name: kernel.name.clone(),
        resource_dir: kernel.resource_dir.clone(),
        scope: kernel.scope.as_str(),
        display_name: None,
        language: None,
        protected: policy.kernel_protection_of(kernel).map(|b| *b),
        launch: None,
        checks: Vec::new(),
        boot: None,
    };
    let checks = &mut report.checks;
    if !kernel.name_valid {
        checks.push(Check::new(
            "name",
            Status::Warning,
            format!(
                "the directory name is not a valid kernel name ({})",
                kernelspec::NAME_RULE
            ),
        ));
    }
    let spec = match &kernel.spec {
        Ok(spec) => spec,
        Err(e) => {
            checks.push(Check::new(
                "spec",
                Status::Problem,
                format!("kernel.json does not load: {}", boot::error_chain(e)),
            ));
            return report;
        }
    };
    report.display_name = Some(spec.display_name.clone());
    report.language = Some(spec.language.clone());
    spec_checks(spec, checks);
    if !spec.argv.is_empty() {
        let located = machine.locate(kernel);
        if let Some(located) = &located {
            launch_checks(located, spec, machine, checks);
        }
        report.launch = located;
    }
    if let Some(c) = drift::check(spec, machine) {
        report.checks.push(c);
    }
    let checks = &mut report.checks;
    for hidden in &kernel.shadows {
        checks.push(Check::new(
            "shadowing",
            Status::Warning,
            format!(
                "hides another kernel of the same name at {} (Jupyter starts this one)",
                hidden.display()
            ),
        ));
    }
    let twins: Vec<String> = machine
        .discovery
        .kernels
        .iter()
        .filter(|other| other.name != kernel.name)
        .filter(|other| {
            other.spec.as_ref().is_ok_and(|o| {
                !spec.display_name.trim().is_empty()
                    && o.display_name.trim().to_lowercase()
                        == spec.display_name.trim().to_lowercase()
            })
        })
        .map(|other| other.name.clone())
        .collect();
    if !twins.is_empty() {
        checks.push(Check::new(
            "display_name",
            Status::Warning,
            format!(
                "display name \"{}\" is also used by {}; frontends show identical entries",
                spec.display_name,
                twins.join(", ")
            ),
        ));
    }
    if let Some(p) = &report.protected {
        let text = p.to_string();
        report
            .checks
            .push(Check::new("protected", Status::Info, text));
    }
    report
}

fn spec_checks(spec: &KernelSpec, checks: &mut Vec<Check>) {
    let what = if spec.display_name.is_empty() {
        String::new()
    } else {
        format!(": \"{}\"", spec.display_name)
    };
    let lang = if spec.language.is_empty() {
        String::new()
    } else {
        format!(" ({})", spec.language)
    };
    checks.push(Check::new(
        "spec",
        Status::Ok,
        format!("kernel.json loads{what}{lang}"),
    ));
    for lint in spec.lint() {
        let status = match lint {
            SpecWarning::EmptyArgv
            | SpecWarning::NonStringArgv { .. }
            | SpecWarning::NonStringEnv { .. } => Status::Problem,
            SpecWarning::IgnoredKeys { .. } => Status::Info,
            _ => Status::Warning,
        };
        checks.push(Check::new("spec", status, lint.to_string()));
    }
}

/// The checks of how `located` starts: its launcher, its environment, the interpreter behind
/// its wrappers, the launch notes, and ipykernel.
fn launch_checks(
    located: &Located,
    spec: &KernelSpec,
    machine: &Machine<'_>,
    checks: &mut Vec<Check>,
) {
    let launch = &located.launch;
    let substituted = launch.jupyter_substitutes_python();
    // 1. argv[0]
    checks.push(launcher_check(located, substituted));
    // 2. the environment
    env_checks(&located.env, machine, checks);
    // 3. the interpreter behind the wrappers
    if !launch.wrappers.is_empty() {
        checks.extend(interpreter_check(located));
    }
    for note in &launch.notes {
        checks.push(Check::new("launcher", Status::Info, note.clone()));
    }
    // 4. ipykernel
    if launch.runs_ipykernel() && !substituted {
        ipykernel_check(located, machine, checks);
    } else if launch.runs_ipykernel() && !spec.language.is_empty() {
        checks.push(Check::new(
            "ipykernel",
            Status::Info,
            "ipykernel is looked for in the Python that runs Jupyter, which this check cannot see",
        ));
    }
}

/// The check of argv[0]: found (and through which wrappers), missing, or not on PATH; an
/// argv[0] that Jupyter replaces by its own Python (`substituted`) only informs.
fn launcher_check(located: &Located, substituted: bool) -> Check {
    let launch = &located.launch;
    let via = if launch.wrappers.is_empty() {
        String::new()
    } else {
        let labels: Vec<String> = launch.wrappers.iter().map(|w| w.label()).collect();
        format!(" (through {})", labels.join(", then "))
    };
    match &located.launcher {
        ProgramStatus::Found(p) if substituted => Check::new(
            "launcher",
            Status::Info,
            format!(
                "argv[0] `{}` is replaced by the Python that runs Jupyter; on PATH it is {}",
                launch.launcher,
                p.display()
            ),
        ),
        ProgramStatus::Found(p) => Check::new(
            "launcher",
            Status::Ok,
            format!("launcher {}{via}", p.display()),
        ),
        ProgramStatus::Missing(p) => Check::new(
            "launcher",
            Status::Problem,
            format!("launcher {} does not exist", p.display()),
        ),
        ProgramStatus::NotOnPath(n) if substituted => Check::new(
            "launcher",
            Status::Warning,
            format!(
                "argv[0] `{n}` is replaced by the Python that runs Jupyter; there is no `{n}` on PATH here"
            ),
        ),
        ProgramStatus::NotOnPath(n) => Check::new(
            "launcher",
            Status::Problem,
            format!("launcher `{n}` is not on PATH"),
        ),
        ProgramStatus::Unknown(why) => Check::new(
            "launcher",
            Status::Info,
            format!("launcher not checked: {why}"),
        ),
    }
}

/// The checks of the environment the kernel runs in: there (and of which kind), half made,
/// frozen, missing, or unknown by name.
fn env_checks(env_status: &EnvStatus, machine: &Machine<'_>, checks: &mut Vec<Check>) {
    match env_status {
        EnvStatus::NotSelected => {}
        EnvStatus::Exists(prefix) => {
            let env = machine.inspect(prefix);
            let kind = match env.as_ref().map(|e| e.kind) {
                Some(EnvKind::CondaBase) => "conda base",
                Some(EnvKind::Conda) => "conda",
                Some(EnvKind::Venv) => "venv",
                Some(EnvKind::Unknown) | None => "directory",
            };
            if crate::guard::is_half_made(prefix) {
                checks.push(Check::new(
                    "env",
                    Status::Problem,
                    format!(
                        "environment {} is half-made: a kernels run was killed while creating it",
                        prefix.display()
                    ),
                ));
            } else {
                checks.push(Check::new(
                    "env",
                    Status::Ok,
                    format!("environment {} ({kind})", prefix.display()),
                ));
            }
            if let Some(frozen) = env.as_ref().and_then(|e| e.frozen.as_ref()) {
                let why = frozen
                    .message
                    .as_deref()
                    .map(|m| format!(": {m}"))
                    .unwrap_or_default();
                checks.push(Check::new(
                    "env",
                    Status::Info,
                    format!("the environment is frozen (conda-meta/frozen){why}"),
                ));
            }
        }
        EnvStatus::Missing(p) => checks.push(Check::new(
            "env",
            Status::Problem,
            format!("environment {} does not exist", p.display()),
        )),
        EnvStatus::UnknownName(n) => checks.push(Check::new(
            "env",
            Status::Problem,
            format!("no environment named `{n}` is known on this machine"),
        )),
        EnvStatus::Unknown(why) => checks.push(Check::new(
            "env",
            Status::Info,
            format!("environment not checked: {why}"),
        )),
    }
}

/// The check of the program a wrapper runs; none when it is not on PATH because the
/// environment itself is missing (the env check says so already).
fn interpreter_check(located: &Located) -> Option<Check> {
    let env_ok = matches!(located.env, EnvStatus::Exists(_) | EnvStatus::NotSelected);
    let check = match &located.program {
        Some(ProgramStatus::Found(p)) => {
            Check::new("interpreter", Status::Ok, format!("runs {}", p.display()))
        }
        Some(ProgramStatus::Missing(p)) => Check::new(
            "interpreter",
            Status::Problem,
            format!("{} does not exist", p.display()),
        ),
        Some(ProgramStatus::NotOnPath(n)) if env_ok => Check::new(
            "interpreter",
            Status::Problem,
            format!("`{n}` is neither in the environment's bin nor on PATH"),
        ),
        Some(ProgramStatus::NotOnPath(_)) => return None,
        Some(ProgramStatus::Unknown(why)) => Check::new(
            "interpreter",
            Status::Info,
            format!("interpreter not checked: {why}"),
        ),
        None => Check::new(
            "interpreter",
            Status::Info,
            "the command inside the wrapper could not be read",
        ),
    };
    Some(check)
}

fn ipykernel_check(located: &Located, machine: &Machine<'_>, checks: &mut Vec<Check>) {
    let prefix: Option<PathBuf> = located.env.prefix().map(Path::to_path_buf).or_else(|| {
        located
            .interpreter()
            .and_then(prefix_of_program)
            .filter(|p| p.is_dir())
    });
    let Some(prefix) = prefix else {
        return;
    };
    match machine.inspect(&prefix) {
        Some(env) if env.has_ipykernel => checks.push(Check::new(
            "ipykernel",
            Status::Ok,
            format!("ipykernel is installed in {}", prefix.display()),
        )),
        Some(env) if env.kind == EnvKind::Venv && system_site_packages(&prefix) => {
            checks.push(Check::new(
                "ipykernel",
                Status::Warning,
                format!(
                    "ipykernel is not installed in {} itself; it may come from the base \
                     interpreter (include-system-site-packages)",
                    env.prefix.display()
                ),
            ))
        }
        Some(env) if env.kind != EnvKind::Unknown => checks.push(Check::new(
            "ipykernel",
            Status::Problem,
            format!(
                "ipykernel is not installed in {}, so the kernel cannot start (install it: \
                 `kernels install <kernel> ipykernel`)",
                env.prefix.display()
            ),
        )),
        _ => checks.push(Check::new(
            "ipykernel",
            Status::Info,
            format!(
                "{} is not an environment this check can read; ipykernel not confirmed",
                prefix.display()
            ),
        )),
    }
}

fn system_site_packages(prefix: &Path) -> bool {
    envs::pyvenv_cfg_value(prefix, "include-system-site-packages")
        .is_some_and(|v| v.eq_ignore_ascii_case("true"))
}
