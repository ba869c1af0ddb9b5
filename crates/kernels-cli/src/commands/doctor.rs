//! `kernels doctor`: static checks, and with `--boot` a real start of each kernel.
//!
//! Exit 0 when all is well, 4 when a problem was found (an image build can end with
//! `kernels doctor --boot`). What is checked is described in `docs/doctor.md` and in the
//! `kernels::doctor` module.

use std::time::Duration;

use clap::Args;
use kernels::doctor::{self, Check, DoctorReport, KernelReport, Machine, Status};
use serde_json::json;

use super::names::{parse_name, unknown_kernel};
use super::Ctx;
use crate::exit::{Code, Failure};
use crate::output::Style;

/// Arguments of `kernels doctor`.
#[derive(Debug, Args)]
#[command(after_help = "Examples:
  kernels doctor                 check every kernel and protected entry (exit 4 on problems)
  kernels doctor newenv --boot   start the kernel and check it answers kernel_info
  kernels doctor --json          the checks as one JSON document")]
pub struct DoctorArgs {
    /// Kernels to check [default: all, and every protected entry].
    pub names: Vec<String>,
    /// Start each kernel (concurrently) and ask it for kernel_info over the Jupyter protocol.
    #[arg(long)]
    pub boot: bool,
    /// Seconds to wait for each kernel's first reply with `--boot`.
    #[arg(long, value_name = "SECS", default_value_t = 60.0, value_parser = parse_timeout)]
    pub timeout: f64,
}

fn parse_timeout(s: &str) -> Result<f64, String> {
    let v: f64 = s
        .parse()
        .map_err(|_| format!("{s:?} is not a number of seconds"))?;
    if v.is_finite() && v > 0.0 && v <= 86_400.0 {
        Ok(v)
    } else {
        Err("the timeout must be more than 0 and at most 86400 seconds".to_string())
    }
}

/// Runs `kernels doctor`.
pub fn run(ctx: &Ctx, args: &DoctorArgs) -> anyhow::Result<Code> {
    let mut selected = Vec::new();
    for raw in &args.names {
        let name = parse_name(raw)?.to_string();
        if !selected.contains(&name) {
            selected.push(name);
        }
    }
    let machine = Machine::gather(ctx.paths(), ctx.host());
    if let Some(missing) = selected
        .iter()
        .find(|n| machine.discovery.get(n.as_str()).is_none())
    {
        let mut failure: Failure = unknown_kernel(missing, &machine.discovery);
        failure.cause.push_str("; nothing was checked");
        return Err(failure.into());
    }
    let policy = super::policy::load(ctx);
    let mut report = doctor::check(&machine, &policy, &selected);
    report.machine.extend(journal_check(ctx));
    if args.boot {
        let n = report.kernels.len();
        ctx.out.step(&format!(
            "booting {n} kernel{} (timeout {} s)...",
            if n == 1 { "" } else { "s, concurrently" },
            args.timeout
        ));
        doctor::boot_kernels(
            &mut report,
            &machine,
            Duration::from_secs_f64(args.timeout),
            &ctx.cancel,
        );
        if ctx.cancel.is_cancelled() {
            return Err(Failure::new(
                Code::Interrupted,
                "interrupted: every kernel doctor --boot started has been stopped",
            )
            .into());
        }
    }
    let problems = report.problems();
    if ctx.out.json {
        ctx.out.json_doc(&json!({
            "ok": problems == 0,
            "problems": problems,
            "warnings": report.warnings(),
            "booted": args.boot,
            "kernels": report.kernels,
            "protected": report.protected,
            "machine": report.machine,
        }));
    } else {
        render(ctx, &report, args.boot);
    }
    Ok(if problems == 0 {
        Code::Ok
    } else {
        Code::Problems
    })
}

/// A journal a run left behind: a run in progress, one the next mutating command rolls back
/// (a warning), or one that cannot be finished (a problem).
fn journal_check(ctx: &Ctx) -> Option<Check> {
    let lock = kernels::LockConfig::from_host(ctx.host()).path;
    let state_dir = lock.parent()?;
    match kernels::unfinished(state_dir) {
        Ok(None) => None,
        Ok(Some(pid)) if std::path::Path::new(&format!("/proc/{pid}")).exists() => {
            Some(Check::new(
                "journal",
                Status::Info,
                format!("a kernels run (pid {pid}) is in progress"),
            ))
        }
        Ok(Some(pid)) => Some(Check::new(
            "journal",
            Status::Warning,
            format!(
                "a kernels run (pid {pid}) stopped before it finished; the next command that \
                 changes something rolls it back"
            ),
        )),
        Err(e) => Some(Check::new(
            "journal",
            Status::Problem,
            format!(
                "{}; delete it once you have checked what it names",
                boot::error_chain(&e)
            ),
        )),
    }
}

fn mark(ctx: &Ctx, status: Status) -> String {
    let style = match status {
        Status::Ok => Style::Good,
        Status::Info => Style::Dim,
        Status::Warning => Style::Warn,
        Status::Problem => Style::Bad,
    };
    ctx.out.paint(style, status.mark())
}

fn render_check(ctx: &Ctx, check: &Check) {
    if check.status == Status::Info && ctx.out.verbose == 0 && check.check != "protected" {
        return;
    }
    ctx.out
        .line(&format!("  {} {}", mark(ctx, check.status), check.message));
    let limit = if ctx.out.verbose > 0 { usize::MAX } else { 8 };
    let skipped = check.details.len().saturating_sub(limit);
    for d in check.details.iter().skip(skipped) {
        ctx.out
            .line(&format!("      {}", ctx.out.paint(Style::Dim, d)));
    }
}

fn render_kernel(ctx: &Ctx, k: &KernelReport) {
    let head = format!(
        "{} {}  {}  [{}]",
        mark(ctx, k.status().max(Status::Ok)),
        ctx.out.paint(Style::Bold, &k.name),
        ctx.show_path(&k.resource_dir),
        k.scope
    );
    ctx.out.line(&head);
    for c in &k.checks {
        render_check(ctx, c);
    }
}

fn render(ctx: &Ctx, report: &DoctorReport, booted: bool) {
    if report.kernels.is_empty() {
        ctx.out.line("No kernels found on Jupyter's search path.");
    }
    for k in &report.kernels {
        render_kernel(ctx, k);
    }
    let shown: Vec<_> = report
        .protected
        .iter()
        .filter(|p| p.present || p.entry.required || ctx.out.verbose > 0)
        .collect();
    if !report.protected.is_empty() {
        ctx.out.line("");
        ctx.out.line(&ctx.out.paint(Style::Bold, "Protected:"));
        for p in &shown {
            ctx.out
                .line(&format!("  {} {}", mark(ctx, p.status), p.message));
        }
    }
    let absent = report.protected.len() - shown.len();
    if absent > 0 {
        ctx.out.line(&format!(
            "  {} {absent} protected name{} not present here (not required; -v lists them)",
            mark(ctx, Status::Info),
            if absent == 1 { " is" } else { "s are" }
        ));
    }
    if !report.machine.is_empty() {
        ctx.out.line("");
        ctx.out.line(&ctx.out.paint(Style::Bold, "Machine:"));
        for c in &report.machine {
            render_check(ctx, c);
        }
    }
    let problems = report.problems();
    let warnings = report.warnings();
    ctx.out.line("");
    let summary = format!(
        "{} kernel{} checked{}: {problems} problem{}, {warnings} warning{}",
        report.kernels.len(),
        if report.kernels.len() == 1 { "" } else { "s" },
        if booted { " and booted" } else { "" },
        if problems == 1 { "" } else { "s" },
        if warnings == 1 { "" } else { "s" },
    );
    let style = if problems > 0 {
        Style::Bad
    } else {
        Style::Good
    };
    ctx.out.line(&ctx.out.paint(style, &summary));
}
