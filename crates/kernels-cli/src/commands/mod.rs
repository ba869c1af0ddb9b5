//! One module per subcommand. Each has its clap `Args` struct and a
//! `run(&Ctx, &Args) -> anyhow::Result<Code>` that returns the exit code of a run that
//! finished, or an error (whose [`Failure`](crate::exit::Failure) decides the exit code).

pub mod add;
pub mod apply;
pub mod completions;
pub mod doctor;
pub mod envs;
pub mod install;
pub mod list;
pub mod policy;
pub mod protect;
pub mod prune;
pub mod rebind;
pub mod remove;
pub mod show;

mod ctx;
pub mod names;
pub mod render_plan;

use std::process::ExitCode;

use clap::Parser;

use crate::cli::{Cli, Command};
use crate::exit::{code_of, Code};
use crate::output::Out;
use crate::report::Report;

pub use ctx::Ctx;

/// Parses the command line, runs the command, prints any error, and returns the exit code.
pub fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
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
                ctx.out.json_doc(&serde_json::json!({
                    "ok": false,
                    "exit_code": code.as_u8(),
                    "error": {"kind": code.word(), "message": report.one_line(), "hint": report.hint},
                }));
            }
            code.into()
        }
    }
}

fn dispatch(ctx: &Ctx, command: &Command) -> anyhow::Result<Code> {
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
        Command::Completions(args) => completions::run(ctx, args),
        Command::Man(args) => completions::run_man(ctx, args),
    }
}
