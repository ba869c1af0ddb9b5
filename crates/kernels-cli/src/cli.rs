//! The command line, as clap types. Each subcommand's arguments live with the code that runs it
//! (`commands/<name>.rs`); this file only assembles them and holds the global options.

use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::commands;

/// Make, list, check, repair and remove Jupyter kernels and their environments, safely.
///
/// Exit codes: 0 ok, 1 failed, 2 usage, 3 refused by protection policy, 4 checks found
/// problems, 5 busy (another run holds the lock), 130 interrupted.
#[derive(Debug, Parser)]
#[command(name = "kernels", version, about, long_about = None, max_term_width = 100)]
#[command(
    after_help = "Exit codes: 0 ok, 1 failed, 2 usage, 3 refused by protection policy, \
                        4 checks found problems, 5 busy, 130 interrupted."
)]
pub struct Cli {
    /// Options every command accepts.
    #[command(flatten)]
    pub global: GlobalArgs,
    /// The command to run.
    #[command(subcommand)]
    pub command: Command,
}

/// The help heading of the options every command accepts.
const GLOBAL: &str = "Global options";

/// Options every command accepts.
#[derive(Debug, Clone, Args)]
pub struct GlobalArgs {
    /// Print one JSON document on stdout (progress and logs go to stderr).
    #[arg(long, global = true, help_heading = GLOBAL)]
    pub json: bool,
    /// Print nothing on stderr but errors.
    #[arg(short, long, global = true, conflicts_with = "verbose", help_heading = GLOBAL)]
    pub quiet: bool,
    /// Print more detail on stderr: every line the tools print, and a failed tool's whole output.
    #[arg(short, long, global = true, action = clap::ArgAction::Count, help_heading = GLOBAL)]
    pub verbose: u8,
    /// Answer yes to every question (nothing ever prompts when stdin is not a terminal).
    #[arg(short, long, global = true, help_heading = GLOBAL)]
    pub yes: bool,
    /// When to use colour on stderr/stdout (NO_COLOR is honoured in `auto`).
    #[arg(long, global = true, value_enum, default_value_t = ColorChoice::Auto, help_heading = GLOBAL)]
    pub color: ColorChoice,
}

/// When to colour output.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ColorChoice {
    /// Colour when writing to a terminal and NO_COLOR is unset.
    Auto,
    /// Always colour.
    Always,
    /// Never colour.
    Never,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Create an environment with ipykernel and register it as a Jupyter kernel, in one step.
    Add(commands::add::AddArgs),
    /// List every kernelspec Jupyter would see: name, display name, language, scope, health, path.
    #[command(visible_alias = "ls")]
    List(commands::list::ListArgs),
    /// Show one kernelspec: its spec, where it was found, what it shadows, its problems.
    Show(commands::show::ShowArgs),
    /// Remove kernelspecs (the copy Jupyter uses), optionally with their environments.
    #[command(visible_alias = "rm")]
    Remove(commands::remove::RemoveArgs),
    /// Install packages into the environment behind a kernel.
    Install(commands::install::InstallArgs),
    /// List environments (conda and venv) and the kernels that use them.
    Envs(commands::envs::EnvsArgs),
    /// Check kernels and protected items; `--boot` starts each kernel and asks it for kernel_info.
    Doctor(commands::doctor::DoctorArgs),
    /// Remove kernels whose interpreter or environment is gone (never protected ones).
    Prune(commands::prune::PruneArgs),
    /// Mark kernels and environments as protected (required to stay present and healthy).
    Protect(commands::protect::ProtectArgs),
    /// Show the effective protection policy and where each entry comes from.
    Policy(commands::policy::PolicyArgs),
    /// Converge this machine to a kernels.toml file (for image build and startup scripts).
    Apply(commands::apply::ApplyArgs),
    /// Rewrite the kernel a notebook asks for (metadata.kernelspec), touching nothing else.
    Rebind(commands::rebind::RebindArgs),
    /// Run a command in exactly the environment a kernel gets (activation, env, its interpreter first on PATH).
    Run(commands::run::RunArgs),
    /// Write a file that recreates a kernel's environment and kernel elsewhere (environment.yml, requirements, kernels.toml).
    Export(commands::export::ExportArgs),
    /// Print a shell completion script.
    Completions(commands::completions::CompletionsArgs),
    /// Print the man page (roff) on stdout.
    Man(commands::completions::ManArgs),
}
