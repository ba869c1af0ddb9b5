//! `kernels export NAME`: a file that recreates the kernel's environment and kernel elsewhere.

use clap::{Args, ValueEnum};
use kernels::export::{EnvExport, ExportFormat};
use kernels::{env_of_spec, SpecEnv};

use super::names::parse_name;
use super::run::load_spec;
use super::Ctx;
use crate::exit::{Code, Failure};

/// Arguments of `kernels export`.
#[derive(Debug, Args)]
#[command(
    after_help = "Recreate elsewhere with: `kernels add NAME -f FILE` (environment-yml), \
                        `kernels add NAME --backend venv -r FILE` (requirements), \
                        `kernels apply FILE` (kernels-toml)."
)]
pub struct ExportArgs {
    /// Kernel name (case-insensitive).
    pub name: String,
    /// What to write [default: environment-yml for a conda environment, else requirements].
    #[arg(long, value_enum)]
    pub format: Option<FormatArg>,
}

/// An export format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum FormatArg {
    /// A conda environment.yml: requested conda packages, channels, pip packages.
    EnvironmentYml,
    /// A pip requirements file: every installed distribution, pinned.
    Requirements,
    /// A kernels.toml with one [[kernel]] (packages, pip, channels, display name, env).
    KernelsToml,
}

/// Runs `kernels export`: the file on stdout.
pub fn run(ctx: &Ctx, args: &ExportArgs) -> anyhow::Result<Code> {
    let (name, spec) = load_spec(ctx, &args.name)?;
    let prefix = match env_of_spec(&spec) {
        Some(SpecEnv::Prefix(p)) => p,
        Some(SpecEnv::Name(env_name)) => super::install::env_by_name(ctx, &env_name)
            .ok_or_else(|| {
                Failure::failed(format!(
                    "kernel {name} runs in the conda environment `{env_name}`, which was not found"
                ))
                .hint("`kernels envs` lists the environments this machine has")
            })?,
        None => {
            return Err(Failure::failed(format!(
                "cannot tell which environment kernel {name} runs in"
            ))
            .hint("only kernels whose environment is known can be exported; `kernels show NAME` shows its argv")
            .into())
        }
    };
    let kernel_name = parse_name(&name)?;
    let export = EnvExport::read(&kernel_name, &spec, &prefix).map_err(|e| {
        Failure::failed(format!("kernel {name}: {e}"))
            .hint("`kernels doctor` checks the kernel and its environment")
    })?;
    let format = match args.format {
        None => export.default_format(),
        Some(FormatArg::EnvironmentYml) => ExportFormat::EnvironmentYml,
        Some(FormatArg::Requirements) => ExportFormat::Requirements,
        Some(FormatArg::KernelsToml) => ExportFormat::KernelsToml,
    };
    let text = export.render(format);
    if ctx.out.json {
        ctx.out.json_doc(&serde_json::json!({
            "name": name,
            "env": prefix,
            "format": format_word(format),
            "text": text,
        }));
    } else {
        print!("{text}");
    }
    Ok(Code::Ok)
}

fn format_word(f: ExportFormat) -> &'static str {
    match f {
        ExportFormat::EnvironmentYml => "environment-yml",
        ExportFormat::Requirements => "requirements",
        ExportFormat::KernelsToml => "kernels-toml",
    }
}
