//! `kernels run NAME -- CMD [ARGS...]`: a command in exactly the environment the kernel gets.

use std::ffi::OsString;

use clap::Args;
use kernelspec::KernelSpec;

use super::names::{parse_name, unknown_kernel};
use super::Ctx;
use crate::exit::{Code, Failure};

/// Arguments of `kernels run`.
#[derive(Debug, Args)]
#[command(
    after_help = "kernels replaces itself with CMD: its output is not buffered, every \
                        signal (Ctrl-C, SIGTERM) reaches CMD itself, and the exit status is CMD's."
)]
pub struct RunArgs {
    /// Kernel name (case-insensitive).
    pub name: String,
    /// The command and its arguments (after `--`).
    #[arg(last = true, required = true, value_name = "CMD")]
    pub command: Vec<OsString>,
}

/// The spec of the kernel Jupyter would pick for `raw`; unknown or unreadable is exit 1.
pub fn load_spec(ctx: &Ctx, raw: &str) -> Result<(String, KernelSpec), Failure> {
    let name = parse_name(raw)?;
    let discovery = kernelspec::discover(ctx.paths());
    let kernel = discovery
        .get(name.as_str())
        .ok_or_else(|| unknown_kernel(raw, &discovery))?;
    let spec = readable_spec(kernel)?;
    Ok((kernel.name.clone(), spec.clone()))
}

/// A found kernel's spec, or the exit-1 failure that says it cannot be read.
pub fn readable_spec(kernel: &kernelspec::FoundKernel) -> Result<&KernelSpec, Failure> {
    kernel.spec.as_ref().map_err(|e| {
        Failure::failed(format!(
            "kernel `{}` cannot be read: {}",
            kernel.name,
            boot::error_chain(e)
        ))
        .hint("`kernels doctor` explains what is wrong with it")
    })
}

/// Runs `kernels run`: on success this process becomes the command and never returns.
pub fn run(ctx: &Ctx, args: &RunArgs) -> anyhow::Result<Code> {
    let (name, spec) = load_spec(ctx, &args.name)?;
    // A wrapper kernel (`conda run -n NAME`) names its environment; find its prefix.
    let named_env = match kernels::env_of_spec(&spec) {
        Some(kernels::SpecEnv::Name(env_name)) => super::install::env_by_name(ctx, &env_name),
        _ => None,
    };
    let command =
        kernels::run::prepare(&spec, named_env.as_deref(), &ctx.host().vars, &args.command)
            .map_err(|e| Failure::failed(format!("kernel {name}: {e}")).maybe_hint(e.hint()))?;
    ctx.out.detail(&format!(
        "running {} in the environment of kernel {name}",
        command.program.display()
    ));
    let err = command.exec();
    let hint = err.hint();
    Err(Failure::failed(format!("kernel {name}: {}", render(&err)))
        .maybe_hint(hint)
        .into())
}

fn render(err: &kernels::run::RunError) -> String {
    match err {
        kernels::run::RunError::Exec { program, source } => {
            format!("could not start {}: {source}", program.display())
        }
        other => other.to_string(),
    }
}
