//! `kernels apply FILE`: converge the machine to a declarative kernels.toml.
//!
//! The file becomes one request per kernel and ONE plan, made, checked and executed by the
//! same core as `kernels add` (snapshot → plan → policy check → locked execution with a
//! journal and rollback). On top of the plan, apply knows two things `add` does not:
//!
//! * `--prune`: kernelspecs made by applying this same file (`metadata.kernels.source` is
//!   `apply` and `apply_file` is this file's canonical path) whose names the file no longer
//!   lists are removed after the plan ran. Protected ones are reported and kept; kernels made
//!   by `kernels add`, by another file or by anything else are never candidates. Their
//!   environments stay.
//! * `protect = true`: the kernel and its environment are recorded as required in the
//!   protection policy — the administrator's file when run as root (the image-build case),
//!   else the user's own — when they are not already.
//!
//! `--check` changes nothing and exits 4 when anything (plan, prune, protection) would
//! change, 0 when the machine matches. `--for-user USER` (root only) reads and checks the
//! file as root, then runs the whole apply again *as USER* (uid, gid, groups, a clean
//! environment; the file's text on stdin), so everything it writes in USER's home is USER's
//! and made with USER's permissions; root itself only records `protect = true` entries in the
//! administrator's policy afterwards (see `kernels::for_user`).
//!
//! Output: a table on stdout, one row per kernel (`create`, `install`, `register`, `update`,
//! `unchanged`, `protect`, `prune`), or one JSON document with the plan, the outcome and
//! those rows.

use std::path::{Path, PathBuf};
use std::time::Instant;

use clap::Args;
use kernels::declarative::{self, KernelsFile, PruneCandidate, ReadError};
use kernels::for_user::{self, ForUserError, UserAccount};
use kernels::policy::{Addition, Policy, PolicyPaths, Source, Target};
use kernels::{KernelPlan, LockConfig, Plan, Snapshot, Step};
use kernelspec::JupyterPaths;
use serde_json::{json, Value};

use super::render_plan;
use super::Ctx;
use crate::exit::{Code, Failure};
use crate::output::table;

/// Arguments of `kernels apply`.
#[derive(Debug, Args)]
#[command(after_help = "Examples:
  kernels apply kernels.toml             make this machine match the file
  kernels apply kernels.toml --check     exit 4 when anything would change
  kernels apply kernels.toml --dry-run   the plan, changing nothing
  sudo kernels apply kernels.toml --for-user azureuser   from a root startup script

Exit codes: 0 converged (or --check: nothing would change), 1 failed \
                        (this run's changes were rolled back), 2 invalid file or arguments, \
                        3 refused by the protection policy, 4 --check: something would change, \
                        5 busy. The file format: docs/reference/kernels-toml.md.")]
pub struct ApplyArgs {
    /// The kernels.toml file.
    pub file: PathBuf,
    /// Print the plan (create / install / register / unchanged) and change nothing.
    #[arg(long, conflicts_with = "check")]
    pub dry_run: bool,
    /// Change nothing; exit 4 if anything would change, 0 if the machine matches the file.
    #[arg(long)]
    pub check: bool,
    /// Also remove kernels this file created earlier and no longer lists (never protected
    /// ones, never kernels made otherwise; their environments stay).
    #[arg(long)]
    pub prune: bool,
    /// Run as root but install into USER's home, owned by USER (no `sudo -u USER -i` needed).
    #[arg(long, value_name = "USER")]
    pub for_user: Option<String>,
    /// Internal (`--for-user`): read the file's text from stdin, as the file at this
    /// (canonical) path.
    #[arg(long, hide = true, value_name = "PATH")]
    pub stdin_as: Option<PathBuf>,
}

/// Whose machine the run works on: the invoking user's, or USER's with `--for-user`.
struct Machine {
    host: envs::HostEnv,
    paths: JupyterPaths,
    user: Option<UserAccount>,
}

/// Runs `kernels apply`.
pub fn run(ctx: &Ctx, args: &ApplyArgs) -> anyhow::Result<Code> {
    let started = Instant::now();
    if args.for_user.is_some() && args.stdin_as.is_none() && kernelspec::running_as_root() {
        return run_for_user(ctx, args);
    }
    let target = target(ctx, args)?;
    let (file, identity) = read_file(args, target.host.home.as_deref())?;
    let requests = file.requests(&target.paths.system_kernel_dir(), &identity);

    // The lock comes before the machine is read, so the plan cannot go stale under another
    // run. Read-only modes take none.
    let changing = !args.dry_run && !args.check;
    let lock_cfg = LockConfig::from_host(&target.host);
    // Run as the user for root's `--for-user`: root records the protection afterwards.
    let delegated = args.stdin_as.is_some();
    let _lock = if changing {
        Some(render_plan::take_lock_at(ctx, &lock_cfg)?)
    } else {
        None
    };

    let snapshot = Snapshot::take(&requests, target.host.clone(), target.paths.clone());
    let plan = kernels::plan(&requests, &snapshot).map_err(render_plan::plan_failure)?;
    let policy = plan.check_policy(&snapshot);
    let prune = if args.prune {
        declarative::prune_candidates(&file, &identity, &snapshot.discovery, &snapshot.policy)
    } else {
        Vec::new()
    };
    let protect = pending_protection(&file, &plan, &snapshot.policy);
    let rows = rows(&plan, &protect, &prune);
    let converged =
        plan.is_noop() && protect.is_empty() && prune.iter().all(|c| c.verdict.is_err());

    if args.check || args.dry_run {
        let warnings = policy.clone().unwrap_or_default();
        if ctx.out.json {
            let mut doc = render_plan::document(&plan, &warnings, None, args.dry_run);
            extend(&mut doc, &file, &rows, &target, args, converged, started);
            if let Err(refusal) = &policy {
                // One document: the plan, and why it would be refused.
                let failure = render_plan::refusal_failure(refusal.clone());
                mark_failed(&mut doc, &failure);
                ctx.out.json_doc(&doc);
                ctx.out.error(&failure.cause, failure.hint.as_deref());
                return Ok(failure.code);
            }
            ctx.out.json_doc(&doc);
        } else {
            render_plan::print_warnings(ctx, &warnings, &plan);
            print_rows(ctx, &rows);
            if args.dry_run && ctx.out.verbose > 0 {
                render_plan::print_plan(ctx, &plan);
            }
            warn_refused_prunes(ctx, &prune);
        }
        if let Err(refusal) = policy {
            return Err(render_plan::refusal_failure(refusal).into());
        }
        if args.check {
            if converged {
                ctx.out.status(&format!(
                    "{}: the machine matches the file ({} kernel{}).",
                    args.file.display(),
                    rows_of_kernels(&rows),
                    plural(rows_of_kernels(&rows))
                ));
                return Ok(Code::Ok);
            }
            ctx.out.status(&format!(
                "{}: {} change{} needed (run `kernels apply {}`).",
                args.file.display(),
                changes(&rows),
                plural(changes(&rows)),
                args.file.display()
            ));
            return Ok(Code::Problems);
        }
        ctx.out.status("Dry run: nothing was changed.");
        return Ok(Code::Ok);
    }

    let warnings = policy.map_err(render_plan::refusal_failure)?;
    render_plan::print_warnings(ctx, &warnings, &plan);
    render_plan::confirm_foreign_replacements(ctx, &plan)?;
    let result = {
        // The progress printer (and its spinner line) ends with the steps.
        let progress = render_plan::StepPrinter::new(ctx).explain(&plan);
        kernels::execute(&plan, &snapshot, &ctx.cancel, &progress)
    };
    let outcome = result.map_err(render_plan::execute_failure)?;

    let mut failures: Vec<String> = Vec::new();
    let mut pruned: Vec<Value> = Vec::new();
    for c in &prune {
        let dir = &c.kernel.resource_dir;
        match &c.verdict {
            Err(_) => {}
            Ok(()) => match kernelspec::remove(dir) {
                Ok(_) => {
                    ctx.out.step(&format!(
                        "• removed kernel `{}` ({}), no longer in {}",
                        c.kernel.name,
                        ctx.show_path(dir),
                        args.file.display()
                    ));
                    pruned.push(json!({"name": c.kernel.name, "resource_dir": dir}));
                }
                Err(e) => failures.push(format!(
                    "pruning kernel `{}`: {}",
                    c.kernel.name,
                    boot::error_chain(&e)
                )),
            },
        }
    }
    warn_refused_prunes(ctx, &prune);

    if !protect.is_empty() && !delegated {
        if let Err(f) = record_protection(ctx, &target.host, &protect) {
            failures.push(f.one_line());
        }
    }

    // The plan ran; a prune or protection step that failed afterwards is reported in the
    // same single document (and on stderr), with exit 1.
    let failure = (!failures.is_empty()).then(|| Failure::failed(failures.join("\n")));
    if ctx.out.json {
        let mut doc = render_plan::document(&plan, &warnings, Some(&outcome), false);
        extend(&mut doc, &file, &rows, &target, args, converged, started);
        if let Some(obj) = doc.as_object_mut() {
            obj.insert("pruned".into(), json!(pruned));
        }
        if let Some(f) = &failure {
            mark_failed(&mut doc, f);
        }
        ctx.out.json_doc(&doc);
    } else {
        print_rows(ctx, &rows);
    }
    if let Some(f) = failure {
        ctx.out.error(&f.cause, f.hint.as_deref());
        return Ok(f.code);
    }
    let n = rows_of_kernels(&rows);
    ctx.out.status(&format!(
        "Applied {}: {} kernel{}, {} change{} ({} ms).",
        args.file.display(),
        n,
        plural(n),
        changes(&rows),
        plural(changes(&rows)),
        started.elapsed().as_millis()
    ));
    Ok(Code::Ok)
}

fn plural(n: usize) -> &'static str {
    if n == 1 {
        ""
    } else {
        "s"
    }
}

fn target(ctx: &Ctx, args: &ApplyArgs) -> Result<Machine, Failure> {
    let this = || Machine {
        host: ctx.host().clone(),
        paths: ctx.paths().clone(),
        user: None,
    };
    let Some(name) = &args.for_user else {
        return Ok(this());
    };
    // Here only as USER, started by root's `--for-user` (or a user naming themselves).
    let user = find_user(ctx, name)?;
    let me = for_user::effective_uid();
    if me != user.uid && !kernelspec::running_as_root() {
        return Err(
            Failure::usage(ForUserError::NotRoot { uid: me }.to_string()).hint(
                "run it as root (a setup script), or leave --for-user out to apply for yourself",
            ),
        );
    }
    Ok(Machine {
        user: Some(user),
        ..this()
    })
}

/// Resolves `--for-user USER` and checks the home exists (usage errors otherwise).
fn find_user(ctx: &Ctx, name: &str) -> Result<UserAccount, Failure> {
    let user = for_user::find_user(name, ctx.host(), &ctx.cancel).map_err(|e| match e {
        ForUserError::NoSuchUser { .. } | ForUserError::NoHome { .. } => {
            Failure::usage(e.to_string())
        }
        other => Failure::failed(boot::error_chain(&other)),
    })?;
    if !user.home.is_dir() {
        return Err(Failure::usage(format!(
            "the home directory of {} ({}) does not exist",
            user.name,
            user.home.display()
        ))
        .hint("create it first (for example `useradd --create-home` or `mkhomedir_helper USER`)"));
    }
    Ok(user)
}

/// The file and its identity: from `args.file`, or (as USER under `--for-user`) its text from
/// stdin as the file at `--stdin-as`.
fn read_file(args: &ApplyArgs, home: Option<&Path>) -> Result<(KernelsFile, PathBuf), Failure> {
    let Some(shown) = &args.stdin_as else {
        let file = declarative::parse_file(&args.file, home).map_err(read_failure)?;
        let identity = declarative::file_identity(&args.file)
            .map_err(|e| Failure::usage(format!("resolving {}: {e}", args.file.display())))?;
        return Ok((file, identity));
    };
    let mut bytes = Vec::new();
    std::io::Read::read_to_end(
        &mut std::io::Read::take(std::io::stdin(), declarative::MAX_FILE_BYTES + 1),
        &mut bytes,
    )
    .map_err(|e| Failure::failed(format!("reading {} from stdin: {e}", shown.display())))?;
    let text = String::from_utf8(bytes)
        .map_err(|_| Failure::usage(format!("{} is not UTF-8 text", shown.display())))?;
    let file = declarative::parse_str(&text, shown, home)
        .map_err(|e| read_failure(ReadError::Invalid(e)))?;
    Ok((file, shown.clone()))
}

/// Root's `--for-user USER`: check the file as root, run the apply as USER (see the module
/// docs), then record `protect = true` entries in the administrator's policy.
fn run_for_user(ctx: &Ctx, args: &ApplyArgs) -> anyhow::Result<Code> {
    use std::os::unix::process::CommandExt;
    let name = args.for_user.as_deref().unwrap_or_default();
    let user = find_user(ctx, name)?;
    let host = for_user::host_for(&user, ctx.host());
    // Read and check as root (the user may not be able to read it); the user gets the text.
    let file = declarative::parse_file(&args.file, Some(&user.home)).map_err(read_failure)?;
    let bytes = kernelspec::bounded::read_regular(&args.file, declarative::MAX_FILE_BYTES)
        .map_err(|e| Failure::usage(e.to_string()))?;
    let identity = declarative::file_identity(&args.file)
        .map_err(|e| Failure::usage(format!("resolving {}: {e}", args.file.display())))?;
    let exe = std::env::current_exe()
        .map_err(|e| Failure::failed(format!("finding the kernels binary: {e}")))?;
    let mut cmd = std::process::Command::new(exe);
    cmd.args(std::env::args_os().skip(1))
        .arg("--stdin-as")
        .arg(&identity)
        .env_clear()
        .envs(&host.vars)
        .current_dir(&user.home)
        .stdin(std::process::Stdio::piped())
        .process_group(0);
    ctx.out.detail(&format!(
        "applying as {} (uid {}, gid {}, home {})",
        user.name,
        user.uid,
        user.gid,
        user.home.display()
    ));
    let mut child = for_user::spawn_as(&user, &for_user::groups_of(&user), cmd)
        .map_err(|e| Failure::failed(format!("starting kernels as {}: {e}", user.name)))?;
    if let Some(mut stdin) = child.stdin.take() {
        // A child that exits early (a usage error) closes the pipe; its exit code says why.
        let _ = std::io::Write::write_all(&mut stdin, &bytes);
    }
    let status = for_user::wait_forwarding(&mut child, &ctx.cancel)
        .map_err(|e| Failure::failed(format!("waiting for the run as {}: {e}", user.name)))?;
    let code = match status.code() {
        Some(0) => Code::Ok,
        Some(2) => Code::Usage,
        Some(3) => Code::Refused,
        Some(4) => Code::Problems,
        Some(5) => Code::Busy,
        Some(130) => Code::Interrupted,
        _ if ctx.cancel.is_cancelled() => Code::Interrupted,
        _ => Code::Failed,
    };
    if code != Code::Ok || args.dry_run || args.check || !file.kernels.iter().any(|k| k.protect) {
        return Ok(code);
    }
    let paths = JupyterPaths::new(&for_user::paths_input_for(&host));
    let requests = file.requests(&paths.system_kernel_dir(), &identity);
    let snapshot = Snapshot::take(&requests, host.clone(), paths);
    let plan = kernels::plan(&requests, &snapshot).map_err(render_plan::plan_failure)?;
    let protect = pending_protection(&file, &plan, &snapshot.policy);
    if !protect.is_empty() {
        record_protection(ctx, ctx.host(), &protect)?;
    }
    Ok(Code::Ok)
}

/// Records `protect = true` additions (see [`write_protection`]) and says so.
fn record_protection(ctx: &Ctx, host: &envs::HostEnv, protect: &[Addition]) -> Result<(), Failure> {
    let path = write_protection(host, protect)?;
    ctx.out.step(&format!(
        "• protected {} in {}",
        protect
            .iter()
            .map(|a| a.target.to_string())
            .collect::<Vec<_>>()
            .join(", "),
        ctx.show_path(&path)
    ));
    Ok(())
}

/// A file that cannot be read or is invalid: exit 2, every problem on its own line.
fn read_failure(err: ReadError) -> Failure {
    match err {
        ReadError::Invalid(errors) => {
            let n = errors.errors.len();
            Failure::usage(format!(
                "{} has {} problem{}; nothing was changed:\n{errors}",
                errors.path.display(),
                n,
                plural(n)
            ))
            .hint("the format is described in docs/reference/kernels-toml.md")
        }
        other => Failure::usage(boot::error_chain(&other)),
    }
}

/// `protect = true` entries the policy does not already hold as required.
fn pending_protection(file: &KernelsFile, plan: &Plan, policy: &Policy) -> Vec<Addition> {
    let mut out = Vec::new();
    for (entry, k) in file.kernels.iter().zip(&plan.kernels) {
        if !entry.protect {
            continue;
        }
        let has = |want: &Target| {
            policy.entries().iter().any(|e| {
                e.required
                    && match (&e.target, want) {
                        (Target::EnvPath(a), Target::EnvPath(b)) => same_dir(a, b),
                        (a, b) => a == b,
                    }
            })
        };
        for t in [
            Target::Kernel(k.name.to_string()),
            Target::EnvPath(k.env.prefix.clone()),
        ] {
            if !has(&t) {
                out.push(Addition {
                    target: t,
                    required: true,
                });
            }
        }
    }
    out
}

fn same_dir(a: &Path, b: &Path) -> bool {
    a == b
        || matches!(
            (std::fs::canonicalize(a), std::fs::canonicalize(b)),
            (Ok(x), Ok(y)) if x == y
        )
}

/// Writes the additions to the administrator's policy file when running as root, else to
/// the user's; returns the file.
fn write_protection(host: &envs::HostEnv, additions: &[Addition]) -> Result<PathBuf, Failure> {
    let paths = PolicyPaths::from_host(host);
    let (file, source) = if kernelspec::running_as_root() {
        (paths.system.clone(), Source::System(paths.system.clone()))
    } else {
        let user = paths.user.clone().ok_or_else(|| {
            Failure::failed("cannot record protection: no home directory for the user policy")
        })?;
        (user.clone(), Source::User(user))
    };
    kernels::policy::write_additions(&file, &source, additions)
        .map_err(|e| Failure::failed(format!("recording protection: {}", boot::error_chain(&e))))?;
    Ok(file)
}

/// One row of the summary table.
struct Row {
    name: String,
    action: String,
    display_name: String,
    env: Option<PathBuf>,
    kernel_dir: PathBuf,
    is_kernel: bool,
}

fn action_of(k: &KernelPlan, protect: bool) -> String {
    let mut parts: Vec<&str> = Vec::new();
    let creates = k.steps.iter().any(|s| matches!(s, Step::CreateEnv(_)));
    let installs = k
        .steps
        .iter()
        .any(|s| matches!(s, Step::InstallPackages(_)));
    if creates {
        parts.push("create");
    } else {
        if installs {
            parts.push("install");
        }
        if k.write_step().is_some() {
            parts.push(if k.replaces.is_some() {
                "update"
            } else {
                "register"
            });
        }
    }
    if protect {
        parts.push("protect");
    }
    if parts.is_empty() {
        "unchanged".to_string()
    } else {
        parts.join("+")
    }
}

fn rows(plan: &Plan, protect: &[Addition], prune: &[PruneCandidate<'_>]) -> Vec<Row> {
    let mut out: Vec<Row> = plan
        .kernels
        .iter()
        .map(|k| {
            let protects = protect.iter().any(|a| match &a.target {
                Target::Kernel(n) => n == k.name.as_str(),
                Target::EnvPath(p) => p == &k.env.prefix,
                _ => false,
            });
            Row {
                name: k.name.to_string(),
                action: action_of(k, protects),
                display_name: k.display_name.clone(),
                env: Some(k.env.prefix.clone()),
                kernel_dir: k.kernel_dir.clone(),
                is_kernel: true,
            }
        })
        .collect();
    for c in prune {
        out.push(Row {
            name: c.kernel.name.clone(),
            action: if c.verdict.is_ok() {
                "prune".into()
            } else {
                "keep (protected)".into()
            },
            display_name: c
                .kernel
                .spec
                .as_ref()
                .map(|s| s.display_name.clone())
                .unwrap_or_default(),
            env: None,
            kernel_dir: c.kernel.resource_dir.clone(),
            is_kernel: false,
        });
    }
    out
}

fn rows_of_kernels(rows: &[Row]) -> usize {
    rows.iter().filter(|r| r.is_kernel).count()
}

fn changes(rows: &[Row]) -> usize {
    rows.iter()
        .filter(|r| r.action != "unchanged" && !r.action.starts_with("keep"))
        .count()
}

fn print_rows(ctx: &Ctx, rows: &[Row]) {
    let cells: Vec<Vec<String>> = rows
        .iter()
        .map(|r| {
            vec![
                r.name.clone(),
                r.action.clone(),
                r.display_name.clone(),
                r.env
                    .as_deref()
                    .map(|p| ctx.show_path(p))
                    .unwrap_or_else(|| ctx.show_path(&r.kernel_dir)),
            ]
        })
        .collect();
    for line in table(&["KERNEL", "ACTION", "DISPLAY NAME", "ENVIRONMENT"], &cells) {
        ctx.out.line(&line);
    }
}

fn warn_refused_prunes(ctx: &Ctx, prune: &[PruneCandidate<'_>]) {
    for c in prune {
        if let Err(refusal) = &c.verdict {
            ctx.out.warn(&format!(
                "not pruning kernel `{}`: {refusal}",
                c.kernel.name
            ));
        }
    }
}

/// Marks the document as failed, with the error as `main` would have printed it.
fn mark_failed(doc: &mut Value, failure: &Failure) {
    if let Some(obj) = doc.as_object_mut() {
        obj.insert("ok".into(), json!(false));
        obj.insert("exit_code".into(), json!(failure.code.as_u8()));
        obj.insert(
            "error".into(),
            json!({"kind": failure.code.word(), "message": failure.one_line(), "hint": failure.hint}),
        );
    }
}

/// Adds apply's own keys to the shared `--json` document.
fn extend(
    doc: &mut Value,
    file: &KernelsFile,
    rows: &[Row],
    target: &Machine,
    args: &ApplyArgs,
    converged: bool,
    started: Instant,
) {
    let Some(obj) = doc.as_object_mut() else {
        return;
    };
    let kernels: Vec<Value> = rows
        .iter()
        .map(|r| {
            json!({
                "name": r.name,
                "action": r.action,
                "display_name": r.display_name,
                "env": r.env,
                "kernel_dir": r.kernel_dir,
                "listed": r.is_kernel,
            })
        })
        .collect();
    obj.insert("file".into(), json!(file.path));
    obj.insert("check".into(), json!(args.check));
    obj.insert("converged".into(), json!(converged));
    obj.insert("kernels".into(), json!(kernels));
    obj.insert(
        "for_user".into(),
        match &target.user {
            Some(u) => json!(u),
            None => Value::Null,
        },
    );
    obj.insert("seconds".into(), json!(started.elapsed().as_secs_f64()));
}
