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
use kernels::policy::{Addition, Policy, PolicyPaths, Refusal, Source, Target};
use kernels::removal::{execute_removal, KernelRemoval, RemovalContext, RemovalPlan, RemovalStep};
use kernels::{KernelPlan, LockConfig, Plan, Snapshot, Step};
use kernelspec::JupyterPaths;
use serde_json::{json, Value};

use super::protect::{self, RollbackNote};
use super::{document, failures, prompt, render_plan, run_lock, Ctx};
use crate::exit::{Code, Failure};
use crate::output::{json_path, table};

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
    let _lock = if changing {
        Some(run_lock::take_lock_at(ctx, &lock_cfg)?)
    } else {
        None
    };

    let snapshot = Snapshot::take(&requests, target.host.clone(), target.paths.clone());
    let plan = kernels::plan(&requests, &snapshot).map_err(failures::plan_failure)?;
    let policy = plan.check_policy(&snapshot);
    let prune = if args.prune {
        declarative::prune_candidates(&file, &identity, &snapshot.discovery, &snapshot.policy)
    } else {
        Vec::new()
    };
    let work = Work::new(&file, &plan, &snapshot.policy, prune);
    let shown = Shown {
        file: &file,
        target: &target,
        args,
        started,
    };
    if args.check || args.dry_run {
        return preview(ctx, &plan, policy, &work, &shown);
    }
    let warnings = policy.map_err(|r| failures::refusal_failure(&r))?;
    converge(ctx, &plan, &snapshot, &warnings, &work, &shown)
}

/// Everything apply would change beyond the plan: prune steps, protection, and the rows.
struct Work<'d> {
    prune: Vec<PruneCandidate<'d>>,
    /// The prune candidates the policy allows, as a removal plan.
    removal: RemovalPlan,
    protect: Vec<Addition>,
    rows: Vec<Row>,
    converged: bool,
}

impl<'d> Work<'d> {
    fn new(
        file: &KernelsFile,
        plan: &Plan,
        policy: &Policy,
        prune: Vec<PruneCandidate<'d>>,
    ) -> Work<'d> {
        let protect = pending_protection(file, plan, policy);
        let rows = rows(plan, &protect, &prune);
        let removal = RemovalPlan::new(
            prune
                .iter()
                .filter(|c| c.verdict.is_ok())
                .map(|c| KernelRemoval {
                    name: c.kernel.name.clone(),
                    dir: c.kernel.resource_dir.clone(),
                    scope: c.kernel.scope.as_str(),
                    env: None,
                })
                .collect(),
            Vec::new(),
        );
        let converged = plan.is_noop() && protect.is_empty() && removal.is_empty();
        Work {
            prune,
            removal,
            protect,
            rows,
            converged,
        }
    }
}

/// What the summary and the JSON document say about the run besides the plan.
struct Shown<'a> {
    file: &'a KernelsFile,
    target: &'a Machine,
    args: &'a ApplyArgs,
    started: Instant,
}

/// `--check` and `--dry-run`: the rows (or the document), and the exit code.
fn preview(
    ctx: &Ctx,
    plan: &Plan,
    policy: Result<Vec<kernels::PlanWarning>, Refusal>,
    work: &Work<'_>,
    shown: &Shown<'_>,
) -> anyhow::Result<Code> {
    let args = shown.args;
    let warnings = policy.clone().unwrap_or_default();
    let refused = policy.err().map(|r| failures::refusal_failure(&r));
    if ctx.out.json {
        let mut doc = document::document(plan, &warnings, None, args.dry_run);
        extend(&mut doc, work, shown);
        if let Some(failure) = &refused {
            // One document: the plan, and why it would be refused.
            document::mark_failed(&mut doc, failure);
            ctx.out.json_doc(&doc);
            ctx.out.error(&failure.cause, failure.hint.as_deref());
            return Ok(failure.code);
        }
        ctx.out.json_doc(&doc);
    } else {
        render_plan::print_warnings(ctx, &warnings, plan);
        print_rows(ctx, &work.rows);
        if args.dry_run && ctx.out.verbose > 0 {
            render_plan::print_plan(ctx, plan);
        }
        warn_refused_prunes(ctx, &work.prune);
    }
    if let Some(failure) = refused {
        return Err(failure.into());
    }
    if !args.check {
        ctx.out.status("Dry run: nothing was changed.");
        return Ok(Code::Ok);
    }
    let (n, changes) = (kernel_rows(&work.rows), changes(&work.rows));
    if work.converged {
        ctx.out.status(&format!(
            "{}: the machine matches the file ({n} kernel{}).",
            args.file.display(),
            plural(n)
        ));
        return Ok(Code::Ok);
    }
    ctx.out.status(&format!(
        "{}: {changes} change{} needed (run `kernels apply {}`).",
        args.file.display(),
        plural(changes),
        args.file.display()
    ));
    Ok(Code::Problems)
}

/// The run itself: the plan (journaled, rolled back on failure), then the prune steps
/// (journaled, rolled back on failure), then the protection; one document or table.
fn converge(
    ctx: &Ctx,
    plan: &Plan,
    snapshot: &Snapshot,
    warnings: &[kernels::PlanWarning],
    work: &Work<'_>,
    shown: &Shown<'_>,
) -> anyhow::Result<Code> {
    let args = shown.args;
    render_plan::print_warnings(ctx, warnings, plan);
    prompt::confirm_foreign_replacements(ctx, plan)?;
    let result = {
        // The progress printer (and its spinner line) ends with the steps.
        let progress = render_plan::StepPrinter::new(ctx).explain(plan);
        kernels::execute(plan, snapshot, &ctx.cancel, &progress)
    };
    let outcome = result.map_err(failures::execute_failure)?;

    let mut failure = prune(ctx, &work.removal, &shown.target.host, &args.file).err();
    warn_refused_prunes(ctx, &work.prune);
    // Run as the user for root's `--for-user`: root records the protection afterwards.
    let delegated = args.stdin_as.is_some();
    if failure.is_none() && !work.protect.is_empty() && !delegated {
        failure = record_protection(ctx, &shown.target.host, &work.protect).err();
    }

    // The plan ran; a prune or protection step that failed afterwards (and was rolled back)
    // is reported in the same single document (and on stderr), with exit 1.
    if ctx.out.json {
        let mut doc = document::document(plan, warnings, Some(&outcome), false);
        extend(&mut doc, work, shown);
        let pruned: Vec<Value> = match failure {
            None => work
                .removal
                .kernels()
                .map(|k| json!({"name": k.name, "resource_dir": json_path(&k.dir)}))
                .collect(),
            Some(_) => Vec::new(),
        };
        if let Some(obj) = doc.as_object_mut() {
            obj.insert("pruned".into(), json!(pruned));
        }
        if let Some(f) = &failure {
            document::mark_failed(&mut doc, f);
        }
        ctx.out.json_doc(&doc);
        if let Some(f) = failure {
            // The document carries the error; stderr says it once more, for people.
            ctx.out.error(&f.cause, f.hint.as_deref());
            return Ok(f.code);
        }
    } else {
        print_rows(ctx, &work.rows);
    }
    if let Some(f) = failure {
        return Err(f.into());
    }
    let (n, changes) = (kernel_rows(&work.rows), changes(&work.rows));
    ctx.out.status(&format!(
        "Applied {}: {n} kernel{}, {changes} change{} ({}).",
        args.file.display(),
        plural(n),
        plural(changes),
        crate::progress::duration(shown.started.elapsed())
    ));
    Ok(Code::Ok)
}

/// Removes the kernels `--prune` selected, through the journal: all of them, or (on a
/// failure) none.
fn prune(
    ctx: &Ctx,
    removal: &RemovalPlan,
    host: &envs::HostEnv,
    file: &Path,
) -> Result<(), Failure> {
    if removal.is_empty() {
        return Ok(());
    }
    // Kernelspecs only: no environment is deleted, so no tool is needed.
    let tools = envs::Tools::default();
    let rctx = RemovalContext::new(host, &tools, &ctx.cancel);
    execute_removal(removal, &rctx, &mut |step| {
        if let RemovalStep::RemoveKernel(k) = step {
            ctx.out.step(&format!(
                "• removed kernel `{}` ({}), no longer in {}",
                k.name,
                ctx.show_path(&k.dir),
                file.display()
            ));
        }
    })
    .map_err(|e| failures::removal_failure(e, &|p| ctx.show_path(p)))
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
    // Root's own run lock (the child held the user's): the admin policy is a
    // read-modify-write with a journal in root's state directory, and another root run must
    // neither interleave with it nor take its live journal for a dead run's.
    let _lock = run_lock::take_lock(ctx)?;
    let paths = JupyterPaths::new(&for_user::paths_input_for(&host));
    let requests = file.requests(&paths.system_kernel_dir(), &identity);
    let snapshot = Snapshot::take(&requests, host.clone(), paths);
    let plan = kernels::plan(&requests, &snapshot).map_err(failures::plan_failure)?;
    let protect = pending_protection(&file, &plan, &snapshot.policy);
    if !protect.is_empty() {
        record_protection(ctx, ctx.host(), &protect)?;
    }
    Ok(Code::Ok)
}

/// Records `protect = true` additions (see [`write_protection`]) and says so.
fn record_protection(ctx: &Ctx, host: &envs::HostEnv, protect: &[Addition]) -> Result<(), Failure> {
    let path = write_protection(ctx, host, protect)?;
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
            Target::EnvPath(k.env.prefix.to_path_buf()),
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

/// The policy file `protect = true` entries go to: the administrator's when running as root
/// (or for root's `--for-user`, which records them itself), else the user's.
fn protection_file(host: &envs::HostEnv, as_root: bool) -> Result<(PathBuf, Source), Failure> {
    let paths = PolicyPaths::from_host(host);
    if as_root {
        return Ok((paths.system.clone(), Source::System(paths.system)));
    }
    let user = paths.user.ok_or_else(|| {
        Failure::failed("cannot record protection: no home directory for the user policy")
    })?;
    Ok((user.clone(), Source::User(user)))
}

/// Writes the additions to [`protection_file`] as a journaled step (see
/// [`protect::write_journaled`]): on a failure the file is left as it was and the kernels the
/// plan made stay (see docs/crash-safety.md); returns the file.
fn write_protection(
    ctx: &Ctx,
    host: &envs::HostEnv,
    additions: &[Addition],
) -> Result<PathBuf, Failure> {
    let (file, source) = protection_file(host, kernelspec::running_as_root())?;
    let shown = ctx.show_path(&file);
    protect::write_journaled(host, &file, &source, additions).map_err(|b| {
        let (e, rollback) = *b;
        Failure::failed(format!(
            "the kernels were applied, but recording their protection failed: {}",
            boot::error_chain(&e)
        ))
        .note(&rollback, &shown)
        .hint(format!(
            "the kernels stay, unprotected; make {shown} writable and run the same apply again"
        ))
    })?;
    Ok(file)
}

/// What apply does to one kernel: a row of the table and of `kernels` in `--json`, rendered
/// by its [`Display`](std::fmt::Display) alone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Action {
    /// A kernel the file lists: what its plan does, and whether it becomes protected.
    Listed {
        /// A new environment is made (the kernelspec with it).
        create: bool,
        /// Packages go into the existing environment.
        install: bool,
        /// The kernelspec is written: `Some(true)` replacing one, `Some(false)` new.
        write: Option<bool>,
        /// `protect = true` is recorded in the policy.
        protect: bool,
    },
    /// A kernel this file made and no longer lists, removed by `--prune`.
    Prune,
    /// Such a kernel kept because the policy protects it.
    KeepProtected,
}

impl Action {
    fn of(k: &KernelPlan, protect: bool) -> Action {
        let has = |f: fn(&Step) -> bool| k.steps.iter().any(f);
        Action::Listed {
            create: has(|s| matches!(s, Step::CreateEnv(_))),
            install: has(|s| matches!(s, Step::InstallPackages(_))),
            write: k.write_step().map(|_| k.replaces.is_some()),
            protect,
        }
    }

    /// True when the row is a change (`--check` counts these).
    fn is_change(self) -> bool {
        match self {
            Action::Listed {
                create,
                install,
                write,
                protect,
            } => create || install || write.is_some() || protect,
            Action::Prune => true,
            Action::KeepProtected => false,
        }
    }
}

impl std::fmt::Display for Action {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let (create, install, write, protect) = match *self {
            Action::Prune => return f.write_str("prune"),
            Action::KeepProtected => return f.write_str("keep (protected)"),
            Action::Listed {
                create,
                install,
                write,
                protect,
            } => (create, install, write, protect),
        };
        let mut parts: Vec<&str> = Vec::new();
        if create {
            parts.push("create");
        } else {
            if install {
                parts.push("install");
            }
            match write {
                Some(true) => parts.push("update"),
                Some(false) => parts.push("register"),
                None => {}
            }
        }
        if protect {
            parts.push("protect");
        }
        if parts.is_empty() {
            f.write_str("unchanged")
        } else {
            f.write_str(&parts.join("+"))
        }
    }
}

/// One row of the summary table.
struct Row {
    name: String,
    action: Action,
    display_name: String,
    env: Option<PathBuf>,
    kernel_dir: PathBuf,
}

impl Row {
    /// A kernel the file lists (not a prune candidate).
    fn is_listed(&self) -> bool {
        matches!(self.action, Action::Listed { .. })
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
                action: Action::of(k, protects),
                display_name: k.display_name.clone(),
                env: Some(k.env.prefix.to_path_buf()),
                kernel_dir: k.kernel_dir.clone(),
            }
        })
        .collect();
    for c in prune {
        out.push(Row {
            name: c.kernel.name.clone(),
            action: if c.verdict.is_ok() {
                Action::Prune
            } else {
                Action::KeepProtected
            },
            display_name: c
                .kernel
                .spec
                .as_ref()
                .map(|s| s.display_name.clone())
                .unwrap_or_default(),
            env: None,
            kernel_dir: c.kernel.resource_dir.clone(),
        });
    }
    out
}

fn kernel_rows(rows: &[Row]) -> usize {
    rows.iter().filter(|r| r.is_listed()).count()
}

fn changes(rows: &[Row]) -> usize {
    rows.iter().filter(|r| r.action.is_change()).count()
}

fn print_rows(ctx: &Ctx, rows: &[Row]) {
    let cells: Vec<Vec<String>> = rows
        .iter()
        .map(|r| {
            vec![
                r.name.clone(),
                r.action.to_string(),
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

/// Root's `--for-user USER` hands the run over to USER before anything else: shown as the
/// first step of the run (empty when the run is not handed over).
fn handover_steps(shown: &Shown<'_>) -> Vec<Value> {
    match (&shown.target.user, &shown.args.stdin_as) {
        (Some(u), Some(_)) => vec![json!({
            "step": "run_as_user",
            "user": u.name,
            "uid": u.uid,
            "gid": u.gid,
            "home": json_path(&u.home),
            "as_user": true,
            // What root itself does after USER's run succeeded.
            "then_as_root": "record protect = true entries in the administrator's policy",
        })],
        _ => Vec::new(),
    }
}

/// Adds apply's own keys to the shared `--json` document.
fn extend(doc: &mut Value, work: &Work<'_>, shown: &Shown<'_>) {
    let Some(obj) = doc.as_object_mut() else {
        return;
    };
    let kernels: Vec<Value> = work
        .rows
        .iter()
        .map(|r| {
            json!({
                "name": r.name,
                "action": r.action.to_string(),
                "display_name": r.display_name,
                "env": r.env,
                "kernel_dir": r.kernel_dir,
                "listed": r.is_listed(),
            })
        })
        .collect();
    obj.insert("file".into(), json!(shown.file.path));
    obj.insert("check".into(), json!(shown.args.check));
    obj.insert("converged".into(), json!(work.converged));
    obj.insert("kernels".into(), json!(kernels));
    // The prune steps, as they run (journaled, after the plan), then the policy entries
    // `protect = true` records.
    obj.insert("prune_steps".into(), json!(work.removal.steps));
    // Root's `--for-user` run records them itself, in the administrator's file.
    let as_root = kernelspec::running_as_root() || shown.args.stdin_as.is_some();
    let policy_file = protection_file(&shown.target.host, as_root)
        .ok()
        .map(|(f, _)| f.to_string_lossy().into_owned());
    let protect: Vec<Value> = work
        .protect
        .iter()
        .map(|a| {
            let (kind, value) = super::policy::target_parts(&a.target);
            json!({"step": "protect", "kind": kind, "value": value, "required": a.required,
                   "file": policy_file, "journaled": true})
        })
        .collect();
    obj.insert("protect_steps".into(), json!(protect));
    obj.insert("handover_steps".into(), json!(handover_steps(shown)));
    obj.insert(
        "for_user".into(),
        match &shown.target.user {
            Some(u) => json!(u),
            None => Value::Null,
        },
    );
    obj.insert(
        "seconds".into(),
        json!(shown.started.elapsed().as_secs_f64()),
    );
}
