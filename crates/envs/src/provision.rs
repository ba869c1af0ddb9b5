//! Installing kernels' own uv, once, into its tool directory.
//!
//! `<base python> -m pip install --target <tool dir>/.uv-staging-PID-N uv`: the base
//! interpreter's pip reads the user's pip configuration (index, mirror, certificates,
//! proxy), so uv comes from wherever the user gets packages. The staging directory is checked
//! (`bin/uv --version` must answer `uv …`) and then renamed to `<tool dir>/uv` in one step, so
//! a half-installed uv is never used; a concurrent run that got there first wins and this
//! copy is dropped. On any failure or Ctrl-C the staging directory is removed, and so are the
//! directories this attempt created for it.
//!
//! `pip --target` is allowed in an externally managed (PEP 668) interpreter: it does not
//! touch the interpreter's own packages.

use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::error::EnvError;
use crate::locate::UvProvision;
use crate::process::{self, CancelToken, ProcessObserver, ToolCommand};
use crate::vars::{self, HostEnv};

/// How long pip may take to fetch uv.
const PROVISION_TIMEOUT: Duration = Duration::from_secs(600);
/// How long `uv --version` may take.
const CHECK_TIMEOUT: Duration = Duration::from_secs(30);

/// The command that installs uv into `target` with `python`'s pip.
pub fn provision_command(python: &Path, target: &Path, host: &HostEnv) -> ToolCommand {
    let mut cmd = ToolCommand::new(python, host)
        .args(["-m", "pip", "install"])
        .args([
            "--disable-pip-version-check",
            "--no-input",
            "--no-warn-script-location",
            "--target",
        ])
        .arg(target)
        .arg("uv")
        .timeout(PROVISION_TIMEOUT);
    if let Some(f) = host.get(vars::PIP_CONFIG_FILE) {
        cmd = cmd.env(vars::PIP_CONFIG_FILE, f);
    }
    cmd
}

/// Installs uv for `p` with `python`'s pip (see the module docs) and returns its path.
/// A uv provisioned already is returned as is.
pub fn provision_uv(
    p: &UvProvision,
    python: &Path,
    host: &HostEnv,
    cancel: &CancelToken,
    observer: &dyn ProcessObserver,
) -> Result<PathBuf, EnvError> {
    if p.is_ready() {
        return Ok(p.uv());
    }
    let parent = p.dir.parent().unwrap_or(Path::new("/"));
    let created: Vec<PathBuf> = parent
        .ancestors()
        .take_while(|a| std::fs::symlink_metadata(a).is_err())
        .map(Path::to_path_buf)
        .collect();
    std::fs::create_dir_all(parent).map_err(|source| EnvError::Io {
        action: "create the tool directory".to_owned(),
        path: parent.to_path_buf(),
        source,
    })?;
    let staging = parent.join(format!(
        ".uv-staging-{}-{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or_default()
    ));
    let result =
        install_into(&staging, python, host, cancel, observer).and_then(|()| publish(&staging, p));
    let _ = std::fs::remove_dir_all(&staging);
    if result.is_err() {
        // Leave no empty directories behind either (only those this call made; `remove_dir`
        // keeps anything that is not empty).
        for dir in &created {
            let _ = std::fs::remove_dir(dir);
        }
    }
    result.map(|()| p.uv())
}

fn install_into(
    staging: &Path,
    python: &Path,
    host: &HostEnv,
    cancel: &CancelToken,
    observer: &dyn ProcessObserver,
) -> Result<(), EnvError> {
    let cmd = provision_command(python, staging, host);
    crate::venv::run_step(&cmd, cancel, observer)?;
    let uv = staging.join("bin/uv");
    let check = ToolCommand::new(&uv, host)
        .arg("--version")
        .timeout(CHECK_TIMEOUT);
    let out =
        process::run_checked(&check, cancel, observer).map_err(|source| EnvError::Process {
            action: "uv --version".to_owned(),
            source,
        })?;
    if !out.stdout.trim_start().starts_with("uv ") {
        return Err(EnvError::UnexpectedOutput {
            action: "check the provisioned uv".to_owned(),
            program: uv,
            detail: format!("`--version` printed {:?}", out.stdout.trim()),
        });
    }
    Ok(())
}

/// Renames the checked staging directory into place; a concurrent winner is kept.
fn publish(staging: &Path, p: &UvProvision) -> Result<(), EnvError> {
    match std::fs::rename(staging, &p.dir) {
        Ok(()) => Ok(()),
        Err(_) if p.is_ready() => Ok(()),
        Err(source) => Err(EnvError::Io {
            action: "move the provisioned uv into place at".to_owned(),
            path: p.dir.clone(),
            source,
        }),
    }
}

/// One line saying why provisioning failed: for a tool, its last `ERROR:` line (pip's
/// summary) or else its last line of output.
pub(crate) fn one_line(e: &EnvError) -> String {
    if let EnvError::Process {
        action,
        source:
            process::ProcessError::Failed {
                status,
                stdout_tail,
                stderr_tail,
                ..
            },
    } = e
    {
        let lines: Vec<&str> = stderr_tail
            .lines()
            .chain(stdout_tail.lines())
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .collect();
        let last = lines
            .iter()
            .rev()
            .find(|l| l.starts_with("ERROR:"))
            .or(lines.last());
        return match last {
            Some(l) => format!("{action} ended with {status}: {l}"),
            None => format!("{action} ended with {status}"),
        };
    }
    e.to_string().lines().next().unwrap_or_default().to_owned()
}
