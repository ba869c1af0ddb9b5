//! One module per subcommand. Each has its clap `Args` struct and a
//! `run(&Ctx, &Args) -> anyhow::Result<Code>` that returns the exit code of a run that
//! finished, or an error (whose [`Failure`](crate::exit::Failure) decides the exit code).

pub mod add;
pub mod apply;
pub mod completions;
pub mod doctor;
pub mod envs;
pub mod export;
pub mod install;
pub mod list;
pub mod policy;
pub mod protect;
pub mod prune;
pub mod rebind;
pub mod remove;
pub mod run;
pub mod show;

mod ctx;
pub mod document;
pub mod failures;
mod health;
pub mod names;
pub mod prompt;
pub mod render_plan;
pub mod run_lock;

use std::process::ExitCode;

use clap::{CommandFactory, FromArgMatches};

use crate::cli::{Cli, Command};
use crate::exit::{code_of, Code};
use crate::output::Out;
use crate::report::Report;

pub use ctx::Ctx;

/// Parses the command line, runs the command, prints any error, and returns the exit code.
pub fn main() -> ExitCode {
    // The group reaper the tool runner starts beside each tool (`::envs::set_group_reaper`):
    // this same executable, called with an argument no user types.
    let mut args = std::env::args_os().skip(1);
    if args.next().is_some_and(|a| a == ::envs::REAP_GROUP_ARG) {
        let pgid = args.next().unwrap_or_default();
        return ExitCode::from(::envs::reap_group_main(&pgid.to_string_lossy()) as u8);
    }
    if let Ok(exe) = std::env::current_exe() {
        ::envs::set_group_reaper(exe);
    }
    // `--version` carries the build (commit, target, glibc floor; reading the floor reads the
    // binary, so only when asked); `-V` prints only the version.
    let mut command = Cli::command();
    if std::env::args_os().any(|a| a == "--version") {
        command = command.long_version(crate::version::long_version());
    }
    let parsed = command
        .try_get_matches()
        .and_then(|mut matches| Cli::from_arg_matches_mut(&mut matches));
    let cli = match parsed {
        Ok(cli) => cli,
        Err(err) => {
            // clap prints help/version on stdout (exit 0) and usage errors on stderr (exit 2).
            let _ = err.print();
            return if err.use_stderr() {
                Code::Usage.into()
            } else {
                Code::Ok.into()
            };
        }
    };
    let out = Out::new(&cli.global);
    let ctx = Ctx::new(cli.global.clone(), out);
    let result = dispatch(&ctx, &cli.command);
    match result {
        Ok(code) => code.into(),
        Err(err) => {
            let code = if ctx.cancel.is_cancelled() {
                Code::Interrupted
            } else {
                code_of(&err)
            };
            let mut report = Report::of(&err, ctx.out.verbose > 0);
            if report.runs().next().is_some() {
                let logs = kernels::LockConfig::from_host(ctx.host())
                    .path
                    .with_file_name("logs");
                report.save_logs(&logs, &|p| ctx.show_path(p));
            }
            ctx.out.report(&report);
            if ctx.out.json {
                ctx.out.json_doc(&document::error_document(
                    code,
                    &report.one_line(),
                    report.hint.as_deref(),
                ));
            }
            code.into()
        }
    }
}

/// Every command but `completions` and `man` works in the user's home: without an absolute
/// `HOME` it would invent one (`./~`, or paths relative to the working directory).
fn require_home(ctx: &Ctx, command: &Command) -> Result<(), crate::exit::Failure> {
    if matches!(command, Command::Completions(_) | Command::Man(_)) {
        return Ok(());
    }
    let home = ctx.host().get("HOME").unwrap_or_default();
    if home.is_empty() {
        return Err(crate::exit::Failure::usage(
            "HOME is not set, so there is no home directory to find your kernels and environments in",
        )
        .hint("set HOME to your home directory (for example `HOME=/home/you kernels ...`)"));
    }
    if !std::path::Path::new(&home).is_absolute() {
        return Err(crate::exit::Failure::usage(format!(
            "HOME is {:?}, not an absolute path",
            home
        ))
        .hint("set HOME to the absolute path of your home directory"));
    }
    Ok(())
}

fn dispatch(ctx: &Ctx, command: &Command) -> anyhow::Result<Code> {
    require_home(ctx, command)?;
    match command {
        Command::Add(args) => add::run(ctx, args),
        Command::List(args) => list::run(ctx, args),
        Command::Show(args) => show::run(ctx, args),
        Command::Remove(args) => remove::run(ctx, args),
        Command::Install(args) => install::run(ctx, args),
        Command::Envs(args) => envs::run(ctx, args),
        Command::Doctor(args) => doctor::run(ctx, args),
        Command::Prune(args) => prune::run(ctx, args),
        Command::Protect(args) => protect::run(ctx, args),
        Command::Policy(args) => policy::run(ctx, args),
        Command::Apply(args) => apply::run(ctx, args),
        Command::Rebind(args) => rebind::run(ctx, args),
        Command::Run(args) => run::run(ctx, args),
        Command::Export(args) => export::run(ctx, args),
        Command::Completions(args) => completions::run(ctx, args),
        Command::Man(args) => completions::run_man(ctx, args),
    }
}
